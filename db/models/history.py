"""What happened to a contact (the source of stats, R5/R16) and what staff did (audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, id_column


class HistoryEvent(Base):
    """One entry of a contact's history: a node entered, a message sent, a tag added…

    ``kind`` is a short dotted string owned by the engine (e.g. "node.entered",
    "message.sent", "tag.added"); ``actor`` is "engine", "staff:<login>" or "manager:<id>".
    """

    __tablename__ = "contact_history"
    __table_args__ = (
        Index("ix_contact_history_contact_at", "contact_id", "at"),
        Index("ix_contact_history_node_kind_at", "funnel_version_id", "node_id", "kind", "at"),
        Index("ix_contact_history_kind_at", "kind", "at"),
    )

    id: Mapped[int] = id_column()
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    funnel_version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("funnel_versions.id", ondelete="SET NULL")
    )
    node_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(100), default="engine")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StaffAuditEntry(Base):
    """An action taken by a staff member in the app (publish, move a contact, rollback…)."""

    __tablename__ = "staff_audit"

    id: Mapped[int] = id_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
