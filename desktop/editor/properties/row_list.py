"""Reorderable rows of sub-editors in a vertical layout (the condition form's rules, the
media picker's items): move up/down, remove, clear."""

from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets


class RowList:
    """Mixed into a field editor that keeps its row widgets in ``rows`` (in order) inside
    ``rows_box``; ``_changed`` is called after every move or removal."""

    rows: list[Any]
    rows_box: QtWidgets.QVBoxLayout

    def _changed(self) -> None:
        raise NotImplementedError

    def _index_of(self, row: object) -> int:
        return row if isinstance(row, int) else next(i for i, r in enumerate(self.rows) if r is row)

    def move_row(self, row: object, delta: int) -> None:
        """Move a row (the widget or its index) up (-1) or down (+1)."""
        index = self._index_of(row)
        target = index + delta
        if not 0 <= target < len(self.rows):
            return
        self.rows[index], self.rows[target] = self.rows[target], self.rows[index]
        widget = self.rows[target]
        self.rows_box.removeWidget(widget)
        self.rows_box.insertWidget(target, widget)
        self._changed()

    def remove_row(self, row: object) -> None:
        self._drop(self.rows.pop(self._index_of(row)))
        self._changed()

    def _clear_rows(self) -> None:
        for row in self.rows:
            self._drop(row)
        self.rows = []

    def _drop(self, widget: Any) -> None:
        self.rows_box.removeWidget(widget)
        widget.setParent(None)
        widget.deleteLater()
