"""The media picker, the condition rule form and the category icons of the editor."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from desktop.editor import icons, style
from desktop.editor.editor_widget import FunnelEditor
from desktop.editor.properties.condition_editor import (
    RULE_KINDS,
    ConditionRulesField,
    RuleRow,
)
from desktop.editor.properties.fields import (
    ChoiceField,
    DateField,
    LineField,
    StringListField,
    TimeField,
    WeekdaysField,
)
from desktop.editor.properties.match_editor import MatchField
from desktop.editor.properties.media_editor import MediaField, file_id_kind, guess_kind
from graph.document import FunnelDocument, FunnelNode
from graph.nodes.flow import ConditionProps
from tests.desktop import panel_fixtures

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures

PHOTO_FILE_ID = "AgACAgIAAxkBAAIBY2VzZmFrZV9maWxlX2lk"
VOICE_FILE_ID = "AwACAgIAAxkBAAIBY2VzZmFrZV9maWxlX2lk"


def _picture(path: Path, width: int = 320, height: int = 200) -> Path:
    image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor(40, 120, 200))
    assert image.save(str(path))
    return path


def _props(editor: FunnelEditor, node_id: str) -> dict[str, Any]:
    node = editor.document().node(uuid.UUID(node_id))
    assert node is not None
    return node.props


def _select(editor: FunnelEditor, type_id: str) -> str:
    node_id = editor.add_node(type_id, (0, 0))
    editor.select_node(node_id)
    return node_id


# --- media picker ------------------------------------------------------------------------


def test_pick_media_files_through_the_overridable_dialog(editor: FunnelEditor, tmp_path: Path) -> None:
    picture = _picture(tmp_path / "обложка.png")
    voice = tmp_path / "голос.ogg"
    voice.write_bytes(b"OggS" + bytes(3000))
    asked: list[QtWidgets.QWidget] = []

    def choose(parent: QtWidgets.QWidget) -> list[str]:
        asked.append(parent)
        return [str(picture), str(voice)]

    editor.properties.choose_media_files = choose
    node_id = _select(editor, "message")
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    media.pick_button.click()
    assert asked == [media]
    assert _props(editor, node_id)["media"] == [
        {"kind": "photo", "source": str(picture)},
        {"kind": "voice", "source": str(voice)},
    ]
    first, second = media.rows
    assert first.has_thumbnail and not second.has_thumbnail
    assert first.name.text() == "обложка.png"
    assert "image/png" in first.details.text() and "Б" in first.details.text()
    assert second.details.text().startswith("файл · 2,9 КБ")
    assert media.problems() == []
    assert editor.node(node_id).view.summary_text.endswith("медиа: 2")

    # the kind is a guess: change it, then reorder and remove
    second.kind.setCurrentIndex(second.kind.findData("audio"))
    assert _props(editor, node_id)["media"][1]["kind"] == "audio"
    second.up_button.click()
    assert [m["kind"] for m in _props(editor, node_id)["media"]] == ["audio", "photo"]
    assert [r.name.text() for r in media.rows] == ["голос.ogg", "обложка.png"]
    media.rows[1].remove_button.click()
    assert _props(editor, node_id)["media"] == [{"kind": "audio", "source": str(voice)}]
    editor.undo()
    assert len(_props(editor, node_id)["media"]) == 2
    assert len(editor.properties.editors["media"].rows) == 2  # type: ignore[attr-defined]


def test_cancelled_dialog_changes_nothing(editor: FunnelEditor) -> None:
    editor.properties.choose_media_files = lambda parent: []
    node_id = _select(editor, "message")
    before = editor.undo_stack.index()
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    assert media.pick_files() == []
    assert _props(editor, node_id)["media"] == [] and editor.undo_stack.index() == before


def test_paste_file_id_url_and_a_missing_path(editor: FunnelEditor, tmp_path: Path) -> None:
    node_id = _select(editor, "message")
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    media.paste_input.setText(f"  {VOICE_FILE_ID} ")
    media.paste_button.click()
    assert media.paste_input.text() == ""
    media.add_source("https://example.org/files/promo.mp4?sig=1")
    missing = tmp_path / "нет такого.jpg"
    media.add_source(str(missing))
    assert _props(editor, node_id)["media"] == [
        {"kind": "voice", "source": VOICE_FILE_ID},
        {"kind": "video", "source": "https://example.org/files/promo.mp4?sig=1"},
        {"kind": "photo", "source": str(missing)},
    ]
    assert [r.details.text() for r in media.rows[:2]] == ["file_id Telegram", "ссылка"]
    assert media.problems() == [f"Файл не найден: {missing}"]
    assert f"Файл не найден: {missing}" in editor.properties.field_errors()["media"]
    assert not media.add_source("   ")


def test_relative_paths_use_the_media_folder(editor: FunnelEditor, tmp_path: Path) -> None:
    _picture(tmp_path / "cover.jpg")
    editor.properties.media_root = tmp_path
    node_id = _select(editor, "message")
    editor.set_node_props(node_id, {**_props(editor, node_id),
                                    "media": [{"kind": "photo", "source": "cover.jpg"}]})
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    assert media.problems() == [] and media.rows[0].has_thumbnail
    assert _props(editor, node_id)["media"] == [{"kind": "photo", "source": "cover.jpg"}]


def test_remote_engine_is_told_plainly(editor: FunnelEditor, tmp_path: Path) -> None:
    picture = _picture(tmp_path / "a.png")
    editor.properties.local_files_reachable = False
    editor.properties.choose_media_files = lambda parent: [str(picture)]
    _select(editor, "message")
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    media.pick_files()
    assert "не видит файлы этого компьютера" in media.problems()[0]


def test_media_item_errors_show_in_their_row(editor: FunnelEditor) -> None:
    node_id = _select(editor, "message")
    editor.set_node_props(node_id, {**_props(editor, node_id), "text": "привет",
                                    "media": [{"kind": "photo", "source": " "}]})
    media = editor.properties.editors["media"]
    assert isinstance(media, MediaField)
    assert media.rows[0].problem.text() == "источник: Поле не может быть пустым"


@pytest.mark.parametrize(("name", "kind"), [
    ("a.JPG", "photo"), ("b.gif", "animation"), ("c.mp4", "video"), ("d.ogg", "voice"),
    ("e.mp3", "audio"), ("f.pdf", "document"), ("https://x.org/p.png?x=1", "photo"),
    ("no_extension", "document"),
])
def test_kind_guessed_from_the_name(name: str, kind: str) -> None:
    assert guess_kind(name) == kind


def test_kind_read_from_a_file_id() -> None:
    assert file_id_kind(PHOTO_FILE_ID) == "photo"
    assert file_id_kind(VOICE_FILE_ID) == "voice"
    assert file_id_kind("BQACAgIAAxkBAAIB") == "document"
    assert file_id_kind("not a file id!") is None


def test_media_round_trip_keeps_unknown_values(qtbot: Any) -> None:
    field = MediaField(choose_files=lambda parent: [])
    qtbot.addWidget(field)
    items = [{"kind": "video_note", "source": "x"}, {"kind": "photo", "source": "y", "extra": 1}]
    field.set_value(items)
    assert field.value() == items
    field.set_value("garbage")
    assert field.value() == "garbage"


# --- condition rules form ----------------------------------------------------------------

ONE_OF_EACH: list[dict[str, Any]] = [
    {"kind": "has_tag", "tag": "купил"},
    {"kind": "no_tag", "tag": "отписался"},
    {"kind": "variable", "name": "город", "op": "contains", "value": "Моск"},
    {"kind": "datetime", "weekdays": [5, 6], "from_time": "22:00", "to_time": "06:00",
     "date_from": "2026-01-01", "date_to": "2026-03-31"},
    {"kind": "purchased", "product": "Таро-курс"},
    {"kind": "reply_text", "phrases": ["да", "хочу"],
     "match": {"mode": "fuzzy", "threshold": 70, "word_forms": False, "negation_aware": True,
               "stop_phrases": ["не"]}},
]


def _canonical(rules: list[dict[str, Any]], combine: str = "all") -> dict[str, Any]:
    return ConditionProps.model_validate({"rules": rules, "combine": combine}).model_dump(mode="json")


def _condition_doc(props: dict[str, Any]) -> FunnelDocument:
    node = FunnelNode(id=uuid.uuid4(), type="condition", props=props)
    return FunnelDocument(id=uuid.uuid4(), name="Условия", nodes=[node])


def test_one_of_each_covers_every_rule_kind() -> None:
    assert [r["kind"] for r in ONE_OF_EACH] == list(RULE_KINDS)
    assert set(RULE_KINDS) == {"has_tag", "no_tag", "variable", "datetime", "purchased",
                               "reply_text"}


SPARSE: list[dict[str, Any]] = [  # optional keys left out (hand-written documents)
    {"kind": "has_tag", "tag": "купил"},
    {"kind": "no_tag", "tag": "отписался"},
    {"kind": "variable", "name": "город"},
    {"kind": "datetime", "weekdays": [1]},
    {"kind": "purchased", "product": "Таро-курс"},
    {"kind": "reply_text", "phrases": ["да"]},
]


@pytest.mark.parametrize(("rule", "sparse"), list(zip(ONE_OF_EACH, SPARSE, strict=True)),
                         ids=[r["kind"] for r in ONE_OF_EACH])
def test_every_rule_kind_round_trips(qtbot: Any, rule: dict[str, Any],
                                     sparse: dict[str, Any]) -> None:
    canonical = _canonical([rule])["rules"]
    assert canonical == [rule]  # the examples are already in the document's form
    field = ConditionRulesField()
    qtbot.addWidget(field)
    field.set_value(canonical)
    assert field.value() == canonical
    field.set_value([sparse])  # keys left out stay left out
    assert field.value() == [sparse]
    # a new rule of this kind is the document's canonical form of that kind
    field.set_value([])
    field.add_rule(rule["kind"])
    (new,) = field.value()
    assert set(new) == set(rule) and new["kind"] == rule["kind"]


def test_round_trip_through_the_editor_changes_only_what_was_edited(editor: FunnelEditor) -> None:
    odd = [
        {"kind": "variable", "name": "n"},  # defaults left out
        {"kind": "has_tag", "tag": ""},  # invalid: kept as is
        {"kind": "from_the_future", "x": [1, 2]},  # unknown kind: kept as is
        {"kind": "datetime", "from_time": "9:00"},  # a time this form cannot show
    ]
    props = {"rules": [*_canonical(ONE_OF_EACH)["rules"], *odd], "combine": "all"}
    doc = _condition_doc(props)
    editor.load(doc)
    (node_id,) = editor.node_uuids()
    editor.select_node(node_id)
    combine = editor.properties.editors["combine"]
    assert isinstance(combine, ChoiceField)
    assert combine.combo.currentText() == "все правила (И)"
    combine.combo.setCurrentIndex(combine.combo.findData("any"))
    assert _props(editor, node_id) == {**props, "combine": "any"}
    rules = editor.properties.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    assert rules.value() == props["rules"]
    assert rules.rows[8].kind.currentText() == "from_the_future"
    assert "неизвестен" in rules.rows[8].body.findChild(QtWidgets.QLabel).text()  # type: ignore[union-attr]
    # editing one rule leaves every other one exactly as it was
    tag = rules.rows[0].editors["tag"]
    assert isinstance(tag, LineField)
    tag.edit.setText("оплатил")
    tag.edit.editingFinished.emit()
    expected = [dict(r) for r in props["rules"]]
    expected[0]["tag"] = "оплатил"
    assert _props(editor, node_id)["rules"] == expected


def _row_editor(row: RuleRow, name: str) -> Any:
    return row.editors[name]


def test_edit_rules_through_the_form(editor: FunnelEditor) -> None:
    node_id = _select(editor, "condition")
    panel = editor.properties
    rules = panel.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    assert rules.list_error.text() == "Добавьте хотя бы одно правило"
    assert "rules" in panel.field_errors()

    row = rules.add_rule("has_tag")
    assert _props(editor, node_id)["rules"] == [{"kind": "has_tag", "tag": ""}]
    assert rules.row_errors() == {0: "Тег: Поле не может быть пустым"}
    tag = _row_editor(row, "tag")
    assert isinstance(tag, LineField)
    completer = tag.edit.completer()
    assert completer is not None and completer.model().rowCount() == 2  # known tags
    tag.edit.setText("получил анализ")
    tag.edit.editingFinished.emit()
    assert _props(editor, node_id)["rules"] == [{"kind": "has_tag", "tag": "получил анализ"}]
    assert rules.row_errors() == {} and "rules" not in panel.field_errors()
    assert editor.node(node_id).view.summary_text == "есть тег «получил анализ»"

    row = rules.add_rule("variable")
    _row_editor(row, "name").edit.setText("возраст")
    _row_editor(row, "name").edit.editingFinished.emit()
    op = _row_editor(row, "op")
    assert isinstance(op, ChoiceField) and op.combo.currentText() == "равна"
    op.combo.setCurrentIndex(op.combo.findData("exists"))
    assert not _row_editor(row, "value").isEnabled()
    op.combo.setCurrentIndex(op.combo.findData("gt"))
    _row_editor(row, "value").edit.setText("30")
    _row_editor(row, "value").edit.editingFinished.emit()
    assert _props(editor, node_id)["rules"][1] == {
        "kind": "variable", "name": "возраст", "op": "gt", "value": "30"}

    # switching a rule's kind gives that kind's fields
    row.kind.setCurrentIndex(row.kind.findData("purchased"))
    assert _props(editor, node_id)["rules"][1] == {"kind": "purchased", "product": ""}
    assert rules.row_errors() == {1: "Продукт: Поле не может быть пустым"}
    assert set(rules.rows[1].editors) == {"product"}

    rules.rows[1].up_button.click()
    assert [r["kind"] for r in _props(editor, node_id)["rules"]] == ["purchased", "has_tag"]
    assert rules.rows[0].caption.text() == "Правило 1" and not rules.rows[0].up_button.isEnabled()
    rules.rows[0].remove_button.click()
    assert _props(editor, node_id)["rules"] == [{"kind": "has_tag", "tag": "получил анализ"}]
    editor.undo()
    assert len(_props(editor, node_id)["rules"]) == 2


def test_datetime_and_reply_rules_through_widgets(editor: FunnelEditor) -> None:
    node_id = _select(editor, "condition")
    rules = editor.properties.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    row = rules.add_rule("datetime")
    assert rules.row_errors() == {0: "Правило даты/времени пустое"}
    weekdays = _row_editor(row, "weekdays")
    assert isinstance(weekdays, WeekdaysField)
    weekdays.boxes[0].setChecked(True)
    weekdays.boxes[4].setChecked(True)
    start = _row_editor(row, "from_time")
    assert isinstance(start, TimeField)
    start.enabled.setChecked(True)
    start.time.setTime(QtCore.QTime(9, 30))
    until = _row_editor(row, "date_to")
    assert isinstance(until, DateField) and until.date.text() == "не задано"
    until.enabled.setChecked(True)
    until.date.setDate(QtCore.QDate(2026, 12, 31))
    since = _row_editor(row, "date_from")
    since.enabled.setChecked(True)
    since.date.setDate(QtCore.QDate(2027, 1, 1))
    assert _props(editor, node_id)["rules"] == [{
        "kind": "datetime", "weekdays": [0, 4], "from_time": "09:30", "to_time": None,
        "date_from": "2027-01-01", "date_to": "2026-12-31"}]
    assert rules.row_errors() == {0: "Дата по: Дата «по» раньше даты «с»"}

    row = rules.add_rule("reply_text")
    phrases = _row_editor(row, "phrases")
    assert isinstance(phrases, StringListField)
    assert rules.row_errors()[1] == "Фразы ответа: Нужно хотя бы 1"
    phrases.add("да")
    match = _row_editor(row, "match")
    assert isinstance(match, MatchField)
    match.mode.combo.setCurrentIndex(match.mode.combo.findData("contains"))
    match.test_input.setText("да, конечно")
    assert "Совпало" in match.test_result.text()
    rule = _props(editor, node_id)["rules"][1]
    assert rule["phrases"] == ["да"] and rule["match"]["mode"] == "contains"
    assert 1 not in rules.row_errors()


def test_english_labels(editor: FunnelEditor) -> None:
    from desktop import i18n

    i18n.set_language("en")
    _select(editor, "condition")
    rules = editor.properties.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    row = rules.add_rule("no_tag")
    assert row.kind.currentText() == "Lacks tag"
    assert rules.row_errors() == {0: "Tag: String should have at least 1 character"}


# --- icons -------------------------------------------------------------------------------


def test_palette_shows_category_icons(editor: FunnelEditor) -> None:
    tree = editor.palette.tree
    seen: dict[str, QtGui.QImage] = {}
    for g in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(g)
        assert group is not None
        category = str(group.data(0, QtCore.Qt.ItemDataRole.UserRole + 1))
        image = group.icon(0).pixmap(20, 20).toImage()
        assert not image.isNull()
        # the icon is drawn on the category colour
        corner_inside = image.pixelColor(4, 4)
        assert corner_inside.getRgb()[:3] == style.category_color(category), category
        for c in range(group.childCount()):
            assert group.child(c).icon(0).cacheKey() == group.icon(0).cacheKey()  # type: ignore[union-attr]
        seen[category] = image
    assert len(seen) == 5
    images = list(seen.values())
    assert all(a != b for i, a in enumerate(images) for b in images[i + 1:])  # five different
    item = editor.palette.item_for("condition")
    assert item is not None and not item.icon(0).isNull()


def test_node_header_draws_the_category_glyph(editor: FunnelEditor) -> None:
    node_id = editor.add_node("message", (0, 0))
    view = editor.node(node_id).view
    image = QtGui.QImage(int(view.width), int(view.height), QtGui.QImage.Format.Format_ARGB32)
    image.fill(QtGui.QColor(0, 0, 0, 0))
    painter = QtGui.QPainter(image)
    view.paint(painter, QtWidgets.QStyleOptionGraphicsItem(), None)
    painter.end()
    glyph_area = [image.pixelColor(x, y) for x in range(8, 24) for y in range(5, 21)]
    white = [c for c in glyph_area if min(c.red(), c.green(), c.blue()) > 230]
    assert len(white) > 20  # the white glyph, on the blue header
    header = image.pixelColor(int(view.width) - 40, 3)
    assert header.getRgb()[:3] == style.category_color("message")
    assert icons.icon_path("message").endswith("category_message.svg")
    assert icons.icon_path("something new").endswith("category_unknown.svg")


@pytest.mark.parametrize(("op", "shown"), [
    ("gt", "возраст > 30"), ("neq", "возраст ≠ 30"), ("exists", "возраст задана"),
    ("contains", "возраст содержит «30»"),
])
def test_variable_rule_summary_on_the_node(op: str, shown: str) -> None:
    from desktop.editor.summary import summary

    rule = {"kind": "variable", "name": "возраст", "op": op, "value": "30"}
    assert summary("condition", {"rules": [rule], "combine": "all"}) == shown


def test_main_window_feeds_the_pickers(window: Any) -> None:
    """The opened robot's project catalog reaches the panel's pickers."""
    panel = window.editor.properties
    assert panel.known["products"] and panel.known["funnels"] and panel.known["bot_roles"]
    assert panel.local_files_reachable  # the embedded engine reads this computer's files
    node_id = window.editor.add_node("condition", (0, 0))
    window.editor.select_node(node_id)
    rules = panel.editors["rules"]
    assert isinstance(rules, ConditionRulesField)
    row = rules.add_rule("purchased")
    product = row.editors["product"]
    assert isinstance(product, LineField)
    completer = product.edit.completer()
    assert completer is not None
    assert completer.model().rowCount() == len(panel.known["products"])
