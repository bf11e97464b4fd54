"""Each NodeGraphQt ↔ PySide6 patch in desktop.qt_compat, proven by using what it fixes."""

from __future__ import annotations

from NodeGraphQt import BaseNode, NodeGraph, PropertiesBinWidget
from NodeGraphQt.constants import NodePropWidgetEnum
from NodeGraphQt.custom_widgets.properties_bin.prop_widgets_base import (
    PropDoubleSpinBox,
    PropSpinBox,
)
from PySide6 import QtWidgets

from desktop import qt_compat


class _Numbers(BaseNode):
    __identifier__ = "compat"
    NODE_NAME = "numbers"

    def __init__(self) -> None:
        super().__init__()
        self.create_property("count", 3, widget_type=NodePropWidgetEnum.QSPIN_BOX.value)
        self.create_property("ratio", 0.5, widget_type=NodePropWidgetEnum.QDOUBLESPIN_BOX.value)


def test_spin_box_property_widgets_build(qtbot: object) -> None:
    qt_compat.apply()
    spin, dspin = PropSpinBox(), PropDoubleSpinBox()
    assert spin.buttonSymbols() == QtWidgets.QAbstractSpinBox.ButtonSymbols.NoButtons
    assert dspin.buttonSymbols() == QtWidgets.QAbstractSpinBox.ButtonSymbols.NoButtons
    graph = NodeGraph()
    graph.register_node(_Numbers)
    node = graph.create_node("compat._Numbers")
    props_bin = PropertiesBinWidget(node_graph=graph)
    props_bin.add_node(node)  # builds the spin-box editors: raised AttributeError before
    assert props_bin.get_property_editor_widget(node) is not None


def test_use_opengl_sets_an_opengl_viewport(qtbot: object) -> None:
    from PySide6.QtOpenGLWidgets import QOpenGLWidget

    qt_compat.apply()
    graph = NodeGraph()
    graph.use_OpenGL()  # UnboundLocalError under PySide6 before the patch
    assert isinstance(graph.viewer().viewport(), QOpenGLWidget)


def test_apply_is_idempotent() -> None:
    qt_compat.apply()
    qt_compat.apply()
    assert PropSpinBox.NoButtons == QtWidgets.QAbstractSpinBox.ButtonSymbols.NoButtons


def test_unique_names_trusted_skips_the_scan(qtbot: object) -> None:
    qt_compat.apply()
    graph = NodeGraph()
    graph.register_node(_Numbers)
    first = graph.create_node("compat._Numbers", name="same")
    with qt_compat.unique_names_trusted(graph):
        second = _Numbers()
        second.NODE_NAME = "kept"
        graph.add_node(second, push_undo=False)
    third = graph.create_node("compat._Numbers", name="same")
    assert first.name() == "same"
    assert second.name() == "kept"
    assert third.name() != "same"  # the normal scan is back after the block
