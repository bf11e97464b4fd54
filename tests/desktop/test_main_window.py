"""The main window on the embedded engine: demo robot opens, edits are saved to the engine,
publishing makes a version, a robot dropped on another project is copied there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent

from db.models import BotRole, Channel, ChannelKind
from engine.demo_setup import ensure_demo_project
from engine.service import WorkspaceService


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """A plain asyncio loop driven by the test (the app itself runs on qasync; several
    qasync loops in one test process do not shut down cleanly)."""
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def window(
    qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from desktop import main_window
    from desktop.main_window import MainWindow

    dialogs: list[str] = []

    def no_modal_dialogs(kind: str) -> Any:
        def record(_parent: Any, title: str, text: str, *args: Any) -> Any:
            dialogs.append(f"{kind}: {title}: {text}")
            return main_window.QMessageBox.StandardButton.No

        return record

    for kind in ("warning", "question", "information"):
        monkeypatch.setattr(main_window.QMessageBox, kind, no_modal_dialogs(kind))

    async def open_service() -> WorkspaceService:
        service = await WorkspaceService.open(str(tmp_path / "ws"))
        await ensure_demo_project(service.workspace)
        target = await service.create_project("Nadezhda")
        database = await service.database(target)
        async with database.sessions() as session, session.begin():
            for role in (BotRole.OPEN, BotRole.PAID, BotRole.FREE):
                session.add(Channel(kind=ChannelKind.BOT, name=f"N {role}", role=role))
        return service

    service = loop.run_until_complete(open_service())
    main = MainWindow(service)
    qtbot.addWidget(main)
    main.show()
    loop.run_until_complete(main.load())
    yield main
    main.refresh_timer.stop()
    assert dialogs == []
    loop.run_until_complete(service.close())


def test_demo_robot_opens_and_an_edit_is_saved_to_the_engine(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    assert window.project == "Демо"
    assert window.draft.document.name == "Разбор по дате рождения"
    assert len(window.editor.node_uuids()) == len(window.draft.document.nodes)

    new_node = window.editor.add_node("tag_add")
    window.editor.set_node_props(new_node, {"tags": ["новый тег"]})
    loop.run_until_complete(window.save())
    saved = loop.run_until_complete(window.service.load_draft("Демо", window.draft.id))
    assert saved.revision == 2
    assert any(str(n.id) == new_node for n in saved.document.nodes)

    loop.run_until_complete(window.validate())
    assert new_node in {str(u) for u in window.editor.problem_nodes()}  # unknown tag + unreachable


def test_publish_makes_a_new_version(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(window.publish())
    assert window.draft.published_version == 2
    assert "v2" in window.version_label.text()


def test_dropping_a_robot_on_another_project_copies_it(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    questions: list[str] = []
    window.ask = lambda title, question: questions.append(question) or True
    target_item = window.project_list.findItems("Nadezhda", Qt.MatchFlag.MatchExactly)[0]
    mime = QMimeData()
    mime.setData("application/x-voronka-robot", "Разбор по дате рождения".encode())
    point = window.project_list.visualItemRect(target_item).center()
    drop = QDropEvent(
        QPointF(point), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    window.project_list.dropEvent(drop)
    loop.run_until_complete(asyncio.gather(*window.tasks))

    assert "Будет создан тег «купил»" in questions[0] and "N open" in questions[0]
    funnels = loop.run_until_complete(window.service.list_funnels("Nadezhda"))
    assert [f.name for f in funnels] == ["Разбор по дате рождения"]


def test_rename_keeps_the_canvas_and_refuses_a_taken_name(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    errors: list[str] = []
    window.show_error = errors.append
    nodes_before = set(window.editor.node_uuids())
    window.prompt_text = lambda *args: "Оплата Таро"
    loop.run_until_complete(window.rename_robot())
    assert errors and "Оплата Таро" in errors[0]

    window.prompt_text = lambda *args: "Разбор (новое имя)"
    loop.run_until_complete(window.rename_robot())
    names = [f.name for f in loop.run_until_complete(window.service.list_funnels("Демо"))]
    assert "Разбор (новое имя)" in names and "Разбор по дате рождения" not in names
    assert set(window.editor.node_uuids()) == nodes_before
    loop.run_until_complete(window.save())  # a later save keeps the new name
    saved = loop.run_until_complete(window.service.load_draft("Демо", window.draft.id))
    assert saved.document.name == "Разбор (новое имя)"


def test_new_robot_is_created_and_opened(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    window.prompt_text = lambda *args: "Пустой робот"
    loop.run_until_complete(window.new_robot())
    assert window.draft.document.name == "Пустой робот"
    names = [f.name for f in loop.run_until_complete(window.service.list_funnels("Демо"))]
    assert "Пустой робот" in names
