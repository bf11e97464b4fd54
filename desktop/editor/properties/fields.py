"""Field editors: one widget per kind of property value.

Every editor is a :class:`FieldEditor`: ``value()`` gives a plain JSON value,
``set_value(v)`` shows one (without emitting), and ``edited`` fires when the user commits
a change (Enter, focus out, a click, or a short pause while typing long text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from desktop.i18n import choice_label, tr, weekday_label

TYPING_PAUSE_MS = 700


class FieldEditor(QtWidgets.QWidget):
    edited = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        self._loading = True
        try:
            self._show(value)
        finally:
            self._loading = False

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _emit(self, *_args: Any) -> None:
        if not self._loading:
            self.edited.emit()

    def show_item_errors(self, errors: Sequence[tuple[Sequence[str], str]]) -> list[str]:
        """Errors of this value by path inside it (``(["0", "tag"], text)``). An editor
        that can show some of them beside their item does so; the rest are returned for
        the panel to show under the field."""
        return [f"{'.'.join(path)}: {text}" if path else text for path, text in errors]

    def shown_errors(self) -> list[str]:
        """Errors this editor shows itself (beside items), for tests and summaries."""
        return []


def _hbox(widget: QtWidgets.QWidget) -> QtWidgets.QHBoxLayout:
    layout = QtWidgets.QHBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    return layout


def _vbox(widget: QtWidgets.QWidget) -> QtWidgets.QVBoxLayout:
    layout = QtWidgets.QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    return layout


class LineField(FieldEditor):
    """One line of text; ``optional``: empty means None. ``completions``: suggestions."""

    def __init__(self, optional: bool = False, completions: Iterable[str] = (),
                 placeholder: str = "") -> None:
        super().__init__()
        self.optional = optional
        self.edit = QtWidgets.QLineEdit()
        self.edit.setPlaceholderText(placeholder or (tr("editor.not_set") if optional else ""))
        words = sorted(set(completions))
        if words:
            completer = QtWidgets.QCompleter(words, self.edit)
            completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(QtCore.Qt.MatchFlag.MatchContains)
            self.edit.setCompleter(completer)
        _hbox(self).addWidget(self.edit)
        self.edit.editingFinished.connect(self._commit)
        self._last: Any = None

    def _commit(self) -> None:
        if self.value() != self._last:
            self._last = self.value()
            self._emit()

    def value(self) -> Any:
        text = self.edit.text()
        return None if self.optional and not text.strip() else text

    def _show(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))
        self._last = self.value()


def telegram_html_to_rich(text: str) -> str:
    """Telegram's HTML subset → Qt rich text for the preview (newlines kept)."""
    rich = text.replace("\n", "<br>")
    rich = re.sub(r"<tg-spoiler>(.*?)</tg-spoiler>",
                  r'<span style="background:#888;color:#888">\1</span>', rich, flags=re.S)
    rich = re.sub(r'<span class="tg-spoiler">(.*?)</span>',
                  r'<span style="background:#888;color:#888">\1</span>', rich, flags=re.S)
    rich = re.sub(r"</?tg-emoji[^>]*>", "", rich)
    rich = re.sub(r"\{\{\s*(\w+)\s*\}\}", r'<span style="color:#2a7ae2">{{\1}}</span>', rich)
    return rich


