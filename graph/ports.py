"""Port names shared by node types, the engine and the desktop.

Every non-trigger node has one input port ``in``. Output ports are named by what they
mean (``next``, ``yes``, ``timeout``…). Some outputs are derived from properties and carry
a prefix: ``button:<button id>`` on a message, ``branch:<branch key>`` on a randomizer.
"""

from __future__ import annotations

IN = "in"
NEXT = "next"

BUTTON_PREFIX = "button:"
BRANCH_PREFIX = "branch:"


def button_port(button_id: str) -> str:
    """The output port a callback button with ``button_id`` leads through."""
    return BUTTON_PREFIX + button_id


def branch_port(key: str) -> str:
    """The output port of a randomizer branch."""
    return BRANCH_PREFIX + key
