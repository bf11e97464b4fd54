"""NodeGraphQt node classes generated from our node-type catalogue, and their look.

Every funnel node on the canvas is a :class:`FunnelBaseNode` subclass (one per node type,
plus :class:`UnknownNode` for types this app does not know). What matters is kept in our
own custom properties, never in NodeGraphQt's ids or names:

- ``uuid``: the FunnelNode id (NodeGraphQt ids change on every load);
- ``ftype``: our type id (the raw one for unknown types);
- ``props``: the node's properties as a JSON string (a plain value, so NodeGraphQt's
  undo stack stores it as is);
- ``ftitle``: the title override ("" = the type's title);
- ``collapsed``: kept for the document, not drawn yet.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from NodeGraphQt import BaseNode
from NodeGraphQt.constants import (
    ICON_NODE_BASE,
    ITEM_CACHE_MODE,
    Z_VAL_NODE,
    Z_VAL_PORT,
    PortEnum,
    PortTypeEnum,
)
from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.node_base import NodeItem
from NodeGraphQt.qgraphics.node_overlay_disabled import XDisabledItem
from NodeGraphQt.qgraphics.port import PortItem
from PySide6 import QtCore, QtGui, QtWidgets

from desktop.editor import icons, style
from desktop.editor.summary import port_label, summary
from desktop.i18n import language, tr
from graph.node_type import NodeType
from graph.node_types import ALL_TYPES, find_type
from graph.ports import IN

IDENTIFIER = "voronka"

PROP_UUID = "uuid"
PROP_TYPE = "ftype"
PROP_PROPS = "props"
PROP_TITLE = "ftitle"
PROP_COLLAPSED = "collapsed"


def dump_props(props: dict[str, Any]) -> str:
    return json.dumps(props, ensure_ascii=False, sort_keys=True)


class _Bulk:
    """While ``active`` (bulk loading), nodes skip work their loader redoes anyway."""

    active = False


BULK = _Bulk()


@functools.cache
def default_props_json(type_id: str) -> str:
    node_type = find_type(type_id)
    return dump_props(node_type.default_props()) if node_type else "{}"


def _color(rgb: tuple[int, ...], alpha: int = 255) -> QtGui.QColor:
    return QtGui.QColor(rgb[0], rgb[1], rgb[2], alpha)


def _font(point_size: int, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSize(point_size)
    font.setBold(bold)
    return font


_TITLE_FONT: QtGui.QFont | None = None
_SUMMARY_FONT: QtGui.QFont | None = None
_PORT_FONT: QtGui.QFont | None = None
_BADGE_FONT: QtGui.QFont | None = None


_METRICS: dict[int, QtGui.QFontMetrics] = {}


def _metrics(index: int) -> QtGui.QFontMetrics:
    """Font metrics of ``_fonts()[index]``, made once."""
    metrics = _METRICS.get(index)
    if metrics is None:
        metrics = _METRICS[index] = QtGui.QFontMetrics(_fonts()[index])
    return metrics


def _fonts() -> tuple[QtGui.QFont, QtGui.QFont, QtGui.QFont, QtGui.QFont]:
    global _TITLE_FONT, _SUMMARY_FONT, _PORT_FONT, _BADGE_FONT
    if _TITLE_FONT is None:
        _TITLE_FONT = _font(style.TITLE_POINT_SIZE, bold=True)
        _SUMMARY_FONT = _font(style.SUMMARY_POINT_SIZE)
        _PORT_FONT = _font(style.PORT_POINT_SIZE)
        _BADGE_FONT = _font(9, bold=True)
    assert _SUMMARY_FONT and _PORT_FONT and _BADGE_FONT
    return _TITLE_FONT, _SUMMARY_FONT, _PORT_FONT, _BADGE_FONT


def wrap_lines(text: str, metrics: QtGui.QFontMetrics, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines, the last one elided."""
    if not text:
        return []
    lines: list[str] = []
    current = ""
    words = text.split(" ")
    for i, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if metrics.horizontalAdvance(candidate) <= width or not current:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines - 1:
            current = " ".join(words[i:])
            break
    lines.append(current)
    elide = QtCore.Qt.TextElideMode.ElideRight
    return [metrics.elidedText(line, elide, int(width)) for line in lines[:max_lines]]


