"""``{{variable}}`` placeholders in message texts and node properties.

Message texts are Telegram HTML, so values are HTML-escaped there (a contact who types
``<b>`` into their name cannot change the markup); plain values (a variable's new value,
a notification text) are rendered without escaping. An unknown variable renders empty.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^\W\d]\w*)\s*\}\}")


def render(template: str, variables: Mapping[str, Any], *, escape: bool = False) -> str:
    """Replace each ``{{name}}`` with ``variables[name]`` (empty when missing)."""

    def value(match: re.Match[str]) -> str:
        raw = variables.get(match.group(1))
        text = "" if raw is None else str(raw)
        return html.escape(text, quote=False) if escape else text

    return _PLACEHOLDER.sub(value, template)


def placeholders(template: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        seen.setdefault(match.group(1), None)
    return list(seen)
