"""Synonym groups (R2): words or phrases that mean the same thing, matched by lemma.

A :class:`SynonymDictionary` is built once from groups of strings. Each member is normalised
and lemmatised; in synonyms mode both the text and the phrase are rewritten so that every
occurrence of a member (longest member first, left to right) becomes its group, and the
sequences are then compared. So with the group {"спасибо", "благодарю", "спс"} the phrase
"спасибо" matches "Благодарим!" (lemma "благодарить") and "спс большое".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from engine.matching.morph import lemma_set
from engine.matching.normalize import normalise

__all__ = ["DEFAULT_SYNONYM_GROUPS", "SynonymDictionary", "SynonymHit", "default_synonyms"]

#: The built-in groups used when no project dictionary is given.
DEFAULT_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("спасибо", "большое спасибо", "благодарю", "благодарствую", "спс", "спасибки", "пасиб",
     "мерси", "сенкс", "thanks", "thank you"),
    ("да", "ага", "угу", "конечно", "давай", "давайте", "хорошо", "ок", "окей", "ok", "okay",
     "согласен", "согласна"),
    ("нет", "неа", "не надо", "не нужно", "не хочу", "не интересно"),
    ("хочу", "хотелось бы", "желаю"),
    ("оплатила", "оплатил", "заплатила", "заплатил", "оплата прошла", "перевела оплату"),
    ("здравствуйте", "привет", "добрый день", "добрый вечер", "доброе утро", "здрасте",
     "приветствую"),
    ("цена", "стоимость", "сколько стоит", "почем", "прайс"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SynonymHit:
    """A member of a group found in a word sequence."""

    groups: frozenset[int]
    start: int
    end: int
    member: str


class SynonymDictionary:
    """Immutable groups of equivalent words/phrases with a lemma index."""

    def __init__(self, groups: Iterable[Iterable[str]]) -> None:
        kept: list[tuple[str, ...]] = []
        # first-word key → [(member word lemma sets, group id, member text)]
        index: dict[str, list[tuple[tuple[frozenset[str], ...], int, str]]] = {}
        for raw_group in groups:
            members = tuple(m for m in raw_group if isinstance(m, str) and normalise(m))
            if not members:
                continue
            gid = len(kept)
            kept.append(members)
            for member in members:
                words = normalise(member).split(" ")
                sets = tuple(lemma_set(w) for w in words)
                for key in sets[0]:
                    index.setdefault(key, []).append((sets, gid, member))
        for entries in index.values():
            entries.sort(key=lambda e: -len(e[0]))
        self.groups: tuple[tuple[str, ...], ...] = tuple(kept)
        self._index = index

    def __len__(self) -> int:
        return len(self.groups)

    def __repr__(self) -> str:
        return f"SynonymDictionary({len(self.groups)} groups)"

    def group(self, gid: int) -> tuple[str, ...]:
        return self.groups[gid]

    def find_at(self, lemma_sets: Sequence[frozenset[str]], i: int) -> SynonymHit | None:
        """The longest member starting at word ``i`` (all groups having a member that long)."""
        best_len = 0
        best_groups: set[int] = set()
        best_member = ""
        seen: set[tuple[int, str]] = set()
        for key in lemma_sets[i]:
            for sets, gid, member in self._index.get(key, ()):
                size = len(sets)
                if size < best_len or i + size > len(lemma_sets) or (gid, member) in seen:
                    continue
                seen.add((gid, member))
                if all(not sets[j].isdisjoint(lemma_sets[i + j]) for j in range(size)):
                    if size > best_len:
                        best_len, best_groups, best_member = size, {gid}, member
                    else:
                        best_groups.add(gid)
        if not best_len:
            return None
        return SynonymHit(frozenset(best_groups), i, i + best_len, best_member)


@lru_cache(maxsize=1)
def default_synonyms() -> SynonymDictionary:
    """The dictionary of :data:`DEFAULT_SYNONYM_GROUPS` (built on first use: it lemmatises)."""
    return SynonymDictionary(DEFAULT_SYNONYM_GROUPS)