class _HiddenText(QtWidgets.QGraphicsSimpleTextItem):
    """Stands in for NodeGraphQt's (editable, costly) name item: we draw the title."""

    def __init__(self, parent: QtWidgets.QGraphicsItem) -> None:
        super().__init__(parent)
        self.setVisible(False)

    def toPlainText(self) -> str:
        return self.text()

    def setPlainText(self, text: str) -> None:
        self.setText(text)

    def setDefaultTextColor(self, color: QtGui.QColor) -> None:
        self.setBrush(color)

    def set_editable(self, value: bool = False) -> None:
        pass

    def set_locked(self, state: bool = False) -> None:
        pass


class PortLabel(QtWidgets.QGraphicsSimpleTextItem):
    """A port's label: a light text item with the QGraphicsTextItem calls NodeGraphQt uses."""

    def __init__(self, text: str, parent: QtWidgets.QGraphicsItem) -> None:
        super().__init__(text, parent)
        self.setFont(_fonts()[2])
        self.setBrush(_color(style.PORT_TEXT_COLOR))

    def toPlainText(self) -> str:
        return self.text()

    def setPlainText(self, text: str) -> None:
        if text != self.text():
            self.setText(text)

    def setDefaultTextColor(self, color: QtGui.QColor) -> None:
        self.setBrush(color)

    def boundingRect(self) -> QtCore.QRectF:
        rect = super().boundingRect()
        return rect.adjusted(-4.0, -2.0, 4.0, 6.0)

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        painter.translate(0.0, 3.0)
        super().paint(painter, option, widget)


_SELECTED_CHANGE = QtWidgets.QGraphicsItem.GraphicsItemChange.ItemSelectedChange
_SCENE_POS_CHANGED = QtWidgets.QGraphicsItem.GraphicsItemChange.ItemScenePositionHasChanged
_PORT_FLAGS = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemSendsScenePositionChanges
_Z_PORT = float(Z_VAL_PORT)
_PORT_SIZE = float(PortEnum.SIZE.value)
_PORT_FALLOFF = float(PortEnum.CLICK_FALLOFF.value)
_PORT_COLOR = PortEnum.COLOR.value
_PORT_BORDER = PortEnum.BORDER_COLOR.value
_ICON_SIZE = 16
_ICON_SPACE = _ICON_SIZE + 6.0  # the category glyph left of the title


class FunnelPortItem(PortItem):
    """NodeGraphQt's port item, minus per-port tooltips, with a cheaper ``itemChange``.

    Qt calls ``itemChange`` dozens of times per item while a graph is built; NodeGraphQt
    looks up the enum member each time, which is slow with PySide6's Python enums."""

    def __init__(self, parent: QtWidgets.QGraphicsItem) -> None:
        # PortItem.__init__ with the Qt enum members looked up once (same state)
        QtWidgets.QGraphicsItem.__init__(self, parent)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(ITEM_CACHE_MODE)
        self.setFlags(_PORT_FLAGS)
        self.setZValue(_Z_PORT)
        self._pipes = []
        self._width = _PORT_SIZE
        self._height = _PORT_SIZE
        self._hovered = False
        self._name = "port"
        self._display_name = True
        self._color = _PORT_COLOR
        self._border_color = _PORT_BORDER
        self._border_size = 1
        self._port_type = None
        self._multi_connection = False
        self._locked = False

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0.0, 0.0, self._width + _PORT_FALLOFF, self._height)

    def itemChange(self, change: Any, value: Any) -> Any:
        if change == _SCENE_POS_CHANGED:
            self.redraw_connected_pipes()
        return QtWidgets.QGraphicsItem.itemChange(self, change, value)


