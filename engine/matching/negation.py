"""Negation awareness (R2): "спасибо, но нет" and "не хочу" must not fire "спасибо" / "хочу".

Works on the normalised words of the text and the word span ``[start, end)`` where a phrase was
found. A phrase that itself contains a negation cue ("не надо", "нет") is *negative* and is
never checked — it is matched like any other phrase. For a positive phrase the match is
negated when one of these rules fires (checked in this order):

- ``before``: a cue stands right before the match ("не хочу", "нет, спасибо", "ни спасибо"), or
  two words before with an intensifier between ("не очень хочу", "не особо интересно");
- ``inside``: a cue inside the matched words that the phrase does not have (fuzzy windows,
  e.g. "не хочу курс" scored against "хочу курс");
- ``after``: the word right after the match is a cue ("спасибо нет", "интересно не очень"),
  or a contrast word ("но", "а", "однако", "хотя", "только") is later followed by a cue
  ("спасибо, но нет", "хочу, но не сейчас"), or the text ends with "нет"/"неа"
  ("спасибо, пожалуй, нет").

Known limits (deliberate, to stay predictable): idioms such as "нет проблем" right after the
phrase ("спасибо, нет вопросов") count as a refusal; double negation is not resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONTRASTS",
    "INTENSIFIERS",
    "NEGATION_CUES",
    "NegationHit",
    "find_negation",
    "is_negative_phrase",
]

#: Words that negate (compared with normalised words).
NEGATION_CUES: frozenset[str] = frozenset({"не", "нет", "ни", "неа", "нету", "нее"})
#: Words allowed between a cue and the matched word ("не очень хочу").
INTENSIFIERS: frozenset[str] = frozenset(
    {
        "очень", "особо", "особенно", "сильно", "совсем", "слишком", "так", "то", "уж",
        "вообще", "всегда", "больше", "еще", "уже", "сейчас", "пока", "шибко",
    }
)  # fmt: skip
#: Contrast words that open a refusing clause ("спасибо, но нет").
CONTRASTS: frozenset[str] = frozenset({"но", "а", "однако", "хотя", "только", "зато"})
_FINAL_REFUSALS: frozenset[str] = frozenset({"нет", "неа", "нету"})

NegationRule = Literal["before", "inside", "after"]


@dataclass(frozen=True, slots=True)
class NegationHit:
    """Where a match was negated: the cue word, its word index and which rule fired."""

    word: str
    position: int
    rule: NegationRule


def is_negative_phrase(tokens: Sequence[str]) -> bool:
    """A phrase with its own negation cue ("не надо") is matched as is, never negated."""
    return any(t in NEGATION_CUES for t in tokens)


def find_negation(
    tokens: Sequence[str], start: int, end: int, phrase_tokens: Sequence[str] = ()
) -> NegationHit | None:
    """The negation of the match at words ``[start, end)`` of ``tokens``, or ``None``."""
    # before
    if start >= 1 and tokens[start - 1] in NEGATION_CUES:
        return NegationHit(tokens[start - 1], start - 1, "before")
    if start >= 2 and tokens[start - 2] in NEGATION_CUES and tokens[start - 1] in INTENSIFIERS:
        return NegationHit(tokens[start - 2], start - 2, "before")
    # inside
    own = set(phrase_tokens)
    for i in range(start, end):
        if tokens[i] in NEGATION_CUES and tokens[i] not in own:
            return NegationHit(tokens[i], i, "inside")
    # after
    n = len(tokens)
    if end < n and tokens[end] in NEGATION_CUES:
        return NegationHit(tokens[end], end, "after")
    contrast_seen = False
    for i in range(end, n):
        word = tokens[i]
        if contrast_seen and word in NEGATION_CUES:
            return NegationHit(word, i, "after")
        if word in CONTRASTS:
            contrast_seen = True
    if n > end and tokens[-1] in _FINAL_REFUSALS:
        return NegationHit(tokens[-1], n - 1, "after")
    return None
