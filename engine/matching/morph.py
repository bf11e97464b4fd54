"""Russian word forms via pymorphy3: one lazily created analyser, cached lemmatisation."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

__all__ = ["get_analyzer", "lemma", "lemma_set"]

_ANALYZER: Any = None
_LOCK = threading.Lock()


def get_analyzer() -> Any:
    """The process-wide ``pymorphy3.MorphAnalyzer`` (created on first use: ~0.4 s, ~15 MB)."""
    global _ANALYZER
    if _ANALYZER is None:
        with _LOCK:
            if _ANALYZER is None:
                import pymorphy3

                _ANALYZER = pymorphy3.MorphAnalyzer()
    return _ANALYZER


def _needs_analysis(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


@lru_cache(maxsize=100_000)
def lemma_set(word: str) -> frozenset[str]:
    """All normal forms pymorphy3 proposes for a (normalised) word, plus the word itself.

    Two words are "the same word" for matching when these sets intersect — this tolerates
    pymorphy's ambiguity ("стали" = стать / сталь) instead of betting on its first parse.
    """
    if not _needs_analysis(word):
        return frozenset((word,))
    try:
        parses = get_analyzer().parse(word)
    except Exception:  # pymorphy3 fails on some exotic characters (unnamed code points)
        return frozenset((word,))
    forms = {p.normal_form.replace("ё", "е") for p in parses}
    forms.add(word)
    return frozenset(forms)


@lru_cache(maxsize=100_000)
def lemma(word: str) -> str:
    """The most probable normal form of a (normalised) word ("расскажите" → "рассказать")."""
    if not _needs_analysis(word):
        return word
    try:
        parses = get_analyzer().parse(word)
    except Exception:  # see lemma_set()
        return word
    if not parses:
        return word
    return str(parses[0].normal_form).replace("ё", "е")
