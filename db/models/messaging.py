"""Outgoing messages (the outbox), update de-duplication and notifications for staff."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, created_at_column, id_column, str_enum


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # caught mid-send by a crash: surfaced, never silently resent


class OutboxMessage(Base):
    """A message the engine decided to send, written in the same transaction as the decision.

    ``idempotency_key`` (e.g. "run:<id>:node:<uuid>:<n>") makes a replayed step insert nothing.
    ``funnel_version_id``/``node_id`` feed "messages sent per day per funnel/step" (R16).
    ``bulk`` rows (a broadcast's) yield send slots to the others (``engine.outbox``); the
    index on (status, bulk, not_before, id) lets the sender read each kind oldest first.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        Index("ix_outbox_sent_at", "sent_at"),
        Index("ix_outbox_status_bulk_not_before", "status", "bulk", "not_before", "id"),
        # "is an earlier row of this chat still waiting?" (engine.outbox, per-chat order)
        Index("ix_outbox_chat_status_id", "contact_id", "channel_id", "status", "id"),
    )

    id: Mapped[int] = id_column()
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="RESTRICT")
    )
    funnel_version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("funnel_versions.id", ondelete="SET NULL")
    )
    node_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    bulk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProcessedUpdate(Base):
    """An update already handled by a channel; inserting it again fails, which is the dedup."""

    __tablename__ = "processed_updates"
    __table_args__ = (UniqueConstraint("channel_id", "update_id"),)

    id: Mapped[int] = id_column()
    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="CASCADE")
    )
    update_id: Mapped[int] = mapped_column(BigInteger)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class NotificationKind(enum.StrEnum):
    LOST_RECEIPT = "lost_receipt"  # trigger fired, contact never arrived
    ALREADY_FIRED = "already_fired"
    FOREIGN_LINK_USE = "foreign_link_use"
    SEND_ERROR = "send_error"
    STUCK_CONTACT = "stuck_contact"
    ADMIN_MESSAGE = "admin_message"  # a "notify admins" node
    OTHER = "other"


class Notification(Base):
    """An item of the in-app notifications block (R9); resolved by a staff member.

    ``forwarded_at`` is set once the notification went to the project's Telegram admin
    chat (:mod:`engine.admin_chat`); the forwarder reads the unforwarded ones along
    (forwarded_at, id). The stuck-contact watchdog (:mod:`engine.stuck`) finds its earlier
    notifications of a run by ``run_id``.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_resolved_at_created_at", "resolved_at", "created_at"),
        Index("ix_notifications_forwarded_at_id", "forwarded_at", "id"),
        Index("ix_notifications_run_id", "run_id"),
    )

    id: Mapped[int] = id_column()
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "notification_kind"))
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL")
    )
    channel_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
