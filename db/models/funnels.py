"""Funnels: an editable draft document and immutable published versions.

Documents are the JSON text produced by ``graph`` (our own schema, never NodeGraphQt's);
the db layer stores it verbatim and does not parse it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, created_at_column, id_column


class Funnel(Base):
    """A funnel being edited. ``draft_revision`` grows by one on every saved edit; a save
    carrying a stale revision must be refused (optimistic concurrency between editors)."""

    __tablename__ = "funnels"
    __table_args__ = (UniqueConstraint("folder", "name"),)

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(200), default="", server_default="")
    draft_json: Mapped[str] = mapped_column(Text)
    draft_revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))

    versions: Mapped[list[FunnelVersion]] = relationship(
        back_populates="funnel", order_by="FunnelVersion.version"
    )


class FunnelVersion(Base):
    """A published funnel: never updated. Runs stay pinned to the version they started on."""

    __tablename__ = "funnel_versions"
    __table_args__ = (UniqueConstraint("funnel_id", "version"),)

    id: Mapped[int] = id_column()
    funnel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("funnels.id", ondelete="RESTRICT")
    )
    version: Mapped[int] = mapped_column(Integer)
    document_json: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(100))

    funnel: Mapped[Funnel] = relationship(back_populates="versions")
