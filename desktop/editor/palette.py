"""The node palette: node types by category, searchable by Russian/English title."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from desktop.editor import icons, style
from desktop.i18n import language, tr
from graph.node_type import NodeCategory
from graph.node_types import list_types

MIME_TYPE = "application/x-voronka-node-type"
TEXT_PREFIX = "voronka-node-type:"


class _Tree(QtWidgets.QTreeWidget):
    def mimeData(self, items: list[QtWidgets.QTreeWidgetItem]) -> QtCore.QMimeData:
        data = QtCore.QMimeData()
        type_ids = [i.data(0, QtCore.Qt.ItemDataRole.UserRole) for i in items]
        type_ids = [t for t in type_ids if t]
        if type_ids:
            data.setData(MIME_TYPE, QtCore.QByteArray(type_ids[0].encode()))
            # the NodeGraphQt viewer accepts drags only with one of its known formats
            data.setText(TEXT_PREFIX + type_ids[0])
        return data


class NodePalette(QtWidgets.QWidget):
    """Emits ``addRequested(type_id)`` on double-click / Enter; items can be dragged
    onto the canvas."""

    addRequested = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QtWidgets.QLineEdit()
        self.search.setClearButtonEnabled(True)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        self.tree.setIconSize(QtCore.QSize(18, 18))
        self.hint = QtWidgets.QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray; font-size: 11px;")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_current)
        self.tree.itemActivated.connect(self._on_activated)
        self.retranslate()

    def retranslate(self) -> None:
        self.search.setPlaceholderText(tr("palette.search"))
        self.hint.setText(tr("palette.hint"))
        self._fill()
        self.filter(self.search.text())

    def _fill(self) -> None:
        self.tree.clear()
        lang = language()
        for category in NodeCategory:
            group = QtWidgets.QTreeWidgetItem([tr(f"category.{category.value}")])
            group.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setForeground(0, QtGui.QColor(*style.category_color(category.value)))
            group.setData(0, QtCore.Qt.ItemDataRole.UserRole + 1, category.value)
            icon = icons.category_icon(category.value)
            group.setIcon(0, icon)
            self.tree.addTopLevelItem(group)
            for node_type in list_types(category):
                item = QtWidgets.QTreeWidgetItem([node_type.title.get(lang)])
                item.setData(0, QtCore.Qt.ItemDataRole.UserRole, node_type.id)
                search_text = " ".join(
                    (node_type.title.ru, node_type.title.en, node_type.id,
                     tr(f"category.{category.value}"), category.value)
                ).lower()
                item.setData(0, QtCore.Qt.ItemDataRole.UserRole + 1, search_text)
                item.setToolTip(0, node_type.docs.get(lang))
                item.setIcon(0, icon)
                item.setFlags(
                    QtCore.Qt.ItemFlag.ItemIsEnabled
                    | QtCore.Qt.ItemFlag.ItemIsSelectable
                    | QtCore.Qt.ItemFlag.ItemIsDragEnabled
                )
                group.addChild(item)
        self.tree.expandAll()

    def filter(self, text: str) -> None:
        """Show node types whose title (ru/en), id or category contains every word."""
        words = text.lower().split()
        first_match: QtWidgets.QTreeWidgetItem | None = None
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            any_visible = False
            for c in range(group.childCount()):
                item = group.child(c)
                haystack = str(item.data(0, QtCore.Qt.ItemDataRole.UserRole + 1))
                visible = all(w in haystack for w in words)
                item.setHidden(not visible)
                if visible:
                    any_visible = True
                    first_match = first_match or item
            group.setHidden(not any_visible)
        if words and first_match is not None:
            self.tree.setCurrentItem(first_match)

    def visible_type_ids(self) -> list[str]:
        ids = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for c in range(group.childCount()):
                item = group.child(c)
                if not item.isHidden() and not group.isHidden():
                    ids.append(str(item.data(0, QtCore.Qt.ItemDataRole.UserRole)))
        return ids

    def item_for(self, type_id: str) -> QtWidgets.QTreeWidgetItem | None:
        """The palette row of a node type."""
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for c in range(group.childCount()):
                item = group.child(c)
                if item.data(0, QtCore.Qt.ItemDataRole.UserRole) == type_id:
                    return item
        return None

    def _add_current(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self._on_activated(item)

    def _on_activated(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        type_id = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        if type_id:
            self.addRequested.emit(str(type_id))