class TextField(FieldEditor):
    """Multi-line text with Telegram HTML formatting buttons and a live preview."""

    def __init__(self, preview: bool = True) -> None:
        super().__init__()
        layout = _vbox(self)
        bar = QtWidgets.QHBoxLayout()
        bar.setSpacing(2)
        self.buttons: dict[str, QtWidgets.QToolButton] = {}
        for key, tag in (("editor.format_bold", "b"), ("editor.format_italic", "i"),
                         ("editor.format_underline", "u"), ("editor.format_code", "code"),
                         ("editor.format_link", "a")):
            button = QtWidgets.QToolButton()
            button.setText(tr(key))
            button.setToolTip(f"<{tag}>")
            button.clicked.connect(lambda _c=False, t=tag: self.wrap_selection(t))
            bar.addWidget(button)
            self.buttons[tag] = button
        bar.addStretch(1)
        self.counter = QtWidgets.QLabel()
        self.counter.setStyleSheet("color: gray;")
        bar.addWidget(self.counter)
        layout.addLayout(bar)
        self.edit = QtWidgets.QPlainTextEdit()
        self.edit.setMinimumHeight(110)
        self.edit.setTabChangesFocus(True)
        layout.addWidget(self.edit)
        self.preview: QtWidgets.QLabel | None = None
        if preview:
            caption = QtWidgets.QLabel(tr("editor.preview"))
            caption.setStyleSheet("color: gray; font-size: 11px;")
            layout.addWidget(caption)
            self.preview = QtWidgets.QLabel()
            self.preview.setWordWrap(True)
            self.preview.setTextFormat(QtCore.Qt.TextFormat.RichText)
            self.preview.setOpenExternalLinks(False)
            self.preview.setStyleSheet(
                "background: #e8f1fb; color: #111; border-radius: 8px; padding: 8px;"
            )
            self.preview.setMinimumHeight(40)
            layout.addWidget(self.preview)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TYPING_PAUSE_MS)
        self._timer.timeout.connect(self.commit)
        self.edit.textChanged.connect(self._on_text)
        self.edit.installEventFilter(self)
        self._last = ""

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self.edit and event.type() == QtCore.QEvent.Type.FocusOut:
            self.commit()
        return False

    def _on_text(self) -> None:
        self._update_preview()
        if not self._loading:
            self._timer.start()

    def _update_preview(self) -> None:
        text = self.edit.toPlainText()
        self.counter.setText(str(len(text)))
        if self.preview is not None:
            self.preview.setText(telegram_html_to_rich(text))

    def commit(self) -> None:
        self._timer.stop()
        if self.value() != self._last:
            self._last = self.value()
            self._emit()

    def wrap_selection(self, tag: str) -> None:
        cursor = self.edit.textCursor()
        selected = cursor.selectedText().replace("\u2029", "\n")
        opening = '<a href="https://">' if tag == "a" else f"<{tag}>"
        cursor.insertText(f"{opening}{selected}</{tag}>")
        self.commit()

    def value(self) -> Any:
        return self.edit.toPlainText()

    def _show(self, value: Any) -> None:
        self.edit.setPlainText("" if value is None else str(value))
        self._last = self.value()
        self._update_preview()


class BoolField(FieldEditor):
    def __init__(self, label: str = "") -> None:
        super().__init__()
        self.box = QtWidgets.QCheckBox(label)
        _hbox(self).addWidget(self.box)
        self.box.toggled.connect(self._emit)

    def value(self) -> Any:
        return self.box.isChecked()

    def _show(self, value: Any) -> None:
        self.box.setChecked(bool(value))


class IntField(FieldEditor):
    """An int spin box; ``optional`` adds a "not set" value below the minimum."""

    def __init__(self, minimum: int = 0, maximum: int = 1_000_000, optional: bool = False,
                 suffix: str = "") -> None:
        super().__init__()
        self.optional = optional
        self.spin = QtWidgets.QSpinBox()
        self.spin.setRange(minimum - 1 if optional else minimum, maximum)
        if optional:
            self.spin.setSpecialValueText(tr("editor.not_set"))
        if suffix:
            self.spin.setSuffix(suffix)
        self.spin.setKeyboardTracking(False)
        _hbox(self).addWidget(self.spin)
        self.spin.valueChanged.connect(self._emit)

    def value(self) -> Any:
        if self.optional and self.spin.value() == self.spin.minimum():
            return None
        return self.spin.value()

    def _show(self, value: Any) -> None:
        if value is None or not isinstance(value, int | float):
            self.spin.setValue(self.spin.minimum())
        else:
            self.spin.setValue(int(value))


