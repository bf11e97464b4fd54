"""A check of the HTML subset Telegram accepts in messages (parse_mode=HTML)."""

from __future__ import annotations

from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(
                (
                    f"Telegram does not support the tag <{tag}>",
                    f"Telegram не поддерживает тег <{tag}>",
                )
            )
            return
        if tag == "a" and not dict(attrs).get("href"):
            self.problems.append(("A link <a> needs href", "У ссылки <a> нет адреса href"))
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(
                (
                    f"The closing tag </{tag}> does not match",
                    f"Закрывающий тег </{tag}> не совпадает",
                )
            )
            return
        self.open.pop()


def html_problems(text: str) -> list[tuple[str, str]]:
    """(English, Russian) descriptions of markup Telegram would reject."""
    if "<" not in text:
        return []
    checker = _Checker()
    checker.feed(text)
    checker.close()
    for tag in checker.open:
        checker.problems.append((f"The tag <{tag}> is not closed", f"Тег <{tag}> не закрыт"))
    return checker.problems
