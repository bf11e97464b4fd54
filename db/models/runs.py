"""Runs: one contact inside one published funnel version, at one node."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, id_column, str_enum
from db.models.contacts import Contact
from db.models.funnels import FunnelVersion


class RunStatus(enum.StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


LIVE_RUN_STATUSES = (RunStatus.ACTIVE, RunStatus.WAITING)


class Run(Base):
    """A contact's progress through a funnel version.

    ``lock_version`` is for compare-and-set: every state change is
    ``UPDATE … SET lock_version = lock_version + 1 WHERE id = :id AND lock_version = :seen``,
    so a stale timer or a concurrent event changes nothing. ``stopped_by_run_id`` and the
    unchanged ``node_id`` of a stopped run are what a rollback resumes from (R10).
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status_due_at", "status", "due_at"),
        Index("ix_runs_funnel_version_node", "funnel_version_id", "node_id"),
        Index("ix_runs_contact_status", "contact_id", "status"),
    )

    id: Mapped[int] = id_column()
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    funnel_version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("funnel_versions.id", ondelete="RESTRICT")
    )
    node_id: Mapped[str] = mapped_column(String(64))  # the node's stable UUID in the document
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus, "run_status"), default=RunStatus.ACTIVE
    )
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    awaiting: Mapped[str | None] = mapped_column(String(200))  # e.g. "reply", "arrival:paid"
    stopped_by_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triggered_by_channel_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="SET NULL")
    )
    triggered_by_message_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lock_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # randomizer picks…
    error: Mapped[str | None] = mapped_column(Text)

    contact: Mapped[Contact] = relationship()
    funnel_version: Mapped[FunnelVersion] = relationship()
