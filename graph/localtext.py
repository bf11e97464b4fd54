"""Text shown to people in both interface languages (Russian first)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalText:
    ru: str
    en: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` ("ru" or "en"); Russian for any other value."""
        return self.en if lang == "en" else self.ru
