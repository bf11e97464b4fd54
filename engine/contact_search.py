"""Finding contacts by what staff type: a Telegram id, an @username, a name or part of it.

Every word must be found (in the username, first or last name), so "анна петрова" finds
Анна Петрова; case and ё/е do not matter ("семен" finds Семён). PostgreSQL folds with
``lower()`` (Unicode-aware); SQLite's own ``lower()`` folds ASCII only, so every SQLite
connection gets a ``voronka_fold`` function (:func:`db.connect.fold_text`) instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_

from db.connect import fold_text
from db.models import Contact

_COLUMNS = (Contact.username, Contact.first_name, Contact.last_name)


def _folded(column: Any, dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        return func.voronka_fold(column)
    return func.replace(func.lower(column), "ё", "е")


def contact_search_condition(text: str, dialect: str) -> ColumnElement[bool] | None:
    """The WHERE condition for ``text`` (None: nothing to search for)."""
    words = [fold_text(part.lstrip("@")) or "" for part in text.split()]
    words = [w for w in words if w]
    if not words:
        return None
    each_word = []
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        each_word.append(
            or_(*(_folded(c, dialect).like(f"%{escaped}%", escape="\\") for c in _COLUMNS))
        )
    condition = and_(*each_word)
    stripped = text.strip()
    if stripped.isdigit() and len(stripped) < 19:
        condition = or_(condition, Contact.telegram_user_id == int(stripped))
    return condition
