"""Result and error types of the matcher."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from graph.matchspec import MatchMode

__all__ = ["InvalidPatternError", "MatchExplanation", "Reason", "Via"]


class InvalidPatternError(ValueError):
    """A regex-mode phrase is not a valid Python regular expression (raised when compiling)."""

    def __init__(self, pattern: str, message: str) -> None:
        super().__init__(f"invalid regular expression {pattern!r}: {message}")
        self.pattern = pattern
        self.message = message
        self.reason_ru = f"Неверное регулярное выражение «{pattern}»: {message}"
        self.reason_en = f'Invalid regular expression "{pattern}": {message}'


class Reason(StrEnum):
    """Why a text matched or did not."""

    MATCHED = "matched"
    NEGATED = "negated"  # a phrase was found but the text negates it
    STOP_PHRASE = "stop_phrase"  # the text contains a stop-phrase
    BELOW_THRESHOLD = "below_threshold"  # fuzzy: the best similarity is under the threshold
    NOT_FOUND = "not_found"  # no phrase found
    EMPTY_TEXT = "empty_text"  # nothing left after normalisation (emoji, punctuation only)
    NO_PHRASES = "no_phrases"  # the phrase list is empty (or every phrase normalises to "")


class Via(StrEnum):
    """How a matching phrase was recognised."""

    SURFACE = "surface"  # the same normalised words
    LEMMA = "lemma"  # the same words up to their forms (pymorphy3 normal forms)
    SYNONYM = "synonym"  # a member of the same synonym group
    FUZZY = "fuzzy"  # similarity score ≥ threshold
    REGEX_NORMALISED = "regex_normalised"  # the pattern matched the normalised text
    REGEX_RAW = "regex_raw"  # the pattern matched the text as received


@dataclass(frozen=True, slots=True)
class MatchExplanation:
    """Whether and why a text matched a phrase list — for the phrase tester (R2).

    Truthy when matched. Word positions count words of ``normalised_text`` from 0.
    """

    matched: bool
    reason: Reason
    mode: MatchMode
    text: str
    normalised_text: str
    reason_ru: str
    reason_en: str
    via: Via | None = None
    phrase: str | None = None  # the matching phrase, or the one the reason is about
    normalised_phrase: str | None = None
    fragment: str | None = None  # the words of the text that matched (normalised)
    span: tuple[int, int] | None = None  # word span [start, end) of ``fragment``
    score: float | None = None  # fuzzy similarity 0–100 (best one when below threshold)
    threshold: int | None = None  # fuzzy threshold
    text_lemmas: tuple[str, ...] = ()  # normal forms of ``fragment`` when forms/synonyms mattered
    phrase_lemmas: tuple[str, ...] = ()
    synonym: str | None = None  # the dictionary member found in the text
    synonym_group: tuple[str, ...] = ()
    negation_word: str | None = None
    negation_position: int | None = None
    negation_rule: str | None = None  # "before" / "inside" / "after"
    stop_phrase: str | None = None

    def __bool__(self) -> bool:
        return self.matched
