"""Loose validation of Telegram's ``parse_mode=HTML`` and conversion to plain text + entities.

Telegram accepts a small set of tags; anything else, or an unbalanced tag, is rejected with
``400 Bad Request: can't parse entities: ...``.  Offsets and lengths of the produced entities are
in UTF-16 code units, exactly like the Bot API.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

_TAG_ENTITY: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class HTMLParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(exc)`` is Telegram's explanation."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Parser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)
        self.parts: list[str] = []
        self._utf16_pos = 0
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        char_index = self._line_starts[line - 1] + col
        return len(self._source[:char_index].encode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAG_ENTITY:
            raise HTMLParseError(
                f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
            )
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise HTMLParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}'
            )
        if tag == "tg-emoji" and not attributes.get("emoji-id"):
            raise HTMLParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {self._byte_offset()}'
            )
        self.stack.append((tag, self._utf16_pos, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise HTMLParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise HTMLParseError(f"Unexpected end tag at byte offset {self._byte_offset()}")
        open_tag, start, attributes = self.stack[-1]
        if open_tag != tag:
            raise HTMLParseError(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{open_tag}>", found "</{tag}>"'
            )
        self.stack.pop()
        length = self._utf16_pos - start
        if length <= 0:
            return
        entity: dict[str, Any] = {"type": _TAG_ENTITY[tag], "offset": start, "length": length}
        if tag == "a":
            href = attributes.get("href") or ""
            if not href:
                return
            entity["url"] = href
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id")
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "code":
            language = (attributes.get("class") or "").removeprefix("language-")
            if self.stack and self.stack[-1][0] == "pre" and language:
                pre_attrs = self.stack[-1][2]
                pre_attrs["language"] = language
                return
        elif tag == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self._utf16_pos += utf16_len(data)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` or raise :class:`HTMLParseError`."""
    parser = _Parser(text)
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise HTMLParseError(
            f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"'
        )
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities
