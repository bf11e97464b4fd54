"""Channels of a project (its bots and manager accounts) and their encrypted secrets."""

from __future__ import annotations

import enum
from datetime import datetime

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
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, created_at_column, id_column, str_enum


class ChannelKind(enum.StrEnum):
    BOT = "bot"
    MANAGER_ACCOUNT = "manager_account"


class BotRole(enum.StrEnum):
    """What a bot is for; funnel documents refer to bots by role, never by id."""

    OPEN = "open"
    PAID = "paid"
    FREE = "free"
    OTHER = "other"


class SecretPurpose(enum.StrEnum):
    BOT_TOKEN = "bot_token"
    TELETHON_SESSION = "telethon_session"  # a Telethon StringSession
    API_HASH = "api_hash"


class Channel(Base):
    """A bot (Bot API) or a manager's own Telegram account (Telethon) of the project.

    Channels are grouped (``group_name``, e.g. "main", "paid"); within a group at most one
    channel of each kind ``is_main`` — payment notifications come from the main one (R13).
    """

    __tablename__ = "channels"
    __table_args__ = (
        Index(
            "uq_channels_main_per_group",
            "kind",
            "group_name",
            unique=True,
            sqlite_where=text("is_main"),
            postgresql_where=text("is_main"),
        ),
    )

    id: Mapped[int] = id_column()
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind, "channel_kind"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[BotRole | None] = mapped_column(str_enum(BotRole, "bot_role"))
    group_name: Mapped[str] = mapped_column(String(64), default="main", server_default="main")
    is_main: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    username: Mapped[str | None] = mapped_column(String(64))
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()

    # Manager accounts only (NULL for bots) -------------------------------------------------
    api_id: Mapped[int | None] = mapped_column(Integer)
    """The Telegram app (my.telegram.org) this account's session was created with. Not a
    secret (it ships inside every client build); its ``api_hash`` is a :class:`Secret`."""
    update_state: Mapped[dict[str, int] | None] = mapped_column(JSON)
    """Telethon's account update state (pts, qts, date as epoch seconds, seq) up to which
    every update was handed to the engine: the next start catches up from here."""
    login_required_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when Telegram ended the session (revoked, logged out elsewhere); cleared by a
    new ``manager login``. The daemon does not start such an account."""
    login_required_reason: Mapped[str | None] = mapped_column(Text)
    labels_history_id: Mapped[int | None] = mapped_column(BigInteger)
    """R15: the ``contact_history`` id up to which this account's contact names show the
    contacts' tag labels (the daemon's high-water mark of tag changes)."""

    secrets: Mapped[list[Secret]] = relationship(
        back_populates="channel", cascade="all, delete-orphan", passive_deletes=True
    )


class Secret(Base):
    """A credential of a channel, Fernet-encrypted (see db.secrets); never stored in clear."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("channel_id", "purpose"),)

    id: Mapped[int] = id_column()
    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[SecretPurpose] = mapped_column(str_enum(SecretPurpose, "secret_purpose"))
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    channel: Mapped[Channel] = relationship(back_populates="secrets")

    def __repr__(self) -> str:
        return f"Secret(id={self.id!r}, channel_id={self.channel_id!r}, purpose={self.purpose!r})"


class BusinessConnection(Base):
    """A Telegram Business connection of one of the project's bots: a manager connected the
    bot to their account, so ``business_message`` updates carrying ``id`` come from chats of
    the account of ``owner_user_id``. Kept so a restart knows the owner of every connection."""

    __tablename__ = "business_connections"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    bot_channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    owner_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    owner_username: Mapped[str | None] = mapped_column(String(64))
    owner_first_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    owner_last_name: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
