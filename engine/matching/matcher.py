"""Compiled phrase matching for triggers and wait-for-reply nodes (R2).

Semantics per :class:`graph.matchspec.MatchMode` (texts and phrases both normalised, see
:mod:`engine.matching.normalize`; "word equality" means the same normalised word or — with
``word_forms`` — a shared pymorphy3 normal form):

- ``exact``: the whole text equals the phrase, word by word.
- ``contains``: the phrase's words occur as consecutive whole words of the text
  ("спасибо" in "большое спасибо", but "бот" not in "работа").
- ``starts_with``: the phrase's words are the first whole words of the text.
- ``fuzzy``: rapidfuzz ``ratio`` of the phrase against every window of consecutive text words
  (phrase length −1, 0, +1 words, so a missing or extra space is tolerated); with
  ``word_forms`` also of their normal forms; the best score must be ≥ ``threshold``, and
  every phrase word of 3+ letters must have a counterpart in the window at least
  ``threshold − 15`` similar (so "оплату за матрицу получила" does not pass for "оплату за
  таро получила" although the strings are 86 % similar).
- ``synonyms``: like ``contains``, after replacing every synonym-group member (matched by
  normal form, longest first) in the text and in the phrase by its group.
- ``regex``: the phrase is a Python regular expression searched case-insensitively, first in
  the normalised text, then — only if that fails — in the raw text as received (so
  ``^\\d{2}\\.\\d{2}\\.\\d{4}$`` for a birth date works although normalisation drops dots).
  Negation awareness applies to matches in the normalised text only (a match whose own
  words contain "не"/"нет" is a negative phrase and is never negated). An invalid pattern
  raises :class:`InvalidPatternError` when the matcher is compiled.

Then, in every mode: a text containing a stop-phrase (``contains`` with the spec's
``word_forms``) never matches; with ``negation_aware`` a positive phrase found in a negated
position does not count (see :mod:`engine.matching.negation`). Phrases that normalise to an
empty string (emoji only) are ignored, except in regex mode.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

from rapidfuzz import fuzz

from engine.matching.morph import lemma, lemma_set
from engine.matching.negation import NegationHit, find_negation, is_negative_phrase
from engine.matching.normalize import normalise
from engine.matching.result import InvalidPatternError, MatchExplanation, Reason, Via
from engine.matching.synonyms import SynonymDictionary, default_synonyms
from graph.matchspec import MatchMode, MatchSpec

__all__ = ["CompiledMatcher", "SynonymsArg", "compile_matcher", "explain", "matches"]

SynonymsArg = SynonymDictionary | Iterable[Iterable[str]] | None

_MODE_RU = {
    MatchMode.EXACT: "точное совпадение",
    MatchMode.CONTAINS: "содержит",
    MatchMode.STARTS_WITH: "начинается с",
    MatchMode.FUZZY: "нечёткое совпадение",
    MatchMode.SYNONYMS: "синонимы",
    MatchMode.REGEX: "регулярное выражение",
}
_MODE_EN = {
    MatchMode.EXACT: "exact",
    MatchMode.CONTAINS: "contains",
    MatchMode.STARTS_WITH: "starts with",
    MatchMode.FUZZY: "fuzzy",
    MatchMode.SYNONYMS: "synonyms",
    MatchMode.REGEX: "regex",
}
_RULE_RU = {"before": "перед фразой", "inside": "внутри фразы", "after": "после фразы"}
_RULE_EN = {
    "before": "before the phrase",
    "inside": "inside the phrase",
    "after": "after the phrase",
}


def _q(s: str) -> str:
    return f"«{s}»"


def _qe(s: str) -> str:
    return f'"{s}"'


def _where(span: tuple[int, int] | None) -> tuple[str, str]:
    s, e = span or (0, 0)
    if e - s <= 1:
        return f"слово {s + 1}", f"word {s + 1}"
    return f"слова {s + 1}–{e}", f"words {s + 1}–{e}"


# --------------------------------------------------------------------------- analysed texts


class _Text:
    """A message text with its normalised words; normal forms computed on demand."""

    __slots__ = (
        "_canon",
        "_lemma_index",
        "_lemmas",
        "_sets",
        "_surface_index",
        "norm",
        "raw",
        "tokens",
    )

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.norm = normalise(raw)
        self.tokens: tuple[str, ...] = tuple(self.norm.split(" ")) if self.norm else ()
        self._sets: tuple[frozenset[str], ...] | None = None
        self._lemmas: tuple[str, ...] | None = None
        self._surface_index: dict[str, list[int]] | None = None
        self._lemma_index: dict[str, list[int]] | None = None
        self._canon: dict[SynonymDictionary, tuple[_CTok, ...]] = {}

    def sets(self) -> tuple[frozenset[str], ...]:
        if self._sets is None:
            self._sets = tuple(lemma_set(t) for t in self.tokens)
        return self._sets

    def lemmas(self) -> tuple[str, ...]:
        if self._lemmas is None:
            self._lemmas = tuple(lemma(t) for t in self.tokens)
        return self._lemmas

    def surface_index(self) -> dict[str, list[int]]:
        """Word → its positions."""
        if self._surface_index is None:
            index: dict[str, list[int]] = {}
            for i, word in enumerate(self.tokens):
                index.setdefault(word, []).append(i)
            self._surface_index = index
        return self._surface_index

    def lemma_index(self) -> dict[str, list[int]]:
        """Word or any of its normal forms → positions."""
        if self._lemma_index is None:
            index: dict[str, list[int]] = {}
            for i, forms in enumerate(self.sets()):
                for form in forms:
                    index.setdefault(form, []).append(i)
            self._lemma_index = index
        return self._lemma_index

    def canonical(self, dictionary: SynonymDictionary) -> tuple[_CTok, ...]:
        """The words with synonym-group members replaced by their groups."""
        canon = self._canon.get(dictionary)
        if canon is None:
            canon = self._canon[dictionary] = _canonicalise(self.sets(), dictionary)
        return canon

    def span_of_chars(self, start: int, end: int) -> tuple[int, int]:
        """Word span [i, j) of the normalised words overlapping characters [start, end)."""
        first = self.norm.count(" ", 0, start)
        if end <= start:
            return first, first
        last = self.norm.count(" ", 0, end - 1)
        return first, last + 1


_TEXT_CACHE: OrderedDict[str, _Text] = OrderedDict()
_TEXT_CACHE_SIZE = 512
_TEXT_LOCK = Lock()


def _analyse(raw: str) -> _Text:
    """Analysed text, shared by all matchers evaluating the same incoming message."""
    with _TEXT_LOCK:
        hit = _TEXT_CACHE.get(raw)
        if hit is not None:
            _TEXT_CACHE.move_to_end(raw)
            return hit
    text = _Text(raw)
    with _TEXT_LOCK:
        _TEXT_CACHE[raw] = text
        if len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
            _TEXT_CACHE.popitem(last=False)
    return text


@dataclass(frozen=True, slots=True)
class _CTok:
    """A word of a synonym-canonicalised sequence: a group member or a plain word."""

    groups: frozenset[int] | None
    start: int
    end: int
    member: str | None


def _canonicalise(
    sets: Sequence[frozenset[str]], dictionary: SynonymDictionary
) -> tuple[_CTok, ...]:
    out: list[_CTok] = []
    i = 0
    while i < len(sets):
        hit = dictionary.find_at(sets, i)
        if hit is None:
            out.append(_CTok(None, i, i + 1, None))
            i += 1
        else:
            out.append(_CTok(hit.groups, hit.start, hit.end, hit.member))
            i = hit.end
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Phrase:
    raw: str
    norm: str
    tokens: tuple[str, ...]
    sets: tuple[frozenset[str], ...]
    lemmas: tuple[str, ...]
    negative: bool
    pattern: re.Pattern[str] | None
    canon: tuple[_CTok, ...]


@dataclass(slots=True)
class _Attempt:
    phrase: _Phrase
    matched: bool
    span: tuple[int, int] | None = None
    via: Via | None = None
    score: float | None = None
    negation: NegationHit | None = None
    synonym: str | None = None
    synonym_group: tuple[str, ...] = ()


# --------------------------------------------------------------------------- the matcher


class CompiledMatcher:
    """Phrases and a :class:`MatchSpec` prepared once; call :meth:`matches` per message.

    ``synonyms``: a :class:`SynonymDictionary`, or groups of strings, or ``None`` for the
    built-in groups (used in synonyms mode only). Raises :class:`InvalidPatternError` for an
    invalid regex-mode phrase.
    """

    def __init__(
        self,
        phrases: Iterable[str] | str,
        spec: MatchSpec | None = None,
        synonyms: SynonymsArg = None,
    ) -> None:
        spec = spec if spec is not None else MatchSpec()
        if isinstance(phrases, str):
            phrases = [phrases]
        self.mode: MatchMode = spec.mode
        self.threshold: int = spec.threshold
        self.word_forms: bool = spec.word_forms
        self.negation_aware: bool = spec.negation_aware
        self.phrases: tuple[str, ...] = tuple(phrases)
        self.stop_phrases: tuple[str, ...] = tuple(spec.stop_phrases)
        self._dictionary: SynonymDictionary | None = None
        if self.mode is MatchMode.SYNONYMS:
            if synonyms is None:
                self._dictionary = default_synonyms()
            elif isinstance(synonyms, SynonymDictionary):
                self._dictionary = synonyms
            else:
                self._dictionary = SynonymDictionary(synonyms)
        self._word_gate = max(50, self.threshold - 15)
        self._needs_forms = self.word_forms or self.mode is MatchMode.SYNONYMS
        compiled: list[_Phrase] = []
        ignored: list[str] = []
        for raw in self.phrases:
            phrase = self._compile(raw, regex=self.mode is MatchMode.REGEX)
            if phrase is None:
                ignored.append(raw)
            else:
                compiled.append(phrase)
        self._phrases: tuple[_Phrase, ...] = tuple(compiled)
        #: Phrases that are empty after normalisation (never match).
        self.ignored_phrases: tuple[str, ...] = tuple(ignored)
        stops = (self._compile(s, regex=False, canonical=False) for s in self.stop_phrases)
        self._stops: tuple[_Phrase, ...] = tuple(s for s in stops if s is not None)

    def __repr__(self) -> str:
        return f"CompiledMatcher({list(self.phrases)!r}, mode={self.mode.value})"

    def _compile(self, raw: str, *, regex: bool, canonical: bool = True) -> _Phrase | None:
        norm = normalise(raw)
        pattern: re.Pattern[str] | None = None
        if regex:
            try:
                pattern = re.compile(raw, re.IGNORECASE)
            except re.error as exc:
                raise InvalidPatternError(raw, str(exc)) from None
        elif not norm:
            return None
        tokens = tuple(norm.split(" ")) if norm else ()
        sets: tuple[frozenset[str], ...] = ()
        lemmas: tuple[str, ...] = ()
        if self._needs_forms and not regex:
            sets = tuple(lemma_set(t) for t in tokens)
            lemmas = tuple(lemma(t) for t in tokens)
        canon: tuple[_CTok, ...] = ()
        if canonical and self._dictionary is not None:
            canon = _canonicalise(sets, self._dictionary)
        return _Phrase(raw, norm, tokens, sets, lemmas, is_negative_phrase(tokens), pattern, canon)

    # -- public API -----------------------------------------------------------------------

    def __call__(self, text: str) -> bool:
        return self.matches(text)

    def matches(self, text: str) -> bool:
        """True when ``text`` matches one of the phrases (the engine's fast path)."""
        if not self._phrases:
            return False
        t = _analyse(text if isinstance(text, str) else str(text))
        if not t.tokens and self.mode is not MatchMode.REGEX:
            return False
        if self._stop_hit(t) is not None:
            return False
        return any(a.matched for a in self._attempts(t))

    def explain(self, text: str) -> MatchExplanation:
        """Whether and why ``text`` matches, with reasons in Russian and English."""
        t = _analyse(text if isinstance(text, str) else str(text))
        mode_ru, mode_en = _MODE_RU[self.mode], _MODE_EN[self.mode]
        if not self._phrases:
            return self._no_match(
                t,
                reason=Reason.NO_PHRASES,
                reason_ru="Нет совпадения: список фраз пуст"
                + (
                    " (фразы из одних эмодзи/знаков не учитываются)."
                    if self.ignored_phrases
                    else "."
                ),
                reason_en="No match: the phrase list is empty"
                + (
                    " (phrases of only emoji/punctuation are ignored)."
                    if self.ignored_phrases
                    else "."
                ),
            )
        if not t.tokens and self.mode is not MatchMode.REGEX:
            return self._no_match(
                t,
                reason=Reason.EMPTY_TEXT,
                reason_ru="Нет совпадения: после нормализации текст пуст "
                "(в нём только эмодзи, знаки препинания или пробелы).",
                reason_en="No match: the text is empty after normalisation "
                "(only emoji, punctuation or spaces).",
            )
        stop = self._stop_hit(t)
        if stop is not None:
            stop_phrase, (s, e) = stop
            frag = " ".join(t.tokens[s:e])
            return self._no_match(
                t,
                reason=Reason.STOP_PHRASE,
                stop_phrase=stop_phrase.raw,
                fragment=frag,
                span=(s, e),
                reason_ru=f"Нет совпадения: текст содержит стоп-фразу {_q(stop_phrase.raw)} "
                f"(слова {_q(frag)}).",
                reason_en=f"No match: the text contains the stop-phrase {_qe(stop_phrase.raw)} "
                f"(words {_qe(frag)}).",
            )
        negated: _Attempt | None = None
        best_fuzzy: _Attempt | None = None
        for attempt in self._attempts(t):
            if attempt.matched:
                return self._explain_match(t, attempt)
            if attempt.negation is not None and negated is None:
                negated = attempt
            if attempt.score is not None and (
                best_fuzzy is None or attempt.score > (best_fuzzy.score or 0.0)
            ):
                best_fuzzy = attempt
        if negated is not None:
            return self._explain_negated(t, negated)
        if best_fuzzy is not None and self.mode is MatchMode.FUZZY:
            p = best_fuzzy.phrase
            score = round(best_fuzzy.score or 0.0, 1)
            frag = (
                " ".join(t.tokens[best_fuzzy.span[0] : best_fuzzy.span[1]])
                if best_fuzzy.span
                else ""
            )
            return self._no_match(
                t,
                reason=Reason.BELOW_THRESHOLD,
                phrase=p.raw,
                normalised_phrase=p.norm,
                fragment=frag or None,
                span=best_fuzzy.span,
                score=score,
                threshold=self.threshold,
                reason_ru=f"Нет совпадения: лучшее сходство {score:g} (фраза {_q(p.raw)}, "
                f"слова {_q(frag)}) ниже порога {self.threshold}.",
                reason_en=f"No match: the best similarity {score:g} (phrase {_qe(p.raw)}, "
                f"words {_qe(frag)}) is below the threshold {self.threshold}.",
            )
        listed_ru = ", ".join(_q(p.raw) for p in self._phrases[:10])
        listed_en = ", ".join(_qe(p.raw) for p in self._phrases[:10])
        more = f" (+{len(self._phrases) - 10})" if len(self._phrases) > 10 else ""
        return self._no_match(
            t,
            reason=Reason.NOT_FOUND,
            reason_ru=f"Нет совпадения (режим: {mode_ru}): текст {_q(t.norm)} не подходит ни к "
            f"одной фразе: {listed_ru}{more}.",
            reason_en=f"No match (mode: {mode_en}): the text {_qe(t.norm)} fits none of the "
            f"phrases: {listed_en}{more}.",
        )

    # -- explanation texts ----------------------------------------------------------------

    def _no_match(self, t: _Text, **fields: Any) -> MatchExplanation:
        return MatchExplanation(
            matched=False, mode=self.mode, text=t.raw, normalised_text=t.norm, **fields
        )

    def _explain_match(self, t: _Text, a: _Attempt) -> MatchExplanation:
        p = a.phrase
        mode_ru, mode_en = _MODE_RU[self.mode], _MODE_EN[self.mode]
        span = a.span
        frag = " ".join(t.tokens[span[0] : span[1]]) if span else ""
        text_lemmas: tuple[str, ...] = ()
        phrase_lemmas: tuple[str, ...] = ()
        if a.via in (Via.LEMMA, Via.SYNONYM) and span is not None:
            text_lemmas = t.lemmas()[span[0] : span[1]]
            phrase_lemmas = p.lemmas
        head_ru = f"Совпадение (режим: {mode_ru}) с фразой {_q(p.raw)}"
        head_en = f"Matched (mode: {mode_en}) the phrase {_qe(p.raw)}"
        if a.via is Via.SURFACE:
            if self.mode is MatchMode.EXACT:
                ru = f"{head_ru}: после нормализации текст и фраза равны — {_q(frag)}."
                en = f"{head_en}: after normalisation the text equals the phrase — {_qe(frag)}."
            else:
                where_ru, where_en = _where(span)
                ru = f"{head_ru}: в тексте {_q(t.norm)} найдено {_q(frag)} ({where_ru})."
                en = f"{head_en}: found {_qe(frag)} in the text {_qe(t.norm)} ({where_en})."
        elif a.via is Via.LEMMA:
            tl, pl = " ".join(text_lemmas), " ".join(phrase_lemmas)
            ru = f"{head_ru}: по формам слов {_q(frag)} → {_q(tl)} совпадает с {_q(p.norm)} → {_q(pl)}."
            en = f"{head_en}: by word forms {_qe(frag)} → {_qe(tl)} equals {_qe(p.norm)} → {_qe(pl)}."
        elif a.via is Via.SYNONYM:
            group = ", ".join(a.synonym_group)
            ru = f"{head_ru}: в тексте {_q(frag)} слово {_q(a.synonym or frag)} — синоним (группа: {group})."
            en = f"{head_en}: in the text {_qe(frag)} the word {_qe(a.synonym or frag)} is a synonym (group: {group})."
        elif a.via is Via.FUZZY:
            score = round(a.score or 0.0, 1)
            ru = f"{head_ru}: слова {_q(frag)} похожи на {_q(p.norm)}, сходство {score:g} ≥ порога {self.threshold}."
            en = f"{head_en}: the words {_qe(frag)} are similar to {_qe(p.norm)}, score {score:g} ≥ threshold {self.threshold}."
        elif a.via is Via.REGEX_NORMALISED:
            ru = f"{head_ru}: выражение найдено в нормализованном тексте {_q(t.norm)}: {_q(frag)}."
            en = f"{head_en}: the pattern was found in the normalised text {_qe(t.norm)}: {_qe(frag)}."
        else:
            ru = f"{head_ru}: выражение найдено в исходном тексте {_q(t.raw)}."
            en = f"{head_en}: the pattern was found in the raw text {_qe(t.raw)}."
        return MatchExplanation(
            matched=True,
            reason=Reason.MATCHED,
            mode=self.mode,
            text=t.raw,
            normalised_text=t.norm,
            via=a.via,
            phrase=p.raw,
            normalised_phrase=p.norm,
            fragment=frag if a.via is not Via.REGEX_RAW else None,
            span=span,
            score=round(a.score, 1) if a.score is not None else None,
            threshold=self.threshold if self.mode is MatchMode.FUZZY else None,
            text_lemmas=text_lemmas,
            phrase_lemmas=phrase_lemmas,
            synonym=a.synonym,
            synonym_group=a.synonym_group,
            reason_ru=ru,
            reason_en=en,
        )

    def _explain_negated(self, t: _Text, a: _Attempt) -> MatchExplanation:
        p = a.phrase
        neg = a.negation
        assert neg is not None
        span = a.span or (0, 0)
        frag = " ".join(t.tokens[span[0] : span[1]])
        ru = (
            f"Нет совпадения: фраза {_q(p.raw)} найдена ({_q(frag)}), но отрицается словом "
            f"{_q(neg.word)} {_RULE_RU[neg.rule]} (слово {neg.position + 1} текста {_q(t.norm)})."
        )
        en = (
            f"No match: the phrase {_qe(p.raw)} was found ({_qe(frag)}) but is negated by "
            f"{_qe(neg.word)} {_RULE_EN[neg.rule]} (word {neg.position + 1} of {_qe(t.norm)})."
        )
        return MatchExplanation(
            matched=False,
            reason=Reason.NEGATED,
            mode=self.mode,
            text=t.raw,
            normalised_text=t.norm,
            via=a.via,
            phrase=p.raw,
            normalised_phrase=p.norm,
            fragment=frag,
            span=a.span,
            score=round(a.score, 1) if a.score is not None else None,
            threshold=self.threshold if self.mode is MatchMode.FUZZY else None,
            synonym=a.synonym,
            synonym_group=a.synonym_group,
            negation_word=neg.word,
            negation_position=neg.position,
            negation_rule=neg.rule,
            reason_ru=ru,
            reason_en=en,
        )

    # -- matching -------------------------------------------------------------------------

    def _stop_hit(self, t: _Text) -> tuple[_Phrase, tuple[int, int]] | None:
        for stop in self._stops:
            for start in self._starts(t, stop, anchored=False):
                return stop, (start, start + len(stop.tokens))
        return None

    def _attempts(self, t: _Text) -> Iterator[_Attempt]:
        mode = self.mode
        if mode is MatchMode.EXACT:
            try_one = self._try_exact
        elif mode is MatchMode.CONTAINS:
            try_one = self._try_contains
        elif mode is MatchMode.STARTS_WITH:
            try_one = self._try_starts_with
        elif mode is MatchMode.FUZZY:
            try_one = self._try_fuzzy
        elif mode is MatchMode.SYNONYMS:
            canon = t.canonical(self._dictionary) if self._dictionary else ()
            for phrase in self._phrases:
                yield self._try_synonyms(t, phrase, canon)
            return
        else:
            try_one = self._try_regex
        for phrase in self._phrases:
            yield try_one(t, phrase)

    def _eq(self, t: _Text, i: int, p: _Phrase, j: int) -> bool:
        if t.tokens[i] == p.tokens[j]:
            return True
        return self._needs_forms and not t.sets()[i].isdisjoint(p.sets[j])

    def _via_words(self, t: _Text, start: int, p: _Phrase) -> Via:
        same = t.tokens[start : start + len(p.tokens)] == p.tokens
        return Via.SURFACE if same else Via.LEMMA

    def _starts(self, t: _Text, p: _Phrase, *, anchored: bool) -> Iterator[int]:
        """Word indices where the phrase's words occur consecutively in the text."""
        n, m = len(t.tokens), len(p.tokens)
        if m == 0 or m > n:
            return
        if self._needs_forms:
            # lemma_set() contains the word itself, so this finds equal words and shared forms
            index = t.lemma_index()
            found: set[int] = set()
            for key in p.sets[0]:
                found.update(index.get(key, ()))
            candidates: Iterable[int] = sorted(found)
        else:
            if f" {p.norm} " not in f" {t.norm} ":
                return
            candidates = t.surface_index().get(p.tokens[0], ())
        for i in candidates:
            if anchored and i != 0:
                return
            if i + m <= n and all(self._eq(t, i + j, p, j) for j in range(1, m)):
                yield i

    def _negation(self, t: _Text, p: _Phrase, start: int, end: int) -> NegationHit | None:
        if not self.negation_aware or p.negative:
            return None
        return find_negation(t.tokens, start, end, p.tokens)

    def _try_exact(self, t: _Text, p: _Phrase) -> _Attempt:
        n = len(t.tokens)
        if t.norm == p.norm:
            return _Attempt(p, True, (0, n), Via.SURFACE)
        if self.word_forms and n == len(p.tokens) and all(self._eq(t, i, p, i) for i in range(n)):
            return _Attempt(p, True, (0, n), Via.LEMMA)
        return _Attempt(p, False)

    def _try_found(self, t: _Text, p: _Phrase, starts: Iterable[int]) -> _Attempt:
        first_negated: _Attempt | None = None
        m = len(p.tokens)
        for start in starts:
            neg = self._negation(t, p, start, start + m)
            via = self._via_words(t, start, p)
            if neg is None:
                return _Attempt(p, True, (start, start + m), via)
            if first_negated is None:
                first_negated = _Attempt(p, False, (start, start + m), via, negation=neg)
        return first_negated or _Attempt(p, False)

    def _try_contains(self, t: _Text, p: _Phrase) -> _Attempt:
        return self._try_found(t, p, self._starts(t, p, anchored=False))

    def _try_starts_with(self, t: _Text, p: _Phrase) -> _Attempt:
        return self._try_found(t, p, self._starts(t, p, anchored=True))

    def _word_floor(self, t: _Text, s: int, e: int, p: _Phrase) -> float:
        """The worst similarity of a phrase word (3+ letters) to its best word in the window.

        Keeps one wrong content word from hiding in a long phrase: "оплату за матрицу
        получила" is 86 % similar to "оплату за таро получила" as a whole, but "таро" has no
        counterpart (50). ``partial_ratio`` lets a phrase word sit inside a merged text word
        ("оплатуза"). Each such word must reach ``threshold − 15`` (a typo in a short word,
        "хочю", still passes); otherwise the window scores this floor.
        """
        floor = 100.0
        sets = t.sets() if self.word_forms else ()
        for j, w in enumerate(p.tokens):
            if len(w) <= 2:
                continue
            best = 0.0
            for i in range(s, e):
                v = t.tokens[i]
                if v == w or (self.word_forms and not sets[i].isdisjoint(p.sets[j])):
                    best = 100.0
                    break
                sim = fuzz.ratio(w, v)
                if len(v) > len(w) + 1:
                    sim = max(sim, fuzz.partial_ratio(w, v))
                best = max(best, sim)
            floor = min(floor, best)
            if floor < self._word_gate:
                break
        return floor

    def _try_fuzzy(self, t: _Text, p: _Phrase) -> _Attempt:
        n, m = len(t.tokens), len(p.tokens)
        if n == 0 or m == 0:
            return _Attempt(p, False)
        lemma_phrase = " ".join(p.lemmas) if self.word_forms else ""
        t_lemmas = t.lemmas() if self.word_forms else ()
        scored: list[tuple[float, int, int, int]] = []
        for size in {max(1, m - 1), m, m + 1}:
            if size > n:
                continue
            for s in range(n - size + 1):
                e = s + size
                score = fuzz.ratio(" ".join(t.tokens[s:e]), p.norm)
                if self.word_forms:
                    score = max(score, fuzz.ratio(" ".join(t_lemmas[s:e]), lemma_phrase))
                if score >= self.threshold:
                    floor = self._word_floor(t, s, e, p)
                    if floor < self._word_gate:
                        score = floor
                scored.append((score, abs(size - m), s, e))
        if not scored:
            return _Attempt(p, False)
        scored.sort(key=lambda x: (-x[0], x[1], x[2]))
        first_negated: _Attempt | None = None
        for score, _, s, e in scored:
            if score < self.threshold:
                break
            neg = self._negation(t, p, s, e)
            if neg is None:
                return _Attempt(p, True, (s, e), Via.FUZZY, score=score)
            if first_negated is None:
                first_negated = _Attempt(p, False, (s, e), Via.FUZZY, score=score, negation=neg)
        if first_negated is not None:
            return first_negated
        best = scored[0]
        return _Attempt(p, False, (best[2], best[3]), score=best[0])

    def _try_synonyms(self, t: _Text, p: _Phrase, canon: Sequence[_CTok]) -> _Attempt:
        pc = p.canon
        n, m = len(canon), len(pc)
        if m == 0 or m > n or self._dictionary is None:
            return _Attempt(p, False)
        first_negated: _Attempt | None = None
        for i in range(n - m + 1):
            if not all(self._ctok_eq(t, canon[i + j], p, pc[j]) for j in range(m)):
                continue
            start, end = canon[i].start, canon[i + m - 1].end
            member: str | None = None
            group: tuple[str, ...] = ()
            for j in range(m):
                tc, pcj = canon[i + j], pc[j]
                if (
                    tc.groups is not None
                    and pcj.groups is not None
                    and normalise(tc.member or "") != normalise(pcj.member or "")
                ):
                    member = tc.member
                    group = self._dictionary.group(min(tc.groups & pcj.groups))
                    break
            if member is not None:
                via = Via.SYNONYM
            elif t.tokens[start:end] == p.tokens:
                via = Via.SURFACE
            else:
                via = Via.LEMMA
            neg = self._negation(t, p, start, end)
            if neg is None:
                return _Attempt(p, True, (start, end), via, synonym=member, synonym_group=group)
            if first_negated is None:
                first_negated = _Attempt(
                    p, False, (start, end), via, negation=neg, synonym=member, synonym_group=group
                )
        return first_negated or _Attempt(p, False)

    def _ctok_eq(self, t: _Text, tc: _CTok, p: _Phrase, pc: _CTok) -> bool:
        if tc.groups is not None or pc.groups is not None:
            return (
                tc.groups is not None
                and pc.groups is not None
                and not tc.groups.isdisjoint(pc.groups)
            )
        return self._eq(t, tc.start, p, pc.start)

    def _try_regex(self, t: _Text, p: _Phrase) -> _Attempt:
        pattern = p.pattern
        assert pattern is not None
        if t.norm:
            found = pattern.search(t.norm)
            if found is not None:
                start, end = t.span_of_chars(found.start(), found.end())
                # a pattern's own words are unknown: the matched words stand for the phrase
                words = t.tokens[start:end]
                neg = None
                if self.negation_aware and not is_negative_phrase(words):
                    neg = find_negation(t.tokens, start, end, words)
                if neg is None:
                    return _Attempt(p, True, (start, end), Via.REGEX_NORMALISED)
                return _Attempt(p, False, (start, end), Via.REGEX_NORMALISED, negation=neg)
        if pattern.search(t.raw) is not None:
            return _Attempt(p, True, None, Via.REGEX_RAW)
        return _Attempt(p, False)


# --------------------------------------------------------------------------- module helpers

_MATCHER_CACHE: OrderedDict[tuple[object, ...], CompiledMatcher] = OrderedDict()
_MATCHER_CACHE_SIZE = 256
_MATCHER_LOCK = Lock()


def _synonyms_key(synonyms: SynonymsArg) -> object:
    if synonyms is None or isinstance(synonyms, SynonymDictionary):
        return synonyms
    return tuple(tuple(g) for g in synonyms)


def compile_matcher(
    phrases: Iterable[str] | str, spec: MatchSpec | None = None, synonyms: SynonymsArg = None
) -> CompiledMatcher:
    """A :class:`CompiledMatcher`, reused from a small LRU cache for identical arguments."""
    spec = spec if spec is not None else MatchSpec()
    phrase_key = (phrases,) if isinstance(phrases, str) else tuple(phrases)
    syn_key = _synonyms_key(synonyms) if spec.mode is MatchMode.SYNONYMS else None
    key = (phrase_key, spec.model_dump_json(), syn_key)
    with _MATCHER_LOCK:
        hit = _MATCHER_CACHE.get(key)
        if hit is not None:
            _MATCHER_CACHE.move_to_end(key)
            return hit
    # groups given as an iterable were materialised into syn_key (it may be a one-shot iterator)
    matcher = CompiledMatcher(phrase_key, spec, syn_key if isinstance(syn_key, tuple) else synonyms)
    with _MATCHER_LOCK:
        _MATCHER_CACHE[key] = matcher
        if len(_MATCHER_CACHE) > _MATCHER_CACHE_SIZE:
            _MATCHER_CACHE.popitem(last=False)
    return matcher


def matches(
    text: str,
    phrases: Iterable[str] | str,
    spec: MatchSpec | None = None,
    synonyms: SynonymsArg = None,
) -> bool:
    """True when ``text`` matches one of ``phrases`` under ``spec`` (default: exact)."""
    return compile_matcher(phrases, spec, synonyms).matches(text)


def explain(
    text: str,
    phrases: Iterable[str] | str,
    spec: MatchSpec | None = None,
    synonyms: SynonymsArg = None,
) -> MatchExplanation:
    """Whether and why ``text`` matches ``phrases`` — for the app's phrase tester."""
    return compile_matcher(phrases, spec, synonyms).explain(text)
