"""Screenshots for docs/screenshots (and a look at what the editor draws)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtWidgets

from desktop import i18n
from desktop.editor.editor_widget import FunnelEditor
from engine.demo_setup import ensure_demo_project
from engine.service import WorkspaceService
from graph.document import FunnelDocument
from tests.desktop.traffic import busy_day

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _settle() -> None:
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def _open_bot(funnels: list[FunnelDocument]) -> FunnelDocument:
    return next(f for f in funnels if any(n.type == "trigger.start" for n in f.nodes))


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
    asyncio.set_event_loop(None)


def _node_ids(doc: FunnelDocument, xs: range) -> list[str]:
    return [str(n.id) for n in doc.nodes if n.ui.x in xs]


def test_main_window_and_editor_screenshots_with_live_counts(
    qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    """The demo project after a day of simulated traffic: badges show who waits where."""
    from desktop.main_window import MainWindow

    i18n.set_language("ru")

    async def open_service() -> WorkspaceService:
        service = await WorkspaceService.open(str(tmp_path / "ws"))
        await ensure_demo_project(service.workspace)
        await busy_day(service.workspace, "Демо")
        return service

    service = loop.run_until_complete(open_service())
    window = MainWindow(service)
    window.show_error = lambda message: pytest.fail(message)
    qtbot.addWidget(window)
    window.resize(1600, 900)
    window.show()
    try:
        loop.run_until_complete(window.load())
        loop.run_until_complete(window.refresh_counts())
        window.refresh_timer.stop()
        editor = window.editor
        doc = window.draft.document
        wait_date = next(n for n in doc.nodes if n.title == "Ждём дату")
        assert editor.badge_text(str(wait_date.id)) == "9"
        editor.splitter.setSizes([190, 1000, 0])  # no node selected: no properties panel
        # The status bar would show the test's temp directory.
        shown = window.status.text().split(str(tmp_path))[0]
        window.status.setText(shown + "~/.local/share/voronka/projects/demo.sqlite3")
        _settle()
        editor.show_region(_node_ids(doc, range(0, 1281)), max_scale=1.0)
        _settle()
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / "main_window.png"
        assert window.grab().save(str(path))
        assert path.stat().st_size > 10_000

        # A click on a badge lists who is there.
        loop.run_until_complete(window.show_node_contacts(str(wait_date.id)))
        dialog = window.contacts_dialog
        dialog.resize(640, 330)
        _settle()
        assert len(dialog.rows()) == 9
        assert dialog.grab().save(str(SHOTS / "node_contacts.png"))
        dialog.close()

        # The editor on its own, further along the robot.
        window.resize(1900, 900)
        editor.splitter.setSizes([190, 1400, 0])
        _settle()
        editor.show_region(_node_ids(doc, range(1920, 3521)), max_scale=1.0)
        _settle()
        path = SHOTS / "editor.png"
        assert editor.grab().save(str(path))
        assert path.stat().st_size > 10_000
    finally:
        window.refresh_timer.stop()
        window.close()
        loop.run_until_complete(service.close())


def test_properties_screenshot(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = _open_bot(demo_funnels)
    editor.resize(1600, 900)
    editor.load(doc)
    editor.splitter.setSizes([180, 980, 440])  # a wide panel: the button table reads whole
    message = max((n for n in doc.nodes if n.type == "message"),
                  key=lambda n: len(str(n.props.get("text", ""))))
    node_id = str(message.id)
    props = {**message.props, "buttons": [
        {"id": "yes", "text": "Хочу разбор", "kind": "callback", "url": None},
        {"id": "site", "text": "Наш сайт", "kind": "url", "url": "https://example.org"},
    ]}
    editor.set_node_props(node_id, props)
    editor.select_node(node_id)
    _settle()
    editor.show_region([node_id], max_scale=1.0)
    editor.properties_scroll.ensureWidgetVisible(editor.properties.editors["buttons"])
    _settle()
    path = SHOTS / "properties.png"
    assert editor.grab().save(str(path))
    assert path.stat().st_size > 10_000
