"""Text normalisation for matching (R2).

``normalise`` is applied identically to incoming texts, trigger phrases and stop-phrases, so
whatever it does is symmetric. Steps, in order:

1. Unicode NFKC (full-width letters, ligatures, superscripts → plain characters).
2. Latin look-alike letters inside a word that also has Cyrillic letters are mapped to Cyrillic
   ("спасибo" with a Latin "o", "Taро" with a Latin "T" and "a"). A word made only of Latin
   letters is left alone — it may be a real English word ("ok", "taro").
3. Case folding and "ё" → "е".
4. Every character that is not a letter or a digit (punctuation, emoji, symbols, "_",
   combining marks left over) becomes a space.
5. Runs of three or more of the same *letter* are squeezed to one ("спасибоооо" → "спасибо",
   "дааа" → "да"). Doubled letters are kept ("касса", "программа"); digits are never
   squeezed ("1000").
6. Whitespace is collapsed and trimmed.

The result is idempotent: ``normalise(normalise(x)) == normalise(x)``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LOOKALIKES", "normalise", "tokenize"]

#: Latin letters that look like Cyrillic ones (applied only inside words with Cyrillic letters).
LOOKALIKES: dict[str, str] = {
    "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О",
    "P": "Р", "T": "Т", "X": "Х", "Y": "У",
    "a": "а", "c": "с", "e": "е", "k": "к", "o": "о", "p": "р", "x": "х", "y": "у",
}  # fmt: skip
_LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")
_NON_WORD = re.compile(r"[\W_]+")
_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{2,}")
_PLAIN = re.compile(r"[а-яa-z0-9 ]*")


def _fix_lookalikes(m: re.Match[str]) -> str:
    word = m.group(0)
    if _LATIN.search(word) and _CYRILLIC.search(word):
        return word.translate(_LOOKALIKE_TABLE)
    return word


def _normalise_once(text: str, squeeze: bool) -> str:
    s = unicodedata.normalize("NFKC", text)
    s = _LETTER_RUN.sub(_fix_lookalikes, s)
    s = unicodedata.normalize("NFKC", s.casefold())
    s = s.replace("ё", "е")
    s = _NON_WORD.sub(" ", s)
    if squeeze:
        s = _REPEATED_LETTER.sub(r"\1", s)
    return " ".join(s.split())


def normalise(text: str, *, squeeze_repeats: bool = True) -> str:
    """Return the comparison form of ``text`` (see the module docstring)."""
    result = _normalise_once(text, squeeze_repeats)
    if _PLAIN.fullmatch(result):  # the usual case: already a fixed point
        return result
    # Exotic Unicode (case folding that un-normalises, letters that fold into look-alikes) can
    # need a second pass; a fixed point is reached in one or two more passes.
    for _ in range(3):
        again = _normalise_once(result, squeeze_repeats)
        if again == result:
            break
        result = again
    return result


def tokenize(text: str, *, squeeze_repeats: bool = True) -> tuple[str, ...]:
    """The words of the normalised text."""
    norm = normalise(text, squeeze_repeats=squeeze_repeats)
    return tuple(norm.split(" ")) if norm else ()
