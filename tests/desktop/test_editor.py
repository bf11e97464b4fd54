"""FunnelEditor: open, add, connect, edit, undo, copy/paste, problems, badges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtWidgets

from desktop import i18n
from desktop.editor.editor_widget import FunnelEditor
from desktop.editor.properties.fields import StringListField, TableField, TextField
from desktop.editor.properties.match_editor import MatchField
from graph.document import FunnelDocument
from graph.problems import Problem, ProblemCode, Severity
from graph.validation import validate_funnel


def _message_uuid(doc: FunnelDocument) -> str:
    return next(str(n.id) for n in doc.nodes if n.type == "message")


def test_opens_each_demo_funnel(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    for doc in demo_funnels:
        editor.load(doc)
        assert editor.document() == doc
        assert not editor.is_dirty()
        assert sorted(editor.node_uuids()) == sorted(str(n.id) for n in doc.nodes)


def test_add_node_from_palette(editor: FunnelEditor, qtbot: Any) -> None:
    editor.palette.filter("задер")
    assert editor.palette.visible_type_ids() == ["delay"]
    editor.palette.filter("Delay")  # English titles are searchable too
    assert editor.palette.visible_type_ids() == ["delay"]
    with qtbot.waitSignal(editor.changed):
        editor.palette.tree.itemActivated.emit(editor.palette.tree.currentItem(), 0)
    doc = editor.document()
    assert [n.type for n in doc.nodes] == ["delay"]
    assert editor.is_dirty()
    assert editor.selected_uuids() == [str(doc.nodes[0].id)]


def test_drop_from_palette_adds_at_drop_point(editor: FunnelEditor) -> None:
    mime = editor.palette.tree.mimeData([editor.palette.tree.topLevelItem(0).child(2)])
    editor.graph.data_dropped.emit(mime, QtCore.QPoint(100, 50))
    (node,) = editor.document().nodes
    assert node.type == "trigger.start" and (node.ui.x, node.ui.y) == (100.0, 50.0)


def test_connect_two_nodes_and_undo(editor: FunnelEditor) -> None:
    start = editor.add_node("trigger.start", (0, 0))
    message = editor.add_node("message", (300, 0))
    assert editor.connect_nodes(start, "next", message)
    (edge,) = editor.document().edges
    assert (str(edge.source), edge.source_port, str(edge.target)) == (start, "next", message)
    editor.undo()
    assert editor.document().edges == []
    editor.redo()
    assert len(editor.document().edges) == 1


def test_edit_through_panel_then_undo(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = demo_funnels[0]
    editor.load(doc)
    node_id = _message_uuid(doc)
    editor.select_node(node_id)
    text = editor.properties.editors["text"]
    assert isinstance(text, TextField)
    text.edit.setPlainText("Привет, <b>{{first_name}}</b>!")
    text.commit()
    node = editor.document().node(uuid.UUID(node_id))
    assert node is not None and node.props["text"] == "Привет, <b>{{first_name}}</b>!"
    assert editor.node(node_id).view.summary_text == "Привет, {{first_name}}!"
    assert text.preview is not None and "<b>" in text.preview.text() and "first_name" in text.preview.text()
    assert editor.is_dirty()
    editor.undo()
    assert editor.document() == doc
    assert editor.properties.editors["text"].value() == doc.node(uuid.UUID(node_id)).props["text"]


def test_buttons_make_ports_and_undo_restores_connections(editor: FunnelEditor) -> None:
    message = editor.add_node("message", (0, 0))
    end = editor.add_node("end", (400, 0))
    editor.select_node(message)
    buttons = editor.properties.editors["buttons"]
    assert isinstance(buttons, TableField)
    buttons.add_row()
    assert editor.node(message).visible_output_names() == ["next", "button:b1"]
    assert editor.node(message).view.get_output_text_item(
        editor.node(message).outputs()["button:b1"].view).toPlainText() == "Кнопка"
    assert editor.connect_nodes(message, "button:b1", end)
    buttons.table.selectRow(0)
    buttons.remove_row()
    assert editor.node(message).visible_output_names() == ["next"]
    assert editor.document().edges == []
    editor.undo()
    assert editor.node(message).visible_output_names() == ["next", "button:b1"]
    (edge,) = editor.document().edges
    assert edge.source_port == "button:b1"


def test_invalid_value_shows_inline_error(editor: FunnelEditor) -> None:
    node_id = editor.add_node("trigger.contact_keyword", (0, 0))
    editor.select_node(node_id)
    panel = editor.properties
    assert "phrases" in panel.field_errors()  # a fresh trigger has no phrases
    phrases = panel.editors["phrases"]
    assert isinstance(phrases, StringListField)
    phrases.add("расскажи")
    assert "phrases" not in panel.field_errors()
    editor.select_node(editor.add_node("message", (0, 300)))
    buttons = editor.properties.editors["buttons"]
    assert isinstance(buttons, TableField)
    buttons.add_row()
    buttons.table.item(0, 0).setText("не ключ!")
    errors = editor.properties.field_errors()
    assert "buttons" in errors and "0.id" in errors["buttons"]


@dataclass
class _Explained:
    matched: bool
    reason_ru: str
    reason_en: str


def test_phrase_tester_uses_injected_explain(qtbot: Any) -> None:
    calls: list[tuple[str, list[str], Any]] = []

    def explain(text: str, phrases: list[str], spec: Any) -> _Explained:
        calls.append((text, phrases, spec))
        return _Explained(text in phrases, "Совпало точно с «расскажи»", "Exact match")

    widget = FunnelEditor(explain=explain)
    qtbot.addWidget(widget)
    node_id = widget.add_node("trigger.contact_keyword", (0, 0))
    widget.set_node_props(node_id, {**widget.node(node_id).funnel_props(), "phrases": ["расскажи"]})
    widget.select_node(node_id)
    match = widget.properties.editors["match"]
    assert isinstance(match, MatchField)
    match.test_input.setText("расскажи")
    assert "Совпало" in match.test_result.text() and "расскажи" in match.test_result.text()
    assert calls[-1][1] == ["расскажи"] and calls[-1][2].mode == "exact"


def test_phrase_tester_default_engine(editor: FunnelEditor) -> None:
    node_id = editor.add_node("trigger.contact_keyword", (0, 0))
    editor.set_node_props(node_id, {**editor.node(node_id).funnel_props(), "phrases": ["расскажи"]})
    editor.select_node(node_id)
    match = editor.properties.editors["match"]
    assert isinstance(match, MatchField)
    match.test_input.setText("не хочу ничего")
    assert "Не совпало" in match.test_result.text()


def test_copy_paste_gets_new_uuids(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = demo_funnels[1]
    editor.load(doc)
    editor.graph.select_all()
    assert editor.copy_selected()
    other = FunnelEditor()  # another robot (or project): the clipboard carries our JSON
    other.resize(800, 600)
    pasted = other.paste()
    assert len(pasted) == len(doc.nodes)
    assert not set(pasted) & {str(n.id) for n in doc.nodes}
    copy = other.document()
    assert len(copy.edges) == len(doc.edges)
    assert sorted(n.props.__repr__() for n in copy.nodes) == sorted(n.props.__repr__() for n in doc.nodes)
    again = editor.paste()  # into the same robot: offset, again new ids
    assert len(editor.document().nodes) == 2 * len(doc.nodes)
    editor.undo()
    assert editor.document() == doc
    assert again
    other.deleteLater()


def test_problems_highlight_and_select(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = demo_funnels[0]
    editor.load(doc)
    target = _message_uuid(doc)
    problems = [
        Problem(ProblemCode.MISSING_PROPERTY, "Empty", "Сообщение пустое",
                node_id=uuid.UUID(target), field="props.text"),
        Problem(ProblemCode.UNREACHABLE_NODE, "Unreachable", "Узел недостижим",
                node_id=doc.nodes[0].id, severity=Severity.WARNING),
        *validate_funnel(doc),
    ]
    editor.set_problems(problems)
    assert editor.problem_nodes()[target] == "error"
    assert editor.problem_nodes()[str(doc.nodes[0].id)] == "warning"
    assert "Сообщение пустое" in editor.node(target).view.toolTip()
    assert editor.problems_list.count() == len(problems)
    editor.graph.clear_selection()
    editor.problems_list.itemClicked.emit(editor.problems_list.item(0))
    assert editor.selected_uuids() == [target]
    assert editor.properties.current_uuid == target
    editor.set_problems([])
    assert editor.problem_nodes() == {}


def test_counts_badges_and_click(editor: FunnelEditor, demo_funnels: list[FunnelDocument], qtbot: Any) -> None:
    doc = demo_funnels[0]
    editor.load(doc)
    first, second = str(doc.nodes[0].id), str(doc.nodes[1].id)
    editor.set_counts({first: (12, 40, 28), second: (0, 3, 3)})
    assert editor.badge_text(first) == "12"
    assert editor.badge_text(second) == "0"
    badge = editor.node(first).view.badge
    assert badge is not None and "Вошли: 40" in badge.toolTip()
    editor.set_counts({first: (1234, 5000, 3766)})
    assert editor.node(first).view.badge is badge  # refreshed, not rebuilt
    assert editor.badge_text(first) == "1 234"
    assert editor.badge_text(second) is None
    with qtbot.waitSignal(editor.badgeClicked) as blocker:
        assert badge.clicked is not None
        badge.clicked()
    assert blocker.args == [first]


def test_badge_click_through_the_view(editor: FunnelEditor, demo_funnels: list[FunnelDocument], qtbot: Any) -> None:
    doc = demo_funnels[1]
    editor.load(doc)
    node_id = str(doc.nodes[0].id)
    editor.set_counts({node_id: (5, 6, 7)})
    editor.graph.set_zoom(0)
    editor.graph.center_on([editor.node(node_id)])
    QtWidgets.QApplication.processEvents()
    badge = editor.node(node_id).view.badge
    assert badge is not None
    point = editor.viewer.mapFromScene(badge.sceneBoundingRect().center())
    with qtbot.waitSignal(editor.badgeClicked) as blocker:
        qtbot.mouseClick(editor.viewer.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == [node_id]


def test_auto_layout_left_to_right(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = demo_funnels[0]
    editor.load(doc)
    editor.auto_layout()
    laid = editor.document()
    x = {str(n.id): n.ui.x for n in laid.nodes}
    for edge in doc.edges:
        trigger = doc.node(edge.source)
        if trigger is not None and trigger.type.startswith("trigger."):
            assert x[str(edge.target)] > x[str(edge.source)]
    assert min(x.values()) == 0.0
    editor.undo()
    assert editor.document() == doc


def test_delete_and_shortcuts(editor: FunnelEditor, qtbot: Any) -> None:
    node_id = editor.add_node("end", (0, 0))
    editor.select_node(node_id)
    editor.graph.widget.setFocus()
    editor.action_delete.trigger()
    assert editor.document().nodes == []
    editor.action_undo.trigger()
    assert [str(n.id) for n in editor.document().nodes] == [node_id]
    assert editor.action_redo.shortcuts()[0].toString() == "Ctrl+Shift+Z"


def test_english_setting(editor: FunnelEditor) -> None:
    node_id = editor.add_node("delay", (0, 0))
    i18n.set_language("en")
    assert editor.node(node_id).display_title() == "Delay"
    assert editor.node(node_id).view.summary_text == "1 h"
    assert editor.action_undo.text() == "Undo"
    i18n.set_language("ru")
    assert editor.node(node_id).view.summary_text == "1 ч"


def test_tag_picker_offers_known_tags(editor: FunnelEditor) -> None:
    editor.set_known_tags(["оставил отзыв", "купил"])
    node_id = editor.add_node("tag_add", (0, 0))
    editor.select_node(node_id)
    tags = editor.properties.editors["tags"]
    assert isinstance(tags, StringListField)
    completer = tags.input.completer()
    assert completer is not None and completer.model().rowCount() == 2
    tags.add("новый тег")  # new tags are allowed
    assert editor.node(node_id).funnel_props()["tags"] == ["новый тег"]
