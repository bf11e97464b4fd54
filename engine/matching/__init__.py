"""Text matching for triggers and wait-for-reply nodes (R2).

Executes :class:`graph.matchspec.MatchSpec`. Pure Python + rapidfuzz + pymorphy3; no Qt.

Public API::

    normalise(text) -> str                      comparison form (case, ё, punctuation, emoji,
                                                look-alike Latin letters, "спасибоооо")
    tokenize(text) -> tuple[str, ...]           words of the normalised text
    CompiledMatcher(phrases, spec, synonyms)    phrases prepared once; .matches(text) -> bool,
                                                .explain(text) -> MatchExplanation
    compile_matcher(phrases, spec, synonyms)    the same, from a small LRU cache
    matches(text, phrases, spec, synonyms)      fast path -> bool
    explain(text, phrases, spec, synonyms)      MatchExplanation with reason_ru / reason_en
    SynonymDictionary(groups)                   a project's synonym groups
    default_synonyms()                          the built-in groups (DEFAULT_SYNONYM_GROUPS)
    find_negation(...), NEGATION_CUES           the negation rules (see negation.py)
    InvalidPatternError                         a regex-mode phrase does not compile

See :mod:`engine.matching.matcher` for the semantics of each mode.
"""

from __future__ import annotations

from engine.matching.matcher import (
    CompiledMatcher,
    SynonymsArg,
    compile_matcher,
    explain,
    matches,
)
from engine.matching.morph import get_analyzer, lemma, lemma_set
from engine.matching.negation import NEGATION_CUES, NegationHit, find_negation, is_negative_phrase
from engine.matching.normalize import LOOKALIKES, normalise, tokenize
from engine.matching.result import InvalidPatternError, MatchExplanation, Reason, Via
from engine.matching.synonyms import DEFAULT_SYNONYM_GROUPS, SynonymDictionary, default_synonyms

__all__ = [
    "DEFAULT_SYNONYM_GROUPS",
    "LOOKALIKES",
    "NEGATION_CUES",
    "CompiledMatcher",
    "InvalidPatternError",
    "MatchExplanation",
    "NegationHit",
    "Reason",
    "SynonymDictionary",
    "SynonymsArg",
    "Via",
    "compile_matcher",
    "default_synonyms",
    "explain",
    "find_negation",
    "get_analyzer",
    "is_negative_phrase",
    "lemma",
    "lemma_set",
    "matches",
    "normalise",
    "tokenize",
]
