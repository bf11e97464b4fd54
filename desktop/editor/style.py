"""Colours and sizes of the canvas (one place to tune the look)."""

from __future__ import annotations

from graph.node_type import NodeCategory

# header colours by category: pleasant, readable with white text
CATEGORY_COLORS: dict[str, tuple[int, int, int]] = {
    NodeCategory.TRIGGER.value: (46, 158, 96),  # green
    NodeCategory.MESSAGE.value: (52, 120, 206),  # blue
    NodeCategory.FLOW.value: (222, 134, 40),  # orange
    NodeCategory.DATA.value: (137, 92, 200),  # purple
    NodeCategory.ACTION.value: (206, 76, 76),  # red-ish
    "unknown": (120, 120, 120),
}

BODY_COLOR = (44, 48, 56)
BORDER_COLOR = (70, 76, 88)
SELECTED_BORDER = (255, 214, 92)
TEXT_COLOR = (236, 238, 242)
SUMMARY_COLOR = (190, 198, 210)
PORT_TEXT_COLOR = (210, 214, 222)
ERROR_COLOR = (235, 72, 72)
WARNING_COLOR = (240, 180, 40)
BADGE_COLOR = (250, 250, 250)
BADGE_TEXT = (30, 34, 40)
BADGE_ZERO = (140, 146, 156)
CANVAS_BG = (32, 34, 40)
CANVAS_GRID = (44, 47, 55)

NODE_WIDTH = 236.0
HEADER_HEIGHT = 26.0
SUMMARY_LINES = 2
RADIUS = 7.0
TITLE_POINT_SIZE = 10
SUMMARY_POINT_SIZE = 9
PORT_POINT_SIZE = 9


def category_color(category: str | None) -> tuple[int, int, int]:
    return CATEGORY_COLORS.get(category or "unknown", CATEGORY_COLORS["unknown"])
