"""The rules of a condition node as a form: one row per rule, fields by rule kind.

The rule kinds and their fields come from the condition schema (graph/nodes/flow.py,
``Rule``). Round trip: a row keeps the dict it was shown with and gives back that dict
with only the fields it edits replaced; a field that was absent stays absent while it
holds its default. So an unchanged rule — valid, invalid or of a kind this app does not
know (kept as JSON) — comes back exactly as it was.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, get_args

from pydantic import BaseModel
from PySide6 import QtCore, QtWidgets

from desktop.editor.properties.fields import (
    ChoiceField,
    DateField,
    FieldEditor,
    JsonField,
    LineField,
    StringListField,
    TimeField,
    WeekdaysField,
)
from desktop.editor.properties.match_editor import ExplainFn, MatchField
from desktop.editor.properties.row_list import RowList
from desktop.i18n import register
from graph.nodes.flow import Rule

t = register(
    "condition",
    {
        "kind.has_tag": ("Есть тег", "Has tag"),
        "kind.no_tag": ("Нет тега", "Lacks tag"),
        "kind.variable": ("Переменная", "Variable"),
        "kind.datetime": ("Дата и время", "Date and time"),
        "kind.purchased": ("Купил продукт", "Purchased product"),
        "kind.reply_text": ("Ответ совпадает", "Reply matches"),
        "op.eq": ("равна", "equals"),
        "op.neq": ("не равна", "does not equal"),
        "op.contains": ("содержит", "contains"),
        "op.exists": ("задана", "is set"),
        "op.gt": ("больше", "greater than"),
        "op.lt": ("меньше", "less than"),
        "combine.all": ("все правила (И)", "all rules (AND)"),
        "combine.any": ("хотя бы одно правило (ИЛИ)", "any rule (OR)"),
        "field.tag": ("Тег", "Tag"),
        "field.name": ("Переменная", "Variable"),
        "field.op": ("Условие", "Operator"),
        "field.value": ("Значение", "Value"),
        "field.weekdays": ("Дни недели", "Weekdays"),
        "field.from_time": ("Время с", "Time from"),
        "field.to_time": ("Время по", "Time to"),
        "field.date_from": ("Дата с", "Date from"),
        "field.date_to": ("Дата по", "Date to"),
        "field.product": ("Продукт", "Product"),
        "field.phrases": ("Фразы ответа", "Reply phrases"),
        "field.match": ("Сравнение", "Matching"),
        "field.kind": ("Вид правила", "Rule kind"),
        "rule": ("Правило {n}", "Rule {n}"),
        "add": ("Добавить правило", "Add rule"),
        "up": ("Выше", "Up"),
        "down": ("Ниже", "Down"),
        "remove": ("Удалить правило", "Remove rule"),
        "empty": ("Правил нет: добавьте хотя бы одно", "No rules: add at least one"),
        "need_one": ("Добавьте хотя бы одно правило", "Add at least one rule"),
        "unknown_kind": (
            "Вид правила «{kind}» этому приложению неизвестен; правило сохранится как есть",
            "Rule kind “{kind}” is unknown to this app; the rule is kept as it is",
        ),
        "tag_placeholder": ("Тег (можно новый)", "Tag (new ones allowed)"),
        "variable_placeholder": ("имя переменной", "variable name"),
        "value_exists": ("не нужно для «задана»", "not needed for “is set”"),
        "product_placeholder": ("Название продукта", "Product name"),
        "datetime_hint": (
            "Время можно через полночь (22:00–06:00); пустые поля не проверяются",
            "Times may wrap past midnight (22:00–06:00); empty fields are not checked",
        ),
    },
)

RULE_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["kind"].default: model for model in get_args(get_args(Rule)[0])
}
"""Rule kind → its pydantic model, straight from the condition schema."""

RULE_KINDS: tuple[str, ...] = tuple(RULE_MODELS)
OPERATORS: tuple[str, ...] = get_args(RULE_MODELS["variable"].model_fields["op"].annotation)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    return copy.deepcopy(value)


def rule_defaults(kind: str) -> dict[str, Any]:
    """A new rule of ``kind``: every field, required ones empty (validation names them)."""
    model = RULE_MODELS[kind]
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            origin = typing.get_origin(info.annotation)
            data[name] = [] if origin is list else ""
        else:
            data[name] = _json_default(info.get_default(call_default_factory=True))
    data["kind"] = kind
    return data


class RuleRow(QtWidgets.QFrame):
    """One rule: its kind and the fields that kind needs."""

    changed = QtCore.Signal()
    moveRequested = QtCore.Signal(object, int)
    removeRequested = QtCore.Signal(object)

    def __init__(
        self, data: Any, known: Mapping[str, Sequence[str]], explain: ExplainFn | None
    ) -> None:
        super().__init__()
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setObjectName("ruleRow")
        self.known = known
        self.explain = explain
        self.original: Any = copy.deepcopy(data)
        self.editors: dict[str, FieldEditor] = {}
        self._loading = False
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(3)
        head = QtWidgets.QHBoxLayout()
        self.caption = QtWidgets.QLabel()
        self.caption.setStyleSheet("font-weight: bold;")
        self.kind = QtWidgets.QComboBox()
        self.kind.setToolTip(t("field.kind"))
        for kind in RULE_KINDS:
            self.kind.addItem(t(f"kind.{kind}"), kind)
        head.addWidget(self.caption)
        head.addWidget(self.kind, 1)
        self.up_button = self._tool("↑", t("up"))
        self.down_button = self._tool("↓", t("down"))
        self.remove_button = self._tool("✕", t("remove"))
        for button in (self.up_button, self.down_button, self.remove_button):
            head.addWidget(button)
        layout.addLayout(head)
        self.body = QtWidgets.QWidget()
        layout.addWidget(self.body)
        self._layout = layout
        self.error = QtWidgets.QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d03030; font-size: 11px;")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        self.up_button.clicked.connect(lambda: self.moveRequested.emit(self, -1))
        self.down_button.clicked.connect(lambda: self.moveRequested.emit(self, 1))
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))
        self.kind.currentIndexChanged.connect(self._on_kind)
        self._build()

    @staticmethod
    def _tool(text: str, tip: str) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    def rule_kind(self) -> str | None:
        """The kind shown: a known one, or None for an unknown / malformed rule."""
        kind = self.original.get("kind") if isinstance(self.original, dict) else None
        return kind if kind in RULE_MODELS else None

    # -- building -------------------------------------------------------------------------

    def _build(self) -> None:
        self._loading = True
        try:
            kind = self.rule_kind()
            self.kind.blockSignals(True)
            if kind is None:
                raw_kind = self.original.get("kind") if isinstance(self.original, dict) else None
                label = str(raw_kind) if raw_kind is not None else "?"
                if self.kind.findData("__unknown__") < 0:
                    self.kind.addItem(label, "__unknown__")
                self.kind.setCurrentIndex(self.kind.findData("__unknown__"))
            else:
                self.kind.setCurrentIndex(self.kind.findData(kind))
            self.kind.blockSignals(False)
            body = QtWidgets.QWidget()
            self._layout.replaceWidget(self.body, body)
            self.body.setParent(None)
            self.body.deleteLater()
            self.body = body
            self.editors = {}
            form = QtWidgets.QFormLayout(self.body)
            form.setContentsMargins(0, 0, 0, 0)
            form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
            form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            if kind is None:
                raw_kind = self.original.get("kind") if isinstance(self.original, dict) else None
                note = QtWidgets.QLabel(t("unknown_kind", kind=raw_kind))
                note.setWordWrap(True)
                form.addRow(note)
                self._add(form, "", JsonField())
                self.editors[""].set_value(self.original)
                return
            for name, editor in self._editors_for(kind):
                self._add(form, name, editor)
                editor.set_value(self.original.get(name, rule_defaults(kind).get(name)))
            if kind == "datetime":
                hint = QtWidgets.QLabel(t("datetime_hint"))
                hint.setWordWrap(True)
                hint.setStyleSheet("color: gray; font-size: 11px;")
                form.addRow(hint)
            if kind == "variable":
                self._update_value_enabled()
        finally:
            self._loading = False

    def _add(self, form: QtWidgets.QFormLayout, name: str, editor: FieldEditor) -> None:
        self.editors[name] = editor
        if name in ("", "match"):
            if name == "match":
                form.addRow(QtWidgets.QLabel(t("field.match")))
            form.addRow(editor)
        else:
            form.addRow(t(f"field.{name}"), editor)
        editor.edited.connect(lambda n=name: self._on_field(n))

    def _editors_for(self, kind: str) -> list[tuple[str, FieldEditor]]:
        if kind in ("has_tag", "no_tag"):
            return [
                (
                    "tag",
                    LineField(
                        completions=self.known.get("tags", ()), placeholder=t("tag_placeholder")
                    ),
                )
            ]
        if kind == "variable":
            return [
                (
                    "name",
                    LineField(
                        completions=self.known.get("variables", ()),
                        placeholder=t("variable_placeholder"),
                    ),
                ),
                ("op", ChoiceField(OPERATORS, labels=lambda op: t(f"op.{op}"))),
                ("value", LineField()),
            ]
        if kind == "datetime":
            return [
                ("weekdays", WeekdaysField()),
                ("from_time", TimeField(optional=True)),
                ("to_time", TimeField(optional=True)),
                ("date_from", DateField()),
                ("date_to", DateField()),
            ]
        if kind == "purchased":
            return [
                (
                    "product",
                    LineField(
                        completions=self.known.get("products", ()),
                        placeholder=t("product_placeholder"),
                    ),
                )
            ]
        if kind == "reply_text":
            phrases = StringListField()
            match = MatchField(lambda: [str(p) for p in phrases.value()], self.explain)
            return [("phrases", phrases), ("match", match)]
        raise KeyError(kind)

    # -- editing --------------------------------------------------------------------------

    def _on_kind(self, _index: int) -> None:
        kind = self.kind.currentData()
        if kind not in RULE_MODELS or kind == self.rule_kind():
            return
        self.original = rule_defaults(kind)
        self._build()
        self.changed.emit()

    def _on_field(self, name: str) -> None:
        if self._loading:
            return
        if name == "op":
            self._update_value_enabled()
        if name == "phrases" and isinstance(self.editors.get("match"), MatchField):
            match = self.editors["match"]
            assert isinstance(match, MatchField)
            match.run_test()
        self.changed.emit()

    def _update_value_enabled(self) -> None:
        value = self.editors.get("value")
        op = self.editors.get("op")
        if isinstance(value, LineField) and op is not None:
            exists = op.value() == "exists"
            value.setEnabled(not exists)
            value.edit.setPlaceholderText(t("value_exists") if exists else "")

    def value(self) -> Any:
        kind = self.rule_kind()
        if kind is None:
            return self.editors[""].value() if "" in self.editors else self.original
        assert isinstance(self.original, dict)
        out = copy.deepcopy(self.original)
        defaults = rule_defaults(kind)
        for name, editor in self.editors.items():
            new = editor.value()
            if name not in self.original and new == defaults.get(name):
                continue
            out[name] = new
        return out

    def set_number(self, n: int, count: int) -> None:
        self.caption.setText(t("rule", n=n))
        self.up_button.setEnabled(n > 1)
        self.down_button.setEnabled(n < count)

    def set_errors(self, errors: list[str]) -> None:
        self.error.setText("\n".join(errors))
        self.error.setVisible(bool(errors))


class ConditionRulesField(RowList, FieldEditor):
    """All rules of a condition: add (by kind), edit, reorder, remove.

    ``known``: completion lists (``tags``, ``products``, ``variables``), read when a row is
    built, so lists set later on the panel are used."""

    def __init__(
        self, known: Mapping[str, Sequence[str]] | None = None, explain: ExplainFn | None = None
    ) -> None:
        super().__init__()
        self.known: Mapping[str, Sequence[str]] = known if known is not None else {}
        self.explain = explain
        self.rows: list[RuleRow] = []
        self._raw: Any = None  # a value that is not a list: kept until the user edits
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.empty = QtWidgets.QLabel(t("empty"))
        self.empty.setStyleSheet("color: gray;")
        layout.addWidget(self.empty)
        self.rows_box = QtWidgets.QVBoxLayout()
        self.rows_box.setSpacing(6)
        layout.addLayout(self.rows_box)
        self.list_error = QtWidgets.QLabel()
        self.list_error.setStyleSheet("color: #d03030; font-size: 11px;")
        self.list_error.setVisible(False)
        layout.addWidget(self.list_error)
        self.add_button = QtWidgets.QPushButton(t("add"))
        menu = QtWidgets.QMenu(self.add_button)
        for kind in RULE_KINDS:
            action = menu.addAction(t(f"kind.{kind}"))
            action.triggered.connect(lambda _c=False, k=kind: self.add_rule(k))
        self.add_button.setMenu(menu)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.add_button)
        row.addStretch(1)
        layout.addLayout(row)
        self._update_rows()

    def add_rule(self, kind: str) -> RuleRow:
        """Append a new rule of ``kind`` (its required fields empty)."""
        row = self._append(rule_defaults(kind))
        self._changed()
        return row

    def _append(self, data: Any) -> RuleRow:
        row = RuleRow(data, self.known, self.explain)
        row.changed.connect(self._changed)
        row.moveRequested.connect(self.move_row)
        row.removeRequested.connect(self.remove_row)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._update_rows()
        return row

    def _update_rows(self) -> None:
        self.empty.setVisible(not self.rows)
        for i, row in enumerate(self.rows):
            row.set_number(i + 1, len(self.rows))

    def _changed(self) -> None:
        self._raw = None
        self._update_rows()
        self._emit()

    def value(self) -> Any:
        if self._raw is not None:
            return self._raw
        return [row.value() for row in self.rows]

    def _show(self, value: Any) -> None:
        self._clear_rows()
        self._raw = value if value is not None and not isinstance(value, list) else None
        for item in value if isinstance(value, list) else []:
            self._append(item)
        self._update_rows()

    def show_item_errors(self, errors: Sequence[tuple[Sequence[str], str]]) -> list[str]:
        by_row: dict[int, list[str]] = {}
        list_errors: list[str] = []
        rest: list[str] = []
        for path, text in errors:
            if path and path[0].isdigit() and int(path[0]) < len(self.rows):
                fields = list(path[1:])
                if fields and fields[0] in RULE_MODELS:  # pydantic names the union member
                    fields = fields[1:]
                field = fields[0] if fields else ""
                label = t(f"field.{field}") if field in _FIELD_LABELS else ".".join(fields)
                by_row.setdefault(int(path[0]), []).append(f"{label}: {text}" if label else text)
            elif not path:
                list_errors.append(t("need_one") if not self.rows else text)
            else:
                rest.append(f"{'.'.join(path)}: {text}")
        self.list_error.setText("\n".join(list_errors))
        self.list_error.setVisible(bool(list_errors))
        for i, row in enumerate(self.rows):
            row.set_errors(by_row.get(i, []))
        return rest

    def shown_errors(self) -> list[str]:
        shown = [self.list_error.text()] if self.list_error.isVisibleTo(self) else []
        return shown + [
            f"{t('rule', n=i + 1)}: {row.error.text()}"
            for i, row in enumerate(self.rows)
            if row.error.text()
        ]

    def row_errors(self) -> dict[int, str]:
        """Row index → the errors shown in that row."""
        return {i: row.error.text() for i, row in enumerate(self.rows) if row.error.text()}


_FIELD_LABELS = frozenset(
    {
        "tag",
        "name",
        "op",
        "value",
        "weekdays",
        "from_time",
        "to_time",
        "date_from",
        "date_to",
        "product",
        "phrases",
        "match",
        "kind",
    }
)


def combine_label(value: str) -> str:
    """The label of a ``combine`` value ("all" / "any")."""
    return t(f"combine.{value}")
