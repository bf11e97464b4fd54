"""Contacts (one Telegram user per project, R12), their per-channel status, tags, variables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, created_at_column, id_column, str_enum


class SubscriptionStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"


class VariableRetention(enum.StrEnum):
    """What happens to a variable when the contact unsubscribes (tags are always kept, R4)."""

    KEEP = "keep"
    CLEAR_ON_UNSUBSCRIBE = "clear_on_unsubscribe"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = id_column()
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str | None] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    language_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at_column()

    channel_statuses: Mapped[list[ContactChannel]] = relationship(back_populates="contact")
    tags: Mapped[list[ContactTag]] = relationship(back_populates="contact")


class ContactChannel(Base):
    """The contact as seen by one channel: subscribed, unsubscribed or blocked.

    Deliberately separate from tags and variables: a status change never touches them.
    """

    __tablename__ = "contact_channels"

    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.SUBSCRIBED
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    arrived_via: Mapped[str | None] = mapped_column(String(256))  # /start payload, link token…

    contact: Mapped[Contact] = relationship(back_populates="channel_statuses")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    colour: Mapped[str | None] = mapped_column(String(16))  # "#RRGGBB"
    manager_label: Mapped[str | None] = mapped_column(String(16))  # emoji / short label (R15)
    is_key: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = created_at_column()


class ContactTag(Base):
    """A tag on a contact: permanent (R4), removed only by an explicit node or staff action.

    ``added_by_run_id`` lets a rolled-back trigger remove exactly the tags it added (R10).
    """

    __tablename__ = "contact_tags"
    __table_args__ = (UniqueConstraint("contact_id", "tag_id"),)

    id: Mapped[int] = id_column()
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    tag_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tags.id", ondelete="RESTRICT"), index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    added_by: Mapped[str] = mapped_column(String(100), default="engine")  # engine/staff:…/manager:…

    contact: Mapped[Contact] = relationship(back_populates="tags")
    tag: Mapped[Tag] = relationship()


class Variable(Base):
    """A named value on a contact (e.g. a validated birth date), with explicit retention."""

    __tablename__ = "variables"
    __table_args__ = (UniqueConstraint("contact_id", "name"),)

    id: Mapped[int] = id_column()
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)  # str, number, bool or null
    retention: Mapped[VariableRetention] = mapped_column(
        str_enum(VariableRetention, "variable_retention"), default=VariableRetention.KEEP
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL")
    )
