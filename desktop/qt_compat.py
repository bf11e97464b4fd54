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
3. ``NodeGraph.get_unique_name`` is O(n) per node (it lists every node name), which makes
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
        if "NoButtons" not in vars(cls):  # reachable on the class, not on instances
            cls.NoButtons = no_buttons  # type: ignore[attr-defined]


def _patch_use_opengl() -> None:
    from NodeGraphQt.widgets.viewer import NodeViewer

    def use_OpenGL(self: Any) -> None:
        from PySide6.QtOpenGLWidgets import QOpenGLWidget

        self.setViewport(QOpenGLWidget())

    NodeViewer.use_OpenGL = use_OpenGL


def apply() -> None:
    """Apply every patch (safe to call many times)."""
    global _applied
    if _applied:
        return
    _patch_spin_boxes()
    _patch_use_opengl()
    _applied = True


@contextmanager
def unique_names_trusted(graph: Any) -> Iterator[None]:
    """Inside the block ``graph.add_node`` keeps node names as given (no O(n) scan)."""
    graph.get_unique_name = lambda name: name
    try:
        yield
    finally:
        del graph.get_unique_name
