"""Staff panels of the main window (contacts, notifications, purchases…), one module each.

A panel is a plain widget over its *host* (the main window): it reads ``host.backend`` and
``host.project``, runs its work with ``host.run`` and asks/tells the user through the
host's overridable ``ask`` / ``show_error`` / ``inform`` / ``save_path`` so tests drive
it without modal dialogs. Data are the JSON-shaped dicts the backends return.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


def when(value: str | None) -> str:
    """An ISO time as local «дд.мм.гггг чч:мм» (empty for None)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return value


def person(row: dict[str, Any]) -> str:
    """«Имя Фамилия (@username)» or the Telegram id."""
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    name = name or row.get("name") or ""
    username = f"@{row['username']}" if row.get("username") else ""
    text = " ".join(p for p in (name, f"({username})" if username and name else username) if p)
    return text or str(row.get("telegram_user_id", ""))


def table(headers: list[str]) -> QTableWidget:
    """A read-only, row-selecting table with these column headers."""
    widget = QTableWidget(0, len(headers))
    widget.setHorizontalHeaderLabels(headers)
    widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    widget.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    widget.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    widget.verticalHeader().setVisible(False)
    widget.horizontalHeader().setStretchLastSection(True)
    widget.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    widget.setAlternatingRowColors(True)
    return widget


def fill(widget: QTableWidget, rows: list[list[Any]], keys: list[Any] | None = None) -> None:
    """Replace the table's rows; ``keys[i]`` is kept as the user data of row i's first cell."""
    widget.setRowCount(0)
    widget.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem("" if value is None else str(value))
            if c == 0 and keys is not None:
                item.setData(0x0100, keys[r])  # Qt.UserRole
            widget.setItem(r, c, item)


def cells(widget: QTableWidget) -> list[list[str]]:
    """The table's text, row by row (for tests and export)."""

    def text(r: int, c: int) -> str:
        item = widget.item(r, c)
        return item.text() if item is not None else ""

    return [[text(r, c) for c in range(widget.columnCount())] for r in range(widget.rowCount())]


def selected_key(widget: QTableWidget) -> Any:
    row = widget.currentRow()
    item = widget.item(row, 0) if row >= 0 else None
    return item.data(0x0100) if item is not None else None