def _port_item(parent: QtWidgets.QGraphicsItem, name: str, port_type: str, multi: bool,
               display_name: bool, locked: bool) -> FunnelPortItem:
    port = FunnelPortItem(parent)
    port._name = name  # the setters would each set a tooltip
    port._port_type = port_type
    port._multi_connection = multi
    port._display_name = display_name
    port._locked = locked
    return port


class BadgeItem(QtWidgets.QGraphicsItem):
    """A small rounded badge on a node's top-right corner: contacts on the node now.

    ``set_counts`` only changes text and tooltip and schedules a repaint; the item is made
    once per node and never rebuilt."""

    HEIGHT = 20.0

    def __init__(self, parent: FunnelNodeItem) -> None:
        super().__init__(parent)
        self._text = ""
        self._width = self.HEIGHT
        self._zero = True
        self._counts: tuple[int, int, int] | None = None
        self.clicked: Callable[[], None] | None = None
        self.setZValue(10)
        self.setAcceptHoverEvents(True)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @property
    def text(self) -> str:
        return self._text

    @property
    def counts(self) -> tuple[int, int, int] | None:
        return self._counts

    def set_counts(self, now: int, entered: int, passed: int) -> bool:
        """Show the counts; returns whether anything changed."""
        counts = (now, entered, passed)
        if counts == self._counts:
            return False
        self._counts = counts
        text = f"{now:,}".replace(",", " ") if now < 100_000 else f"{now // 1000}k"
        if text != self._text:
            self.prepareGeometryChange()
            self._text = text
            metrics = _metrics(3)
            self._width = max(self.HEIGHT, metrics.horizontalAdvance(text) + 14.0)
            self._zero = now == 0
            self.reposition()
        self.setToolTip(tr("badge.tooltip", now=now, entered=entered, passed=passed))
        self.update()
        return True

    def reposition(self) -> None:
        parent = self.parentItem()
        if isinstance(parent, FunnelNodeItem):
            self.setPos(parent.width - self._width + 6.0, -self.HEIGHT / 2 - 2.0)

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0.0, 0.0, self._width, self.HEIGHT)

    def paint(
        self,
        painter: QtGui.QPainter,
        option: QtWidgets.QStyleOptionGraphicsItem,
        widget: QtWidgets.QWidget | None = None,
    ) -> None:
        painter.save()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        rect = self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QtGui.QPen(_color(style.BODY_COLOR), 1.5))
        painter.setBrush(_color(style.BADGE_ZERO if self._zero else style.BADGE_COLOR))
        painter.drawRoundedRect(rect, self.HEIGHT / 2, self.HEIGHT / 2)
        painter.setPen(_color(style.BADGE_TEXT))
        painter.setFont(_fonts()[3])
        painter.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, self._text)
        painter.restore()

    def mousePressEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.LeftButton and self.clicked is not None:
            event.accept()
            self.clicked()
            return
        super().mousePressEvent(event)


