"""Pick a node on the canvas: a banner over the canvas, a click on a node picks it, Esc
(or the banner's button) cancels. Used by staff actions such as "move a contact to a node".

While picking, mouse presses on the canvas and Esc are consumed so nothing is selected,
dragged or edited; the editor's own behaviour is back as soon as the pick ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from desktop.i18n import register

t = register(
    "canvas_pick",
    {
        "banner": (
            "Выберите узел на холсте… Esc — отмена",
            "Pick a node on the canvas… Esc cancels",
        ),
        "cancel": ("Отмена", "Cancel"),
    },
)


class NodePicker(QtCore.QObject):
    """One pick at a time over ``editor`` (a FunnelEditor)."""

    def __init__(self, editor: Any) -> None:
        super().__init__(editor)
        self.editor = editor
        self.viewer: QtWidgets.QGraphicsView = editor.viewer
        self._on_pick: Callable[[str], Any] | None = None
        self._document: object = None
        self._on_cancel: Callable[[], Any] | None = None
        host = self.viewer.parentWidget() or self.viewer
        self.banner = QtWidgets.QFrame(host)
        self.banner.setObjectName("pickBanner")
        self.banner.setStyleSheet(
            "#pickBanner { background: #fff4c2; border: 1px solid #e0b400; border-radius: 6px; }"
            "#pickBanner QLabel { color: #4a3b00; background: transparent; font-weight: bold; }"
        )
        row = QtWidgets.QHBoxLayout(self.banner)
        row.setContentsMargins(12, 6, 6, 6)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        row.addWidget(self.label, 1)
        self.cancel_button = QtWidgets.QPushButton(t("cancel"))
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        self.banner.hide()
        host.installEventFilter(self)

    def is_active(self) -> bool:
        return self._on_pick is not None

    def begin(
        self,
        on_pick: Callable[[str], Any],
        on_cancel: Callable[[], Any] | None = None,
        message: str | None = None,
    ) -> None:
        """Start picking; ``on_pick(node_uuid)`` or ``on_cancel()`` is called once."""
        if self.is_active():
            self.cancel()
        self._on_pick, self._on_cancel = on_pick, on_cancel
        self._document = self._document_id()
        self.label.setText(message or t("banner"))
        self.viewer.viewport().installEventFilter(self)
        self.viewer.installEventFilter(self)
        self.viewer.viewport().setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self._place()
        self.banner.show()
        self.banner.raise_()
        self.viewer.setFocus()

    def cancel(self) -> None:
        callback = self._on_cancel
        if self._finish() and callback is not None:
            callback()

    def pick(self, node_uuid: str) -> None:
        callback = self._on_pick
        if self._finish() and callback is not None:
            callback(node_uuid)

    def _finish(self) -> bool:
        if not self.is_active():
            return False
        self._on_pick = self._on_cancel = None
        self.viewer.viewport().removeEventFilter(self)
        self.viewer.removeEventFilter(self)
        self.viewer.viewport().unsetCursor()
        self.banner.hide()
        return True

    def _place(self) -> None:
        host = self.banner.parentWidget()
        if host is None:
            return
        width = min(760, max(200, host.width() - 24))
        self.banner.setFixedWidth(width)
        height = self.banner.heightForWidth(width)
        self.banner.setFixedHeight(max(height, self.banner.sizeHint().height()))
        self.banner.move((host.width() - width) // 2, 10)

    def _document_id(self) -> object:
        doc = getattr(self.editor, "_doc", None)
        return getattr(doc, "id", None)

    def node_at(self, pos: QtCore.QPoint) -> str | None:
        """The UUID of the funnel node under a viewport position, if any."""
        views = {id(node.view): uuid for uuid, node in self.editor._nodes().items()}
        for item in self.viewer.items(pos):
            current: QtWidgets.QGraphicsItem | None = item
            while current is not None:
                found = views.get(id(current))
                if found is not None:
                    return found
                current = current.parentItem()
        return None

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if obj is self.banner.parentWidget() and kind == QtCore.QEvent.Type.Resize:
            if self.banner.isVisible():
                self._place()
            return False
        if not self.is_active():
            return False
        if kind == QtCore.QEvent.Type.KeyPress and event.key() == QtCore.Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            self.cancel()
            return True
        if kind == QtCore.QEvent.Type.ShortcutOverride and event.key() == QtCore.Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            event.accept()
            return True
        if obj is self.viewer.viewport():
            if kind == QtCore.QEvent.Type.MouseButtonPress:
                if event.button() == QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
                    if self._document_id() != self._document:  # another robot was opened
                        self.cancel()
                        return True
                    node_uuid = self.node_at(event.position().toPoint())  # type: ignore[attr-defined]
                    if node_uuid is not None:
                        self.pick(node_uuid)
                    return True
                return False  # other buttons still pan the canvas
            if kind in (
                QtCore.QEvent.Type.MouseButtonRelease,
                QtCore.QEvent.Type.MouseButtonDblClick,
            ):
                return event.button() == QtCore.Qt.MouseButton.LeftButton  # type: ignore[attr-defined]
        return False
