"""How a trigger or a wait-for-reply node compares a text with its phrases (R2).

The spec is pure data kept inside funnel documents; `engine.matching` executes it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MatchMode(StrEnum):
    """The comparison the phrases are checked with. Exact is the default (R2)."""

    EXACT = "exact"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    FUZZY = "fuzzy"
    SYNONYMS = "synonyms"
    REGEX = "regex"


class MatchSpec(BaseModel):
    """Matching options of one phrase list.

    - ``mode``: the comparison (see :class:`MatchMode`).
    - ``threshold``: 0–100 similarity needed by fuzzy mode (rapidfuzz ratio).
    - ``word_forms``: compare Russian words by their normal form (pymorphy3), so
      "расскажите" matches "расскажи".
    - ``negation_aware``: a negated text ("не хочу", "спасибо, но нет") never matches
      a positive phrase.
    - ``stop_phrases``: texts that contain any of these never match.
    """

    model_config = ConfigDict(extra="forbid")

    mode: MatchMode = MatchMode.EXACT
    threshold: int = Field(default=85, ge=50, le=100)
    word_forms: bool = True
    negation_aware: bool = True
    stop_phrases: list[str] = Field(default_factory=list)