class FunnelNodeItem(NodeItem):
    """How a funnel node is drawn: a category-coloured header with its glyph and the
    title, a short summary of the key property, then the ports; problem border and a live badge."""

    def __init__(self, name: str = "node", parent: QtWidgets.QGraphicsItem | None = None) -> None:
        # NodeItem.__init__ loads and scales the default icon from disk for every node;
        # we draw no icon, so set up the same members without it (NodeGraphQt 0.6.x).
        AbstractNodeItem.__init__(self, name, parent)
        self._properties["icon"] = ICON_NODE_BASE
        self._icon_item = QtWidgets.QGraphicsPixmapItem(self)
        self._text_item = _HiddenText(self)
        self._x_item = XDisabledItem(self, "DISABLED")
        self._input_items = OrderedDict()
        self._output_items = OrderedDict()
        self._widgets = OrderedDict()
        self._proxy_mode = False
        self._proxy_mode_threshold = 70
        self._text_item.setVisible(False)
        self._icon_item.setVisible(False)
        self.defer_draw = True  # drawn once, when added to the scene (post_init)
        self.category: str | None = None
        self.title_text = ""
        self.summary_text = ""
        self._summary_lines: list[str] = []
        self._title_elided = ""
        self.problem_level: str | None = None  # "error" | "warning" | None
        self.badge: BadgeItem | None = None
        self._width = style.NODE_WIDTH

    # -- content -------------------------------------------------------------------------

    def set_content(self, category: str | None, title: str, summary_text: str) -> None:
        self.category = category
        self.title_text = title
        self.summary_text = summary_text
        inner = style.NODE_WIDTH - 20.0
        self._title_elided = _metrics(0).elidedText(
            title, QtCore.Qt.TextElideMode.ElideRight, int(inner - 14 - _ICON_SPACE)
        )
        self._summary_lines = wrap_lines(summary_text, _metrics(1), inner, style.SUMMARY_LINES)

    def set_problem(self, level: str | None, tooltip: str = "") -> None:
        if level == self.problem_level and self.toolTip() == tooltip:
            return
        self.problem_level = level
        self.setToolTip(tooltip)
        self.update()

    def ensure_badge(self) -> BadgeItem:
        if self.badge is None:
            self.badge = BadgeItem(self)
        return self.badge

    # -- geometry ------------------------------------------------------------------------

    def _summary_height(self) -> float:
        lines = len(self._summary_lines)
        return lines * 15.0 + 8.0 if lines else 4.0

    def _draw_node_horizontal(self) -> None:
        rows_in = rows_out = 0
        for port, text in self._input_items.items():
            text.setVisible(port.isVisible() and port.display_name)
            rows_in += port.isVisible()
        for port, text in self._output_items.items():
            text.setVisible(port.isVisible() and port.display_name)
            rows_out += port.isVisible()
        port_h = 23.0
        top = style.HEADER_HEIGHT + self._summary_height()
        self._width = style.NODE_WIDTH
        self._height = top + max(rows_in, rows_out, 1) * port_h + 6.0
        self.align_ports(v_offset=top)
        if self.badge is not None:
            self.badge.reposition()
        self.update()

    def add_input(self, name: str = "input", multi_port: bool = False,
                  display_name: bool = True, locked: bool = False,
                  painter_func: Any = None) -> Any:
        return self._add_port(
            _port_item(self, name, PortTypeEnum.IN.value, multi_port, display_name, locked)
        )

    def add_output(self, name: str = "output", multi_port: bool = False,
                   display_name: bool = True, locked: bool = False,
                   painter_func: Any = None) -> Any:
        return self._add_port(
            _port_item(self, name, PortTypeEnum.OUT.value, multi_port, display_name, locked)
        )

    def _add_port(self, port: Any) -> Any:
        # NodeItem._add_port, with our font and colour set once here instead of per draw
        text = PortLabel(port_label(port.name, {}), self)
        text.setVisible(port.display_name)
        text.setCacheMode(ITEM_CACHE_MODE)
        if port.port_type == PortTypeEnum.IN.value:
            self._input_items[port] = text
        elif port.port_type == PortTypeEnum.OUT.value:
            self._output_items[port] = text
        if self.scene():
            self.post_init()
        return port

    def itemChange(self, change: Any, value: Any) -> Any:
        # NodeItem.itemChange with the enum member cached (see qt_compat, patch 3)
        if change == _SELECTED_CHANGE and self.scene():
            self.reset_pipes()
            if value:
                self.highlight_pipes()
            self.setZValue(Z_VAL_NODE)
            if not self.selected:
                self.setZValue(Z_VAL_NODE + 1)
        return QtWidgets.QGraphicsItem.itemChange(self, change, value)

    def draw_node(self) -> None:
        if not self.defer_draw:
            self._draw_node_horizontal()

    def post_init(self, viewer: Any = None, pos: Any = None) -> None:
        self.defer_draw = False
        self.draw_node()
        if pos:
            self.xy_pos = pos

    def _draw_node_vertical(self) -> None:  # we always lay out left → right
        self._draw_node_horizontal()

    def calc_size(self, add_w: float = 0.0, add_h: float = 0.0) -> tuple[float, float]:
        return self._width + add_w, self._height + add_h

    def set_proxy_mode(self, mode: bool) -> None:
        super().set_proxy_mode(mode)
        self._text_item.setVisible(False)
        self._icon_item.setVisible(False)

    # -- painting ------------------------------------------------------------------------

    def _paint_horizontal(
        self,
        painter: QtGui.QPainter,
        option: QtWidgets.QStyleOptionGraphicsItem,
        widget: QtWidgets.QWidget | None,
    ) -> None:
        title_font, summary_font, _, _ = _fonts()
        painter.save()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        rect = QtCore.QRectF(0.0, 0.0, self._width, self._height)
        radius = style.RADIUS
        header = _color(style.category_color(self.category))

        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(_color(style.BODY_COLOR))
        painter.drawRoundedRect(rect, radius, radius)

        header_path = QtGui.QPainterPath()
        header_path.addRoundedRect(QtCore.QRectF(0, 0, self._width, style.HEADER_HEIGHT), radius, radius)
        square = QtGui.QPainterPath()
        square.addRect(QtCore.QRectF(0, style.HEADER_HEIGHT - radius, self._width, radius))
        painter.setBrush(header)
        painter.drawPath(header_path.united(square))

        if self._proxy_mode:
            painter.restore()
            return

        painter.drawPixmap(
            QtCore.QPointF(8.0, (style.HEADER_HEIGHT - _ICON_SIZE) / 2),
            icons.glyph(self.category, _ICON_SIZE),
        )
        painter.setFont(title_font)
        painter.setPen(_color(style.TEXT_COLOR))
        painter.drawText(
            QtCore.QRectF(8.0 + _ICON_SPACE, 0.0, self._width - 18.0 - _ICON_SPACE,
                          style.HEADER_HEIGHT),
            int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
            self._title_elided,
        )
        if self._summary_lines:
            painter.setFont(summary_font)
            painter.setPen(_color(style.SUMMARY_COLOR))
            y = style.HEADER_HEIGHT + 4.0
            for line in self._summary_lines:
                painter.drawText(
                    QtCore.QRectF(10.0, y, self._width - 20.0, 15.0),
                    int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
                    line,
                )
                y += 15.0
            painter.setPen(QtGui.QPen(_color(style.BORDER_COLOR), 1.0))
            y += 3.0
            painter.drawLine(QtCore.QPointF(8.0, y), QtCore.QPointF(self._width - 8.0, y))

        if self.problem_level is not None:
            level_color = style.ERROR_COLOR if self.problem_level == "error" else style.WARNING_COLOR
            pen = QtGui.QPen(_color(level_color), 2.6)
            border = rect.adjusted(-1.5, -1.5, 1.5, 1.5)
            painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            painter.setPen(pen)
            painter.drawRoundedRect(border, radius + 1, radius + 1)
            mark = QtCore.QRectF(self._width - 24.0, 5.0, 16.0, 16.0)
            painter.setPen(QtCore.Qt.PenStyle.NoPen)
            painter.setBrush(_color(level_color))
            painter.drawEllipse(mark)
            painter.setPen(_color((255, 255, 255)))
            painter.setFont(title_font)
            painter.drawText(mark, QtCore.Qt.AlignmentFlag.AlignCenter, "!")
        if self.selected:
            painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            painter.setPen(QtGui.QPen(_color(style.SELECTED_BORDER), 2.0))
            painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
        else:
            painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            painter.setPen(QtGui.QPen(_color(style.BORDER_COLOR), 1.0))
            painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
        painter.restore()

    def _paint_vertical(self, painter: QtGui.QPainter, option: Any, widget: Any) -> None:
        self._paint_horizontal(painter, option, widget)


