"""NodeGraphQt ↔ PySide6 (6.8–6.11) compatibility patches, all in one place.

NodeGraphQt 0.6.x targets PySide2/PyQt5 through the ``Qt.py`` shim. Under PySide6 a few
spots break; :func:`apply` patches them once (idempotent) and must run before any
NodeGraphQt widget is created. Each patch has a test in ``tests/desktop/test_qt_compat.py``.

1. ``PropSpinBox`` / ``PropDoubleSpinBox`` call ``self.setButtonSymbols(self.NoButtons)``:
   PySide6's Python enums are not reachable through an instance, so building the property
   widget of any int/float property (e.g. the properties bin) raises ``AttributeError``.
   Fix: give both classes the ``NoButtons`` attribute from the scoped enum.
2. ``NodeViewer.use_OpenGL`` imports ``QOpenGLWidget`` only for PySide2/PyQt5 and raises
   ``UnboundLocalError`` under PySide6. Fix: use ``PySide6.QtOpenGLWidgets.QOpenGLWidget``.
3. ``PortItem.itemChange`` / ``PipeItem.itemChange`` look up a Qt enum member on every
   call (``QtWidgets.QGraphicsItem.ItemScenePositionHasChanged``). With PySide6's Python
   enums that lookup goes through the slow compatibility path (~2 µs), and Qt calls
   ``itemChange`` tens of times per item while a graph is built, which made loading a
   1,000-node graph ~30 % slower. Fix: the same methods with the enum members cached.
4. ``NodeGraph.get_unique_name`` is O(n) per node (it lists every node name), which makes
   any bulk load O(n²). Not a PySide6 bug, but the fix lives here with the other patches:
   :func:`unique_names_trusted` is a context manager that skips the check while our
   adapter adds nodes whose names are already unique (our node UUIDs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PySide6 import QtWidgets

_applied = False


def _patch_spin_boxes() -> None:
    from NodeGraphQt.custom_widgets.properties_bin import prop_widgets_base

    no_buttons = QtWidgets.QAbstractSpinBox.ButtonSymbols.NoButtons
    for cls in (prop_widgets_base.PropSpinBox, prop_widgets_base.PropDoubleSpinBox):
        if not hasattr(cls, "NoButtons"):
            cls.NoButtons = no_buttons  # type: ignore[attr-defined]


def _patch_use_opengl() -> None:
    from NodeGraphQt.widgets.viewer import NodeViewer

    def use_OpenGL(self: Any) -> None:  # noqa: N802 - NodeGraphQt's name
        from PySide6.QtOpenGLWidgets import QOpenGLWidget

        self.setViewport(QOpenGLWidget())

    NodeViewer.use_OpenGL = use_OpenGL


def _patch_item_change() -> None:
    from NodeGraphQt.qgraphics.pipe import PipeItem
    from NodeGraphQt.qgraphics.port import PortItem

    scene_pos_changed = QtWidgets.QGraphicsItem.GraphicsItemChange.ItemScenePositionHasChanged
    selected_change = QtWidgets.QGraphicsItem.GraphicsItemChange.ItemSelectedChange
    base_item_change = QtWidgets.QGraphicsItem.itemChange
    base_path_change = QtWidgets.QGraphicsPathItem.itemChange

    def port_item_change(self: Any, change: Any, value: Any) -> Any:
        if change == scene_pos_changed:
            self.redraw_connected_pipes()
        return base_item_change(self, change, value)

    def pipe_item_change(self: Any, change: Any, value: Any) -> Any:
        if change == selected_change and self.scene():
            if value:
                self.highlight()
            else:
                self.reset()
        return base_path_change(self, change, value)

    PortItem.itemChange = port_item_change
    PipeItem.itemChange = pipe_item_change


def apply() -> None:
    """Apply every patch (safe to call many times)."""
    global _applied
    if _applied:
        return
    _patch_spin_boxes()
    _patch_use_opengl()
    _patch_item_change()
    _applied = True


@contextmanager
def unique_names_trusted(graph: Any) -> Iterator[None]:
    """Inside the block ``graph.add_node`` keeps node names as given (no O(n) scan)."""
    graph.get_unique_name = lambda name: name
    try:
        yield
    finally:
        del graph.get_unique_name
