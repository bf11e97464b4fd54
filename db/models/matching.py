"""Synonym groups used by text matching (R2): "спасибо" = "благодарю"."""

from __future__ import annotations

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, id_column


class SynonymGroup(Base):
    __tablename__ = "synonym_groups"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