class FunnelBaseNode(BaseNode):
    """Base of all generated node classes."""

    __identifier__ = IDENTIFIER
    NODE_NAME = "node"
    NODE_TYPE: NodeType | None = None

    def __init__(self) -> None:
        super().__init__(qgraphics_item=FunnelNodeItem)
        node_type = self.NODE_TYPE
        self.create_property(PROP_UUID, str(uuid.uuid4()))
        self.create_property(PROP_TYPE, node_type.id if node_type else "")
        self.create_property(PROP_PROPS, default_props_json(node_type.id) if node_type else "{}")
        self.create_property(PROP_TITLE, "")
        self.create_property(PROP_COLLAPSED, False)
        if node_type is not None:
            for name in node_type.inputs:
                self.add_funnel_input(name)
            for name in node_type.outputs:
                self.add_funnel_output(name)
        if not BULK.active:
            self.refresh_content()

    # -- our data ------------------------------------------------------------------------

    @property
    def funnel_uuid(self) -> str:
        return str(self.get_property(PROP_UUID))

    @property
    def type_id(self) -> str:
        return str(self.get_property(PROP_TYPE))

    @property
    def node_type(self) -> NodeType | None:
        return find_type(self.type_id)

    def funnel_props(self) -> dict[str, Any]:
        data = json.loads(self.get_property(PROP_PROPS) or "{}")
        return data if isinstance(data, dict) else {}

    def title_override(self) -> str | None:
        return str(self.get_property(PROP_TITLE) or "") or None

    def display_title(self) -> str:
        override = self.title_override()
        if override:
            return override
        node_type = self.node_type
        return node_type.title.get(language()) if node_type else self.type_id

    # -- ports ---------------------------------------------------------------------------

    def add_funnel_input(self, name: str) -> Any:
        return self.add_input(name, multi_input=True, display_name=name != IN)

    def add_funnel_output(self, name: str, multi: bool = False) -> Any:
        return self.add_output(name, multi_output=multi)

    def visible_output_names(self) -> list[str]:
        return [p.name() for p in self.output_ports() if p.visible()]

    def refresh_content(self) -> None:
        """Recompute title, summary and port labels from the properties (no redraw)."""
        props = self.funnel_props()
        node_type = self.node_type
        view = self.view
        assert isinstance(view, FunnelNodeItem)
        view.set_content(
            node_type.category.value if node_type else None,
            self.display_title(),
            summary(self.type_id, props),
        )
        metrics = _metrics(2)
        for port in self.output_ports():
            text = view.get_output_text_item(port.view)
            if text is not None:
                label = metrics.elidedText(
                    port_label(port.name(), props),
                    QtCore.Qt.TextElideMode.ElideRight,
                    int(style.NODE_WIDTH * 0.62),
                )
                text.setPlainText(label)
        for port in self.input_ports():
            text = view.get_input_text_item(port.view)
            if text is not None:
                text.setPlainText(port_label(port.name(), props))

    def redraw(self) -> None:
        self.refresh_content()
        self.view.draw_node()


class UnknownNode(FunnelBaseNode):
    """A node of a type this app does not know: kept as is, drawn grey."""

    NODE_NAME = "unknown"
    NODE_TYPE = None


def class_name_for(type_id: str) -> str:
    return "T_" + re.sub(r"\W", "_", type_id)


def _make_class(node_type: NodeType) -> type[FunnelBaseNode]:
    return type(
        class_name_for(node_type.id),
        (FunnelBaseNode,),
        {"NODE_NAME": node_type.title.ru, "NODE_TYPE": node_type, "__identifier__": IDENTIFIER},
    )


NODE_CLASSES: dict[str, type[FunnelBaseNode]] = {t.id: _make_class(t) for t in ALL_TYPES}
"""Our type id → its generated node class."""


def node_class_for(type_id: str) -> type[FunnelBaseNode]:
    """The node class of a type id (legacy ids included); :class:`UnknownNode` otherwise."""
    node_type = find_type(type_id)
    return NODE_CLASSES[node_type.id] if node_type else UnknownNode


def all_node_classes() -> list[type[FunnelBaseNode]]:
    return [*NODE_CLASSES.values(), UnknownNode]
