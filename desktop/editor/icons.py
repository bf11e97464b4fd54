"""Category icons: one white SVG glyph per node category (``resources/icons``).

The palette shows the glyph on a rounded square of the category colour; node headers draw
the bare glyph on their coloured header. Pixmaps are rendered once per size and cached, so
painting 1,000 nodes costs a blit each.
"""

from __future__ import annotations

from importlib.resources import files

from PySide6 import QtCore, QtGui, QtSvg

from desktop.editor import style
from graph.node_type import NodeCategory

ICON_PACKAGE = "resources.icons"
CATEGORIES: tuple[str, ...] = (*(c.value for c in NodeCategory), "unknown")

_RENDERERS: dict[str, QtSvg.QSvgRenderer] = {}
_GLYPHS: dict[tuple[str, int, float], QtGui.QPixmap] = {}
_ICONS: dict[str, QtGui.QIcon] = {}


def icon_path(category: str | None) -> str:
    """The SVG file of a category (the "unknown" glyph for anything else)."""
    name = category if category in CATEGORIES else "unknown"
    return str(files(ICON_PACKAGE) / f"category_{name}.svg")


def _renderer(category: str | None) -> QtSvg.QSvgRenderer:
    key = category if category in CATEGORIES else "unknown"
    renderer = _RENDERERS.get(key)
    if renderer is None:
        renderer = _RENDERERS[key] = QtSvg.QSvgRenderer(icon_path(key))
        if not renderer.isValid():
            raise RuntimeError(f"icon {icon_path(key)} is not a valid SVG")
    return renderer


def _canvas(size: int, ratio: float) -> QtGui.QPixmap:
    pixmap = QtGui.QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    return pixmap


def glyph(category: str | None, size: int = 16, ratio: float = 2.0) -> QtGui.QPixmap:
    """The bare white glyph of a category, ``size`` logical pixels square."""
    key = (category or "unknown", size, ratio)
    pixmap = _GLYPHS.get(key)
    if pixmap is None:
        pixmap = _canvas(size, ratio)
        painter = QtGui.QPainter(pixmap)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        _renderer(category).render(painter, QtCore.QRectF(0, 0, size, size))
        painter.end()
        _GLYPHS[key] = pixmap
    return pixmap


def badge_pixmap(category: str | None, size: int = 20, ratio: float = 2.0) -> QtGui.QPixmap:
    """The glyph on a rounded square of the category colour."""
    pixmap = _canvas(size, ratio)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(QtGui.QColor(*style.category_color(category)))
    painter.drawRoundedRect(QtCore.QRectF(0, 0, size, size), size * 0.22, size * 0.22)
    inset = size * 0.17
    _renderer(category).render(painter, QtCore.QRectF(inset, inset, size - 2 * inset, size - 2 * inset))
    painter.end()
    return pixmap


def category_icon(category: str | None) -> QtGui.QIcon:
    """A palette icon: the category's glyph on its colour (16 to 48 px)."""
    key = category if category in CATEGORIES else "unknown"
    icon = _ICONS.get(key)
    if icon is None:
        icon = QtGui.QIcon()
        for size in (16, 20, 24, 32, 48):
            icon.addPixmap(badge_pixmap(key, size, ratio=1.0))
        _ICONS[key] = icon
    return icon
