"""The properties panel: a form built from the selected node type's pydantic model.

Edits are sent as ``propsEdited(uuid, props)`` (the editor writes them back as one undoable
step) and the whole props dict is validated after each edit: errors show under their field
(the first part of pydantic's error path, e.g. ``buttons.0.id`` under "buttons"), and so do
the cross-field issues of valid properties.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterable, Sequence
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from PySide6 import QtCore, QtWidgets

from desktop.editor import icons, style
from desktop.editor.properties.condition_editor import ConditionRulesField, combine_label
from desktop.editor.properties.fields import (
    BoolField,
    ChoiceField,
    DurationField,
    FieldEditor,
    FloatField,
    IntField,
    JsonField,
    LineField,
    StringListField,
    TableField,
    TextField,
    TimeField,
    WeekdaysField,
)
from desktop.editor.properties.match_editor import ExplainFn, MatchField
from desktop.editor.properties.media_editor import (
    ChooseFiles,
    FetchMedia,
    MediaField,
    UploadMedia,
    choose_files_dialog,
)
from desktop.i18n import has, language, tr
from graph.matchspec import MatchSpec
from graph.node_type import NodeType
from graph.node_types import find_type
from graph.timing import Duration

__all__ = ["ChooseFiles", "ExplainFn", "PropertiesPanel", "error_text_ru"]

FIELD_ORDER: dict[str, tuple[str, ...]] = {"condition": ("combine", "rules")}
"""Fields shown before the others of a type (the combinator above the rule list)."""

_ERRORS_RU: dict[str, str] = {
    "missing": "Обязательное поле",
    "string_too_short": "Поле не может быть пустым",
    "string_too_long": "Слишком длинно (не больше {max_length})",
    "too_short": "Нужно хотя бы {min_length}",
    "too_long": "Не больше {max_length}",
    "string_pattern_mismatch": "Неверный формат",
    "greater_than_equal": "Должно быть не меньше {ge}",
    "less_than_equal": "Должно быть не больше {le}",
    "greater_than": "Должно быть больше {gt}",
    "less_than": "Должно быть меньше {lt}",
    "int_parsing": "Нужно целое число",
    "int_type": "Нужно целое число",
    "bool_type": "Нужно да/нет",
    "string_type": "Нужен текст",
    "list_type": "Нужен список",
    "literal_error": "Недопустимое значение",
    "enum": "Недопустимое значение",
    "extra_forbidden": "Лишнее поле",
    "uuid_parsing": "Неверный UUID",
    "date_from_datetime_parsing": "Неверная дата",
    "date_parsing": "Неверная дата",
    "union_tag_invalid": "Неизвестный вид правила",
    "union_tag_not_found": "Не указан вид правила",
}


def error_text_ru(err: dict[str, Any]) -> str:
    """A pydantic error in Russian (English message when the type is not known)."""
    template = _ERRORS_RU.get(str(err.get("type")))
    if template is None:
        return str(err.get("msg", ""))
    try:
        return template.format(**(err.get("ctx") or {}))
    except (KeyError, IndexError):
        return template


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """(base type, optional, metadata) of an annotation (Annotated / Optional peeled)."""
    optional = False
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            args = get_args(annotation)
            annotation = args[0]
            metadata.extend(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) < len(get_args(annotation)):
                optional = True
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation, optional, metadata


def _bound(metadata: Iterable[Any], name: str) -> Any:
    for item in metadata:
        items = item.metadata if isinstance(item, FieldInfo) else [item]
        for m in items:
            if hasattr(m, name):
                return getattr(m, name)
    return None


def _field_label(name: str) -> str:
    key = f"field.{name}"
    return tr(key) if has(key) else name


class PropertiesPanel(QtWidgets.QWidget):
    """Shows one node's properties. ``show_node({"uuid", "type", "props", "title"})``.

    ``choose_media_files(parent) -> paths`` asks for media files (a file dialog; tests
    replace it). ``media_root``: the project's media folder, where relative media paths
    are looked up. ``local_files_reachable``: False when the engine runs on another
    machine and cannot read this computer's files (the media picker then says so).
    ``upload_media(path, progress) -> source``: stores a picked file in the project's
    media (set by the main window); None keeps absolute paths. ``fetch_media(source) ->
    bytes``: previews of media stored on a server.
    """

    propsEdited = QtCore.Signal(str, dict)
    titleEdited = QtCore.Signal(str, str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 explain: ExplainFn | None = None, known_tags: Iterable[str] = ()) -> None:
        super().__init__(parent)
        self.explain = explain
        self.known: dict[str, list[str]] = {"tags": sorted(set(known_tags))}
        self.current_uuid: str | None = None
        self.is_committing = False
        self.choose_media_files: ChooseFiles = choose_files_dialog
        self.media_root: Path | None = None
        self.local_files_reachable = True
        self.upload_media: UploadMedia | None = None
        self.fetch_media: FetchMedia | None = None
        self._type: NodeType | None = None
        self._type_id = ""
        self._props: dict[str, Any] = {}
        self.editors: dict[str, FieldEditor] = {}
        self.errors: dict[str, QtWidgets.QLabel] = {}
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._body: QtWidgets.QWidget | None = None
        self.show_node(None)

    def set_known(self, **values: Iterable[str]) -> None:
        """Completion lists: ``tags``, ``products``, ``funnels``, ``bot_roles``, ``accounts``."""
        for key, items in values.items():
            self.known[key] = sorted(set(items))

    # -- building ------------------------------------------------------------------------

    def _clear(self) -> None:
        if self._body is not None:
            self._body.setParent(None)
            self._body.deleteLater()
        self._body = QtWidgets.QWidget()
        self._layout.addWidget(self._body)
        self.editors = {}
        self.errors = {}

    def show_node(self, data: dict[str, Any] | None, count: int = 0) -> None:
        """Show a node (or an empty hint when ``data`` is None; ``count`` selected)."""
        if data is not None and data["uuid"] == self.current_uuid and data["type"] == self._type_id:
            self._props = copy.deepcopy(data["props"])
            self._title_edit_set(data.get("title", ""))
            for name, editor in self.editors.items():
                editor.set_value(self._props.get(name))
            self._validate()
            return
        self._clear()
        assert self._body is not None
        layout = QtWidgets.QVBoxLayout(self._body)
        layout.setContentsMargins(0, 0, 0, 0)
        if data is None:
            self.current_uuid = None
            self._type = None
            self._type_id = ""
            hint = QtWidgets.QLabel(
                tr("properties.many", n=count) if count > 1 else tr("properties.empty")
            )
            hint.setWordWrap(True)
            hint.setStyleSheet("color: gray;")
            layout.addWidget(hint)
            layout.addStretch(1)
            return
        self.current_uuid = str(data["uuid"])
        self._type_id = str(data["type"])
        self._type = find_type(self._type_id)
        self._props = copy.deepcopy(data["props"])
        self._build(layout, data.get("title", ""))
        self._validate()

    def _title_edit_set(self, title: str) -> None:
        edit = getattr(self, "title_edit", None)
        if isinstance(edit, QtWidgets.QLineEdit) and edit.text() != title:
            edit.setText(title)

    def _build(self, layout: QtWidgets.QVBoxLayout, title: str) -> None:
        node_type = self._type
        lang = language()
        category = node_type.category.value if node_type else None
        header = QtWidgets.QFrame()
        header.setObjectName("propertiesHeader")
        header.setStyleSheet(
            f"#propertiesHeader {{ background: rgb{style.category_color(category)};"
            "border-radius: 6px; }"
        )
        row = QtWidgets.QHBoxLayout(header)
        row.setContentsMargins(8, 5, 8, 5)
        glyph = QtWidgets.QLabel()
        glyph.setPixmap(icons.glyph(category, 18))
        self.header_title = QtWidgets.QLabel(node_type.title.get(lang) if node_type else self._type_id)
        self.header_title.setStyleSheet("color: white; font-weight: bold; font-size: 14px;")
        row.addWidget(glyph)
        row.addWidget(self.header_title, 1)
        layout.addWidget(header)
        if node_type is not None:
            docs = QtWidgets.QLabel(node_type.docs.get(lang))
            docs.setWordWrap(True)
            docs.setStyleSheet("color: gray; font-size: 11px;")
            layout.addWidget(docs)

        form = QtWidgets.QFormLayout()
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(form)

        self.title_edit = QtWidgets.QLineEdit(title)
        default_title = node_type.title.get(lang) if node_type else self._type_id
        self.title_edit.setPlaceholderText(tr("properties.node_title_placeholder", title=default_title))
        self.title_edit.editingFinished.connect(self._on_title)
        form.addRow(tr("properties.node_title"), self.title_edit)

        if node_type is None:
            note = QtWidgets.QLabel(tr("properties.unknown_type", type=self._type_id))
            note.setWordWrap(True)
            form.addRow(note)
            editor = JsonField()
            self._add_row(form, "__all__", tr("properties.json"), editor)
            editor.set_value(self._props)
            return
        fields = node_type.props_model.model_fields
        first = [n for n in FIELD_ORDER.get(node_type.id, ()) if n in fields]
        for name in [*first, *(n for n in fields if n not in first)]:
            info = fields[name]
            key = info.alias or name
            field_editor = self._make_editor(node_type, key, info)
            label = "" if isinstance(field_editor, BoolField) else _field_label(key)
            self._add_row(form, key, label, field_editor)
            field_editor.set_value(self._props.get(key))
        layout.addStretch(1)

    def _add_row(self, form: QtWidgets.QFormLayout, key: str, label: str, editor: FieldEditor) -> None:
        box = QtWidgets.QWidget()
        inner = QtWidgets.QVBoxLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(2)
        inner.addWidget(editor)
        error = QtWidgets.QLabel()
        error.setWordWrap(True)
        error.setStyleSheet("color: #d03030; font-size: 11px;")
        error.setVisible(False)
        inner.addWidget(error)
        if label:
            form.addRow(label, box)
        else:
            form.addRow(box)
        self.editors[key] = editor
        self.errors[key] = error
        editor.edited.connect(lambda k=key: self._on_edited(k))

    def _make_editor(self, node_type: NodeType, name: str, info: FieldInfo) -> FieldEditor:
        base, optional, metadata = _unwrap(info.annotation)
        metadata = [*metadata, *info.metadata]
        type_id = node_type.id
        if name == "text" and type_id == "message":
            return TextField(preview=True)
        if name == "text":
            return TextField(preview=False)
        if name == "tags" or name == "except_funnels":
            known = self.known.get("tags" if name == "tags" else "funnels", [])
            return StringListField(known, tr("editor.tag_placeholder") if name == "tags" else "")
        if name in ("tag", "product", "funnel", "bot_role", "account"):
            lists = {"tag": "tags", "product": "products", "funnel": "funnels",
                     "bot_role": "bot_roles", "account": "accounts"}
            return LineField(optional=optional, completions=self.known.get(lists[name], []))
        if base is MatchSpec:
            return MatchField(self._current_phrases, self.explain)
        if base is Duration:
            return DurationField()
        if name == "buttons":
            return TableField(
                [("id", tr("editor.button_id"), None), ("text", tr("editor.button_text"), None),
                 ("kind", tr("editor.button_kind"), ["callback", "url"]),
                 ("url", tr("editor.button_url"), None)],
                {"id": "b1", "text": "Кнопка" if language() == "ru" else "Button",
                 "kind": "callback", "url": None},
            )
        if name == "media" and type_id == "message":
            return MediaField(lambda parent: self.choose_media_files(parent),
                              media_root=self.media_root,
                              local_files_reachable=self.local_files_reachable,
                              upload=self.upload_media, fetch=self.fetch_media)
        if name == "rules" and type_id == "condition":
            return ConditionRulesField(self.known, self.explain)
        if name == "combine" and type_id == "condition":
            return ChoiceField(["all", "any"], labels=combine_label)
        if name == "branches":
            return TableField(
                [("key", tr("editor.branch_key"), None), ("weight", tr("editor.branch_weight"), None)],
                {"key": "c", "weight": 1}, int_columns=["weight"],
            )
        if name == "weekdays":
            return WeekdaysField()
        if name == "time":
            return TimeField(optional=optional)
        if base is bool:
            return BoolField(_field_label(name))
        if base is int:
            low = _bound(metadata, "ge")
            high = _bound(metadata, "le")
            return IntField(int(low) if low is not None else 0,
                            int(high) if high is not None else 1_000_000, optional=optional)
        if base is float:
            return FloatField(optional=optional)
        if get_origin(base) is Literal:
            return ChoiceField([str(a) for a in get_args(base)], optional=optional)
        if isinstance(base, type) and issubclass(base, Enum):
            return ChoiceField([str(m.value) for m in base], optional=optional)
        if get_origin(base) is list:
            (item,) = get_args(base) or (str,)
            item_base, _, _ = _unwrap(item)
            if item_base is str:
                return StringListField()
            return JsonField()
        if base in (str, UUID, date):
            return LineField(optional=optional)
        if isinstance(base, type) and issubclass(base, BaseModel):
            return JsonField()
        return JsonField()

    def _current_phrases(self) -> list[str]:
        editor = self.editors.get("phrases")
        value = editor.value() if editor is not None else self._props.get("phrases", [])
        return [str(v) for v in value] if isinstance(value, list) else []

    # -- editing -------------------------------------------------------------------------

    def _on_title(self) -> None:
        if self.current_uuid is None:
            return
        self.is_committing = True
        try:
            self.titleEdited.emit(self.current_uuid, self.title_edit.text().strip())
        finally:
            self.is_committing = False

    def _on_edited(self, key: str) -> None:
        if self.current_uuid is None:
            return
        value = self.editors[key].value()
        if key == "__all__":
            if not isinstance(value, dict):
                self._show_error(key, tr("properties.json_invalid"))
                return
            self._props = value
        else:
            self._props[key] = value
        if key == "phrases" and isinstance(self.editors.get("match"), MatchField):
            self.editors["match"].run_test()  # type: ignore[attr-defined]
        self._validate()
        self.commit()

    def commit(self) -> None:
        """Send the current properties to the editor."""
        if self.current_uuid is None:
            return
        self.is_committing = True
        try:
            self.propsEdited.emit(self.current_uuid, copy.deepcopy(self._props))
        finally:
            self.is_committing = False

    def props(self) -> dict[str, Any]:
        return copy.deepcopy(self._props)

    def _show_error(self, key: str, text: str) -> None:
        label = self.errors.get(key)
        if label is not None:
            label.setText(text)
            label.setVisible(bool(text))

    def _validate(self) -> dict[str, str]:
        """Show the errors of the current props under their fields (an editor that shows
        items, like the rule form, puts an item's errors beside it); returns them."""
        found: dict[str, list[tuple[list[str], str]]] = {}
        node_type = self._type
        if node_type is not None:
            try:
                parsed = node_type.parse_props(self._props)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    loc = [str(p) for p in err["loc"]]
                    key = loc[0] if loc else "__all__"
                    text = err["msg"] if language() == "en" else error_text_ru(dict(err))
                    found.setdefault(key, []).append((loc[1:], text))
            else:
                for issue in parsed.issues():
                    key, _, rest = issue.field.partition(".")
                    text = issue.message if language() == "en" else issue.message_ru
                    found.setdefault(key, []).append((rest.split(".") if rest else [], text))
        shown: dict[str, str] = {}
        for key in self.errors:
            editor = self.editors.get(key)
            errors: Sequence[tuple[list[str], str]] = found.get(key, [])
            if editor is not None:
                lines = editor.show_item_errors(errors)
            else:
                lines = [f"{'.'.join(p)}: {t}" if p else t for p, t in errors]
            if lines:
                shown[key] = "\n".join(lines)
            self._show_error(key, shown.get(key, ""))
        return shown

    def field_errors(self) -> dict[str, str]:
        """The errors shown now, by field (under the field or beside its items)."""
        shown: dict[str, str] = {}
        for key, label in self.errors.items():
            editor = self.editors.get(key)
            lines = [label.text()] if label.text() and not label.isHidden() else []
            lines += editor.shown_errors() if editor is not None else []
            if lines:
                shown[key] = "\n".join(lines)
        return shown