class FloatField(FieldEditor):
    def __init__(self, minimum: float = -1e9, maximum: float = 1e9, optional: bool = False) -> None:
        super().__init__()
        self.optional = optional
        self.spin = QtWidgets.QDoubleSpinBox()
        self.spin.setDecimals(2)
        self.spin.setRange(minimum - 1 if optional else minimum, maximum)
        if optional:
            self.spin.setSpecialValueText(tr("editor.not_set"))
        self.spin.setKeyboardTracking(False)
        _hbox(self).addWidget(self.spin)
        self.spin.valueChanged.connect(self._emit)

    def value(self) -> Any:
        if self.optional and self.spin.value() == self.spin.minimum():
            return None
        return self.spin.value()

    def _show(self, value: Any) -> None:
        self.spin.setValue(self.spin.minimum() if value is None else float(value))


class ChoiceField(FieldEditor):
    """A combo box of Literal / enum values (human labels); ``optional`` adds "not set";
    ``labels`` overrides the shared labels of :func:`desktop.i18n.choice_label`."""

    def __init__(self, choices: Sequence[str], optional: bool = False,
                 labels: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.combo = QtWidgets.QComboBox()
        if optional:
            self.combo.addItem(tr("editor.not_set"), None)
        label = labels or choice_label
        for choice in choices:
            self.combo.addItem(label(choice), choice)
        _hbox(self).addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._emit)

    def value(self) -> Any:
        return self.combo.currentData()

    def _show(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0 and value is not None:  # a value this app does not know: keep it
            self.combo.addItem(str(value), value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(max(index, 0))


class StringListField(FieldEditor):
    """A list of strings (phrases, tags): type + Enter adds, × removes; ``completions``
    suggests known values (a tag picker) but new ones are allowed."""

    def __init__(self, completions: Iterable[str] = (), placeholder: str = "") -> None:
        super().__init__()
        layout = _vbox(self)
        self.list = QtWidgets.QListWidget()
        self.list.setMaximumHeight(120)
        self.list.setAlternatingRowColors(True)
        row = QtWidgets.QHBoxLayout()
        self.input = QtWidgets.QLineEdit()
        self.input.setPlaceholderText(placeholder or tr("editor.phrase_placeholder"))
        words = sorted(set(completions))
        if words:
            completer = QtWidgets.QCompleter(words, self.input)
            completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(QtCore.Qt.MatchFlag.MatchContains)
            self.input.setCompleter(completer)
        self.remove_button = QtWidgets.QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip(tr("editor.remove"))
        row.addWidget(self.input, 1)
        row.addWidget(self.remove_button)
        layout.addWidget(self.list)
        layout.addLayout(row)
        self.input.returnPressed.connect(self.add_from_input)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemChanged.connect(self._emit)
        self._update_height()

    def _update_height(self) -> None:
        rows = max(1, min(self.list.count(), 5))
        self.list.setFixedHeight(rows * 22 + 6)

    def add(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        self._append(text)
        self._update_height()
        self._emit()

    def _append(self, text: str) -> None:
        item = QtWidgets.QListWidgetItem(text)
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
        self.list.addItem(item)

    def add_from_input(self) -> None:
        self.add(self.input.text())
        self.input.clear()

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._update_height()
            self._emit()

    def value(self) -> Any:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _show(self, value: Any) -> None:
        self.list.clear()
        for text in value if isinstance(value, list) else []:
            self._append(str(text))
        self._update_height()


class DurationField(FieldEditor):
    """Days / hours / minutes (seconds kept as they were)."""

    def __init__(self) -> None:
        super().__init__()
        layout = _hbox(self)
        self.days = QtWidgets.QSpinBox()
        self.days.setRange(0, 3650)
        self.hours = QtWidgets.QSpinBox()
        self.hours.setRange(0, 10_000)
        self.minutes = QtWidgets.QSpinBox()
        self.minutes.setRange(0, 100_000)
        self._seconds = 0
        for spin, key in ((self.days, "editor.days"), (self.hours, "editor.hours"),
                          (self.minutes, "editor.minutes")):
            spin.setKeyboardTracking(False)
            spin.setSuffix(" " + tr(key))
            spin.valueChanged.connect(self._emit)
            layout.addWidget(spin)

    def value(self) -> Any:
        return {"days": self.days.value(), "hours": self.hours.value(),
                "minutes": self.minutes.value(), "seconds": self._seconds}

    def _show(self, value: Any) -> None:
        value = value if isinstance(value, dict) else {}

        def part(key: str) -> int:
            v = value.get(key, 0)
            return v if isinstance(v, int) else 0

        self.days.setValue(part("days"))
        self.hours.setValue(part("hours"))
        self.minutes.setValue(part("minutes"))
        self._seconds = part("seconds")


class TimeField(FieldEditor):
    """A time of day "HH:MM"; ``optional`` adds a "set" check box. A stored value this
    editor cannot parse is kept until the user changes the time."""

    def __init__(self, optional: bool = False) -> None:
        super().__init__()
        layout = _hbox(self)
        self.optional = optional
        self.enabled = QtWidgets.QCheckBox()
        self.enabled.setVisible(optional)
        self.time = QtWidgets.QTimeEdit()
        self.time.setDisplayFormat("HH:mm")
        self.time.setKeyboardTracking(False)
        layout.addWidget(self.enabled)
        layout.addWidget(self.time, 1)
        self._raw: Any = None
        self.enabled.toggled.connect(self._on_toggle)
        self.time.timeChanged.connect(self._on_time)

    def _on_toggle(self, on: bool) -> None:
        self.time.setEnabled(on)
        if not self._loading:
            self._raw = None
        self._emit()

    def _on_time(self, _time: QtCore.QTime) -> None:
        if not self._loading:
            self._raw = None
        self._emit()

    def value(self) -> Any:
        if self._raw is not None:
            return self._raw
        if self.optional and not self.enabled.isChecked():
            return None
        return self.time.time().toString("HH:mm")

    def _show(self, value: Any) -> None:
        parsed = QtCore.QTime.fromString(str(value), "HH:mm") if value else QtCore.QTime(0, 0)
        self._raw = value if value and not parsed.isValid() else None
        self.enabled.setChecked(bool(value) or not self.optional)
        self.time.setEnabled(bool(value) or not self.optional)
        self.time.setTime(parsed if parsed.isValid() else QtCore.QTime(0, 0))


class DateField(FieldEditor):
    """A calendar date "YYYY-MM-DD"; ``optional`` adds a "set" check box (unset = None,
    shown as "not set"). A stored value this editor cannot parse is kept until the user
    changes the date."""

    _UNSET = QtCore.QDate(1900, 1, 1)  # shown as "not set"; no funnel date is that old

    def __init__(self, optional: bool = True) -> None:
        super().__init__()
        layout = _hbox(self)
        self.optional = optional
        self.enabled = QtWidgets.QCheckBox()
        self.enabled.setVisible(optional)
        self.date = QtWidgets.QDateEdit()
        self.date.setDisplayFormat("dd.MM.yyyy")
        self.date.setCalendarPopup(True)
        self.date.setKeyboardTracking(False)
        self.date.setMinimumDate(self._UNSET)
        if optional:
            self.date.setSpecialValueText(tr("editor.not_set"))
        layout.addWidget(self.enabled)
        layout.addWidget(self.date, 1)
        self._raw: Any = None
        self.enabled.toggled.connect(self._on_toggle)
        self.date.dateChanged.connect(self._on_date)

    def _on_toggle(self, on: bool) -> None:
        self.date.setEnabled(on)
        if not self._loading:
            self._raw = None
            loading, self._loading = self._loading, True
            self.date.setDate(QtCore.QDate.currentDate() if on else self._UNSET)
            self._loading = loading
        self._emit()

    def _on_date(self, _date: QtCore.QDate) -> None:
        if not self._loading:
            self._raw = None
        self._emit()

    def value(self) -> Any:
        if self._raw is not None:
            return self._raw
        if self.optional and not self.enabled.isChecked():
            return None
        return self.date.date().toString("yyyy-MM-dd")

    def _show(self, value: Any) -> None:
        parsed = QtCore.QDate.fromString(str(value), "yyyy-MM-dd") if value else QtCore.QDate()
        self._raw = value if value and not parsed.isValid() else None
        on = bool(value) or not self.optional
        self.enabled.setChecked(on)
        self.date.setEnabled(on)
        if parsed.isValid():
            self.date.setDate(parsed)
        else:
            self.date.setDate(QtCore.QDate.currentDate() if on else self._UNSET)


class WeekdaysField(FieldEditor):
    def __init__(self) -> None:
        super().__init__()
        layout = _hbox(self)
        self.boxes: list[QtWidgets.QCheckBox] = []
        for day in range(7):
            box = QtWidgets.QCheckBox(weekday_label(day))
            box.toggled.connect(self._emit)
            layout.addWidget(box)
            self.boxes.append(box)
        layout.addStretch(1)

    def value(self) -> Any:
        return [d for d, box in enumerate(self.boxes) if box.isChecked()]

    def _show(self, value: Any) -> None:
        days = set(value) if isinstance(value, list) else set()
        for d, box in enumerate(self.boxes):
            box.setChecked(d in days)


class TableField(FieldEditor):
    """Rows of small records (buttons, media, branches): columns of text or choices."""

    def __init__(self, columns: Sequence[tuple[str, str, Sequence[str] | None]],
                 new_row: dict[str, Any], int_columns: Sequence[str] = ()) -> None:
        super().__init__()
        self.columns = list(columns)  # (key, header, choices or None)
        self.int_columns = set(int_columns)
        self.new_row = new_row
        self._extra: list[dict[str, Any]] = []  # keys we do not show, kept per row
        layout = _vbox(self)
        self.table = QtWidgets.QTableWidget(0, len(self.columns))
        self.table.setHorizontalHeaderLabels([h for _, h, _ in self.columns])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.Stretch
        )
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        layout.addWidget(self.table)
        row = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton(tr("editor.add"))
        self.remove_button = QtWidgets.QPushButton(tr("editor.remove"))
        self.up_button = QtWidgets.QToolButton()
        self.up_button.setText("↑")
        self.up_button.setToolTip(tr("editor.up"))
        self.down_button = QtWidgets.QToolButton()
        self.down_button.setText("↓")
        self.down_button.setToolTip(tr("editor.down"))
        for w in (self.add_button, self.remove_button, self.up_button, self.down_button):
            row.addWidget(w)
        row.addStretch(1)
        layout.addLayout(row)
        self.add_button.clicked.connect(self.add_row)
        self.remove_button.clicked.connect(self.remove_row)
        self.up_button.clicked.connect(lambda: self.move_row(-1))
        self.down_button.clicked.connect(lambda: self.move_row(1))
        self.table.itemChanged.connect(self._emit)
        self._fit()

    def _fit(self) -> None:
        self.table.resizeRowsToContents()
        height = self.table.horizontalHeader().sizeHint().height() + 6
        for r in range(self.table.rowCount()):
            height += self.table.rowHeight(r)
        self.table.setFixedHeight(max(height, 60))

    def _set_row(self, r: int, data: dict[str, Any]) -> None:
        for c, (key, _header, choices) in enumerate(self.columns):
            value = data.get(key)
            if choices is not None:
                combo = QtWidgets.QComboBox()
                for choice in choices:
                    combo.addItem(choice_label(choice), choice)
                index = combo.findData(value)
                if index < 0 and value is not None:
                    combo.addItem(str(value), value)
                    index = combo.count() - 1
                combo.setCurrentIndex(max(index, 0))
                combo.currentIndexChanged.connect(self._emit)
                self.table.setCellWidget(r, c, combo)
            else:
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem("" if value is None else str(value)))

    def _unique_new_row(self) -> dict[str, Any]:
        row = dict(self.new_row)
        first_key = self.columns[0][0]
        if isinstance(row.get(first_key), str) and row[first_key]:
            taken = {str(r.get(first_key)) for r in self.value()}
            base, n = row[first_key], 1
            candidate = base
            while candidate in taken:
                n += 1
                candidate = f"{base}{n}"
            row[first_key] = candidate
        return row

    def add_row(self) -> None:
        data = self._unique_new_row()
        self._loading = True
        r = self.table.rowCount()
        self.table.insertRow(r)
        self._extra.append({})
        self._set_row(r, data)
        self._loading = False
        self._fit()
        self._emit()

    def remove_row(self) -> None:
        r = self.table.currentRow()
        if r < 0:
            r = self.table.rowCount() - 1
        if r >= 0:
            self.table.removeRow(r)
            del self._extra[r]
            self._fit()
            self._emit()

    def move_row(self, delta: int) -> None:
        r = self.table.currentRow()
        values = self.value()
        t = r + delta
        if r < 0 or not 0 <= t < len(values):
            return
        values[r], values[t] = values[t], values[r]
        self.set_value(values)
        self.table.selectRow(t)
        self._emit()

    def value(self) -> Any:
        rows = []
        for r in range(self.table.rowCount()):
            data: dict[str, Any] = dict(self._extra[r]) if r < len(self._extra) else {}
            for c, (key, _header, choices) in enumerate(self.columns):
                if choices is not None:
                    combo = self.table.cellWidget(r, c)
                    value: Any = combo.currentData() if isinstance(combo, QtWidgets.QComboBox) else None
                else:
                    item = self.table.item(r, c)
                    text = item.text() if item is not None else ""
                    value = text
                    if key in self.int_columns:
                        value = int(text) if text.strip().lstrip("-").isdigit() else text
                    elif not text and key in ("url",):
                        value = None
                data[key] = value
            rows.append(data)
        return rows

    def _show(self, value: Any) -> None:
        rows = [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
        shown = {k for k, _, _ in self.columns}
        self.table.setRowCount(0)
        self._extra = []
        for r, data in enumerate(rows):
            self.table.insertRow(r)
            self._extra.append({k: v for k, v in data.items() if k not in shown})
            self._set_row(r, data)
        self._fit()


class JsonField(FieldEditor):
    """Any JSON value as text (rules of a condition, unknown types). Invalid JSON is not
    committed; ``error`` tells why."""

    def __init__(self) -> None:
        super().__init__()
        layout = _vbox(self)
        self.edit = QtWidgets.QPlainTextEdit()
        self.edit.setMinimumHeight(120)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.edit.setFont(font)
        self.error = QtWidgets.QLabel()
        self.error.setStyleSheet("color: #d03030;")
        self.error.setVisible(False)
        layout.addWidget(self.edit)
        layout.addWidget(self.error)
        self.edit.installEventFilter(self)
        self._value: Any = None

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self.edit and event.type() == QtCore.QEvent.Type.FocusOut:
            self.commit()
        return False

    def commit(self) -> None:
        import json

        try:
            value = json.loads(self.edit.toPlainText() or "null")
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        self.error.setVisible(False)
        if value != self._value:
            self._value = value
            self._emit()

    def value(self) -> Any:
        return self._value

    def _show(self, value: Any) -> None:
        import json

        self._value = value
        self.edit.setPlainText(json.dumps(value, ensure_ascii=False, indent=2))
        self.error.setVisible(False)
