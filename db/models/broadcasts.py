"""Broadcasts (R17): one message to the subscribers of one bot, filtered by tags.

A broadcast never sends by itself: starting it writes one outbox row per recipient
(``idempotency_key = "broadcast:<id>:<contact id>"``), which the outbox sender delivers
under Telegram's limits like any funnel message. ``total``/``sent``/``failed`` are a
snapshot refreshed from those rows (:mod:`engine.broadcasts`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.column_types import UTCDateTime
from db.models.base import Base, created_at_column, id_column, str_enum


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class TagMatch(enum.StrEnum):
    """How ``tags_included`` combine: the contact has any of them, or all of them."""

    ANY = "any"
    ALL = "all"


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_scheduled_at", "status", "scheduled_at"),)

    id: Mapped[int] = id_column()
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    text: Mapped[str] = mapped_column(Text)  # Telegram HTML
    # rows of URL buttons: [[{"text": ..., "url": ...}, ...], ...]
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # files sent with the text as caption, like a message node's: [{"kind", "source"}, ...]
    media: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="RESTRICT")
    )
    tags_included: Mapped[list[str]] = mapped_column(JSON, default=list)  # tag names
    tags_excluded: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_mode: Mapped[TagMatch] = mapped_column(
        str_enum(TagMatch, "tag_match"), default=TagMatch.ANY, server_default=TagMatch.ANY.value
    )
    status: Mapped[BroadcastStatus] = mapped_column(
        str_enum(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.DRAFT
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    # the id range of its outbox rows (all inserted in the starting transaction), so that
    # progress and cancel read a primary-key range instead of scanning the outbox by key
    outbox_first_id: Mapped[int | None] = mapped_column(BigInteger)
    outbox_last_id: Mapped[int | None] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
