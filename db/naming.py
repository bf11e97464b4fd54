"""Project name rules and slugs (ASCII, Cyrillic transliterated: "Надежда" → "nadezhda")."""

from __future__ import annotations

import re
import unicodedata

from db.errors import InvalidProjectNameError

MAX_NAME_LENGTH = 64
MAX_SLUG_LENGTH = 40  # keeps "voronka_<slug>" well inside PostgreSQL's 63-byte identifiers
_ALLOWED_PUNCTUATION = frozenset(" -_")

_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
}  # fmt: skip


def normalize_project_name(name: str) -> str:
    """Return the name as stored (NFC, outer spaces trimmed) or raise InvalidProjectNameError."""
    normalized = unicodedata.normalize("NFC", name).strip()
    if not normalized:
        raise InvalidProjectNameError("Project name is empty")
    if len(normalized) > MAX_NAME_LENGTH:
        raise InvalidProjectNameError(
            f"Project name is {len(normalized)} characters long; at most {MAX_NAME_LENGTH} allowed"
        )
    bad = sorted({ch for ch in normalized if not _is_allowed(ch)})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise InvalidProjectNameError(
            f"Project name {normalized!r} contains {shown}; use letters, digits, space, '-' or '_'"
        )
    return normalized


def project_name_key(name: str) -> str:
    """The case-insensitive identity of a project name (used for duplicate detection)."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def slugify(name: str) -> str:
    """ASCII slug of lowercase letters, digits and '-'; "project" if nothing is left."""
    out: list[str] = []
    for ch in name.lower():
        if ch in _CYRILLIC_TO_LATIN:
            out.append(_CYRILLIC_TO_LATIN[ch])
        elif ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            ascii_form = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(ascii_form if ascii_form.isalnum() else "-")
    slug = re.sub(r"-{2,}", "-", "".join(out)).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-") or "project"


def _is_allowed(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in _ALLOWED_PUNCTUATION
