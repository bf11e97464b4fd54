"""The main window on the embedded engine with live traffic: badges show how many contacts
wait on a node, a click on a badge lists them; published versions open read-only; a stale
save is refused with a plain message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.backend import DraftConflictError
from engine.demo_setup import ensure_demo_project
from engine.service import WorkspaceService
from tests.desktop.traffic import PEOPLE, start_open_bot


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def window(qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Any]:
    from desktop.main_window import MainWindow

    async def open_service() -> WorkspaceService:
        service = await WorkspaceService.open(str(tmp_path / "ws"))
        await ensure_demo_project(service.workspace)
        return service

    service = loop.run_until_complete(open_service())
    main = MainWindow(service)
    main.errors = []
    main.show_error = main.errors.append
    main.inform = lambda title, message: main.errors.append(f"{title}: {message}")
    main.ask = lambda title, question: False
    qtbot.addWidget(main)
    main.show()
    loop.run_until_complete(main.load())
    yield main
    main.refresh_timer.stop()
    for w in main.version_windows:
        w.close()
    loop.run_until_complete(service.close())


def settle(loop: asyncio.AbstractEventLoop, window: Any) -> None:
    while window.tasks:
        loop.run_until_complete(asyncio.gather(*window.tasks))


def test_badges_show_counts_after_simulated_traffic(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    assert window.draft.document.name == "Разбор по дате рождения"
    loop.run_until_complete(start_open_bot(window.service.workspace, "Демо"))

    loop.run_until_complete(window.refresh_counts())
    counts = loop.run_until_complete(window.service.node_counts("Демо", window.draft.id))
    waiting = [node for node, (now, _entered, _passed) in counts.items() if now]
    assert len(waiting) == 1, counts
    node = waiting[0]
    assert counts[node][0] == len(PEOPLE)
    assert window.editor.badge_text(node) == str(len(PEOPLE))
    waiting_type = next(n.type for n in window.draft.document.nodes if str(n.id) == node)
    assert waiting_type.startswith("wait")

    window.editor.badgeClicked.emit(node)  # what a click on the badge does
    settle(loop, window)
    dialog = window.contacts_dialog
    assert dialog is not None and dialog.isVisible() and dialog.node_id == node
    rows = dialog.rows()
    assert {r[2] for r in rows} == {str(p.user_id) for p in PEOPLE}
    anna = next(r for r in rows if r[2] == "5001")
    assert anna[0] == "Анна Смирнова" and anna[1] == "@anna_s"
    assert next(r for r in rows if r[2] == "5003")[1] == "—"
    assert window.errors == []


def test_version_history_opens_a_version_read_only(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    original = window.draft.document
    window.editor.add_node("tag_add")
    loop.run_until_complete(window.save())
    window.editor.set_problems([])
    draft = loop.run_until_complete(window.service.load_draft("Демо", window.draft.id))
    assert len(draft.document.nodes) == len(original.nodes) + 1

    loop.run_until_complete(window.show_history())
    dialog = window.history_dialog
    assert dialog.isVisible()
    assert [v.version for v in dialog.versions] == [1]
    assert dialog.table.item(0, 0).text() == "v1" and dialog.table.item(0, 2).text() == "demo"

    dialog.open_button.click()  # opens the selected version
    settle(loop, window)
    [version_window] = window.version_windows
    assert version_window.version == 1 and version_window.isVisible()
    viewer = version_window.editor
    assert viewer.is_read_only()
    assert len(viewer.node_uuids()) == len(original.nodes)  # v1, not the edited draft
    assert not viewer.palette.isVisible() and not viewer.properties.isEnabled()
    assert viewer.paste() == []
    viewer.graph.select_all()
    viewer.delete_selected()
    assert len(viewer.node_uuids()) == len(original.nodes)
    assert window.errors == []


def test_a_stale_save_says_someone_else_changed_the_robot(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    other = loop.run_until_complete(window.service.load_draft("Демо", window.draft.id))
    loop.run_until_complete(
        window.service.save_draft("Демо", other.id, other.document, other.revision, by="colleague")
    )
    with pytest.raises(DraftConflictError):
        loop.run_until_complete(window.save())
    window.run(window.save())
    settle(loop, window)
    assert len(window.errors) == 1 and "изменил кто-то другой" in window.errors[0]
