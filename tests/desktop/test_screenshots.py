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
from tests.desktop.panel_fixtures import SCREENSHOTS
from tests.desktop.traffic import busy_day

SHOTS = SCREENSHOTS  # docs/screenshots with VORONKA_SCREENSHOTS=1, else a temp folder


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
    window.resize(1680, 900)
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


def test_chat_simulator_screenshot(
    qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    """The chat simulator docked beside the editor, mid-conversation in the sandbox."""
    from datetime import timedelta

    from desktop.main_window import MainWindow
    from tests.desktop.traffic import START

    i18n.set_language("ru")
    service = loop.run_until_complete(WorkspaceService.open(str(tmp_path / "ws")))
    loop.run_until_complete(ensure_demo_project(service.workspace))
    window = MainWindow(service)
    window.show_error = lambda message: pytest.fail(message)
    qtbot.addWidget(window)
    window.resize(1680, 900)
    window.show()

    def settle() -> None:
        while window.tasks:
            loop.run_until_complete(asyncio.gather(*window.tasks))
        _settle()

    try:
        loop.run_until_complete(window.load())
        window.refresh_timer.stop()
        panel = window.simulator.panel
        panel.start_time = START
        window.simulator.open()
        settle()
        for text in ("/start", "12.03.1990"):
            loop.run_until_complete(panel.send(text))
        loop.run_until_complete(panel.press("Расскажи подробнее"))  # the reply keyboard
        loop.run_until_complete(panel.advance(timedelta(days=1)))  # the delay fires
        settle()
        window.editor.splitter.setSizes([0, 1000, 0])
        shown = window.status.text().split(str(tmp_path))[0]
        window.status.setText(shown + "~/.local/share/voronka/projects/demo.sqlite3")
        _settle()
        window.editor.show_region(_node_ids(window.draft.document, range(4400, 5500)))
        settle()
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / "chat_simulator.png"
        assert window.grab().save(str(path))
        assert path.stat().st_size > 10_000
    finally:
        loop.run_until_complete(window.simulator.panel.stop())
        window.close()
        loop.run_until_complete(service.close())


def _sample_picture(path: Path) -> Path:
    """A small picture to pick (drawn here: tests ship no binary files)."""
    from PySide6 import QtCore, QtGui

    image = QtGui.QImage(480, 320, QtGui.QImage.Format.Format_RGB32)
    gradient = QtGui.QLinearGradient(0, 0, 480, 320)
    gradient.setColorAt(0.0, QtGui.QColor(255, 183, 77))
    gradient.setColorAt(1.0, QtGui.QColor(156, 39, 176))
    painter = QtGui.QPainter(image)
    painter.fillRect(image.rect(), gradient)
    painter.setPen(QtGui.QColor("white"))
    font = painter.font()
    font.setPointSize(40)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(image.rect(), int(QtCore.Qt.AlignmentFlag.AlignCenter), "Таро")
    painter.end()
    assert image.save(str(path))
    return path


def test_media_picker_screenshot(
    editor: FunnelEditor, demo_funnels: list[FunnelDocument], tmp_path: Path
) -> None:
    """A message with a picked picture (thumbnail), a voice file and a pasted file_id."""
    from desktop.editor.properties.media_editor import MediaField

    doc = _open_bot(demo_funnels)
    editor.resize(1600, 900)
    editor.load(doc)
    editor.splitter.setSizes([180, 960, 460])
    message = max(
        (n for n in doc.nodes if n.type == "message"),
        key=lambda n: len(str(n.props.get("text", ""))),
    )
    node_id = str(message.id)
    editor.set_node_props(
        node_id, {**message.props, "text": "Ваш расклад готов! Сохраните картинку."}
    )
    picture = _sample_picture(tmp_path / "расклад.png")
    voice = tmp_path / "приветствие.ogg"
    voice.write_bytes(b"OggS" + bytes(20_000))
    editor.properties.choose_media_files = lambda parent: [str(picture), str(voice)]
    editor.select_node(node_id)
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    media.pick_button.click()
    media.add_source("AgACAgIAAxkBAAIBY2VzZmFrZV9maWxlX2lkX2Zvcl9kb2Nz")
    _settle()
    editor.show_region([node_id], max_scale=1.0)
    # scroll so the panel starts at the text field's label and the picker shows whole
    text = editor.properties.editors["text"]
    top = text.mapTo(editor.properties, text.rect().topLeft()).y() - 26
    editor.properties_scroll.verticalScrollBar().setValue(top)
    _settle()
    assert media.rows[0].has_thumbnail
    path = SHOTS / "properties_media.png"
    assert editor.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_condition_form_screenshot(
    editor: FunnelEditor, demo_funnels: list[FunnelDocument]
) -> None:
    """A condition with one rule of several kinds, shown as a form."""
    from desktop.editor.properties.condition_editor import ConditionRulesField

    doc = _open_bot(demo_funnels)
    editor.resize(1600, 1000)
    editor.load(doc)
    editor.splitter.setSizes([180, 900, 520])
    condition = next(n for n in doc.nodes if n.type == "condition")
    node_id = str(condition.id)
    editor.set_node_props(
        node_id,
        {
            "combine": "any",
            "rules": [
                {"kind": "has_tag", "tag": "получил анализ"},
                {"kind": "variable", "name": "возраст", "op": "gt", "value": "30"},
                {
                    "kind": "datetime",
                    "weekdays": [0, 1, 2, 3, 4],
                    "from_time": "10:00",
                    "to_time": "19:00",
                    "date_from": None,
                    "date_to": None,
                },
                {"kind": "purchased", "product": ""},
            ],
        },
    )
    editor.select_node(node_id)
    rules = editor.properties.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    _settle()
    editor.show_region([node_id], max_scale=1.0)
    _settle()
    assert rules.row_errors() == {3: "Продукт: Поле не может быть пустым"}
    path = SHOTS / "properties_condition.png"
    assert editor.grab().save(str(path))
    assert path.stat().st_size > 10_000
