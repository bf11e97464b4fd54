"""Move a contact to a node picked on the canvas, end to end on the embedded engine: the
contact card's "Переместить на узел…" opens the run's robot in the editor in pick mode
(a banner, Esc cancels), a click on a node asks for a confirmation naming it, and the run
ends up on that node in the engine. Also: a run shown on its robot's canvas, and the
card's personal links."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import PEOPLE, manager_confirms_payment, start_open_bot

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures


def _node_id(window: Any, title: str) -> str:
    assert window.draft is not None
    return next(str(n.id) for n in window.draft.document.nodes if n.title == title)


def _click_node(window: Any, node_id: str) -> None:
    """A real mouse click on the node as the canvas draws it."""
    editor = window.editor
    node = editor.node(node_id)
    editor.graph.center_on([node])
    QApplication.processEvents()
    rect = node.view.sceneBoundingRect()
    pos = editor.viewer.mapFromScene(rect.center().x(), rect.top() + 12)
    QTest.mouseClick(editor.viewer.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _open_anna(window: Any, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    panel = window.show_panel("contacts")
    settle(loop, window)
    panel.query.setText("@anna_s")
    [found] = loop.run_until_complete(panel.search())
    card = loop.run_until_complete(panel.open_contact(found["id"]))
    panel.runs.selectRow(0)
    return card


def test_move_to_a_node_picked_on_the_canvas(
    window: Any, loop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    loop.run_until_complete(start_open_bot(window.service.workspace, "Демо"))
    card = _open_anna(window, loop)
    panel = window.panels["contacts"]
    editor = window.editor
    assert panel.run_rows()[0][2] == "Ждём дату"

    # Esc cancels the pick: nothing asked, nothing moved, back on the card
    panel.move_button.click()
    settle(loop, window)
    assert window.tabs.currentWidget() is editor and editor.is_picking()
    picker = editor._picker
    assert picker.banner.isVisible()
    assert "Выберите узел на холсте… Esc — отмена" in picker.label.text()
    assert "Анна Смирнова" in picker.label.text()
    QTest.keyClick(editor.viewer, Qt.Key.Key_Escape)
    settle(loop, window)
    assert not editor.is_picking() and not picker.banner.isVisible()
    assert window.tabs.currentWidget() is panel and window.questions == []

    # a click on empty canvas picks nothing; a click on a node asks, naming it
    panel.runs.selectRow(0)
    panel.move_button.click()
    settle(loop, window)
    assert editor.is_picking()
    QTest.mouseClick(editor.viewer.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    settle(loop, window)
    assert editor.is_picking() and window.questions == []
    here = editor.node(_node_id(window, "Ждём дату")).view.sceneBoundingRect()
    viewport = editor.viewer.viewport().rect()
    qtbot.waitUntil(  # the canvas comes to where the contact is
        lambda: editor.viewer.mapToScene(viewport).boundingRect().contains(here), timeout=3000
    )
    shoot(window, "panel-contacts-move.png")
    target = _node_id(window, "Ждём «расскажи»")
    window.answers.append(True)
    _click_node(window, target)
    settle(loop, window)
    assert not editor.is_picking()
    [question] = window.questions
    assert "на шаг «Ждём «расскажи»»" in question and "Анна Смирнова" in question
    assert window.tabs.currentWidget() is panel
    assert panel.run_rows()[0][2] == "Ждём «расскажи»"
    fresh = loop.run_until_complete(window.service.contact_card("Демо", card["id"]))
    [run] = fresh["runs"]
    assert run["node_id"] == target and run["status"] == "waiting"
    assert any(
        h["kind"] == "staff.move" and h.get("actor") == "staff:desktop" for h in fresh["history"]
    )
    assert window.errors == []

    # refusing the confirmation changes nothing
    panel.runs.selectRow(0)
    panel.move_button.click()
    settle(loop, window)
    _click_node(window, _node_id(window, "Ждём дату"))
    settle(loop, window)
    assert len(window.questions) == 2 and window.tabs.currentWidget() is panel
    fresh = loop.run_until_complete(window.service.contact_card("Демо", card["id"]))
    assert fresh["runs"][0]["node_id"] == target

    # another robot opened meanwhile: the click cancels instead of picking on the wrong robot
    panel.runs.selectRow(0)
    panel.move_button.click()
    settle(loop, window)
    other = next(f.id for f in window.funnels if f.name == "Оплата Таро")
    loop.run_until_complete(window.open_robot(other))
    window.tabs.setCurrentWidget(editor)
    assert editor.is_picking()
    _click_node(window, next(str(n.id) for n in window.draft.document.nodes if n.title))
    settle(loop, window)
    assert not editor.is_picking() and len(window.questions) == 2
    assert window.tabs.currentWidget() is panel
    loop.run_until_complete(window.open_robot(card["runs"][0]["funnel_id"]))

    # a step added to the draft after publishing is not in the run's version: said plainly
    new_node = editor.add_node("message", (1400.0, 700.0))
    panel.runs.selectRow(0)
    panel.move_button.click()
    settle(loop, window)
    _click_node(window, new_node)
    settle(loop, window)
    assert len(window.questions) == 2
    [error] = window.errors
    assert "нет в версии v1" in error and "Опубликуйте" in error
    fresh = loop.run_until_complete(window.service.contact_card("Демо", card["id"]))
    assert fresh["runs"][0]["node_id"] == target


def test_run_on_canvas_and_personal_links(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    workspace = window.service.workspace
    loop.run_until_complete(start_open_bot(workspace, "Демо"))
    loop.run_until_complete(manager_confirms_payment(workspace, "Демо", PEOPLE[0]))
    card = _open_anna(window, loop)
    panel = window.panels["contacts"]
    runs = {r["funnel"]: r for r in card["runs"]}
    assert runs["Оплата Таро"]["node"] == "Ждём перехода"
    assert runs["Разбор по дате рождения"]["status"] == "stopped"  # the payment robot did it

    # the personal link the payment robot made, with its product, bot and state
    panel.tabs.setCurrentWidget(panel.links)
    [link] = card["links"]
    row = panel_cells(panel.links)[0]
    assert row[0] == str(link["id"]) and row[1] == "Таро" and row[2] == "Платный бот"
    assert row[5] == "ждёт перехода" and row[4]  # expires in a week

    # "show on canvas": the payment robot opens with the run's step selected
    panel.runs.selectRow(
        next(i for i, r in enumerate(card["runs"]) if r["funnel"] == "Оплата Таро")
    )
    assert loop.run_until_complete(panel.show_run_on_canvas())
    assert window.tabs.currentWidget() is window.editor
    assert window.draft.document.name == "Оплата Таро"
    assert window.editor.selected_uuids() == [runs["Оплата Таро"]["node_id"]]
    assert window.errors == []


def panel_cells(widget: Any) -> list[list[str]]:
    from desktop.panels import cells

    return cells(widget)
