"""R9: every notification of a project, copied once to a Telegram admin chat.

The project setting ``notify_chat`` (``project_settings``, see :func:`set_notify_chat`)
names the chat — a group, a channel or a person, by Telegram id — and optionally the bot
that posts there; without one the project's main bot posts (R13: notifications come from
the main bot), else its open bot, else its first enabled bot. The bot must be a member
(an admin of a channel) of that chat.

:class:`AdminChatForwarder` (a daemon task per project) reads the notifications created
after the chat was set and not forwarded yet, oldest first, and posts them through the
bot's connector — several in one message when they queue up — at most one message every
``interval`` seconds (Telegram allows a group about 20 messages a minute). Each one's
``notifications.forwarded_at`` is set once Telegram accepted the message, so a restart
neither loses nor repeats one: only a crash between Telegram's answer and that commit
repeats a message (at least once: the in-app notification stays the record, a copy
missed in the chat would be worse than a copy seen twice). In a PostgreSQL cluster only
the process running the bot's connector forwards.

A failure (chat not found, bot removed from the chat, token revoked, Telegram down) never
stops the engine: the error is logged once, kept in the ``notify_chat_status`` setting
(shown by the API, the desktop and ``/health``) and the same notifications are retried
with a back-off (30 s doubling to an hour); changing the setting retries at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import Connector, OutgoingMessage, SendError, SendErrorKind
from db.models import Channel, ChannelKind, Contact, Notification, NotificationKind
from db.models.channels import BotRole
from db.models.settings import ProjectSetting

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

log = logging.getLogger(__name__)

NOTIFY_CHAT_SETTING = "notify_chat"
"""``{"chat_id": int, "bot_id": int | null, "since_id": int}``: where to copy
notifications, through which bot (null: the default one), and the largest notification id
when the chat was set (older ones are not copied)."""
NOTIFY_STATUS_SETTING = "notify_chat_status"
"""``{"error", "error_at", "failures", "retry_at", "last_sent_at"}``: written by the
forwarder, read by the API, the desktop and the CLI."""

CHAT_ID_LIMIT = 10**15
"""Telegram chat ids (users, groups, ``-100…`` supergroups and channels) are below this."""
TEXT_LIMIT = 3500
"""The longest message the forwarder composes (Telegram's limit is 4096 characters)."""
ITEM_LIMIT = 1000
"""A notification's own text is cut to this many characters in the chat."""

KIND_TITLES: dict[str, str] = {
    NotificationKind.LOST_RECEIPT.value: "Потерянный чек",
    NotificationKind.ALREADY_FIRED.value: "Уже срабатывал",
    NotificationKind.FOREIGN_LINK_USE.value: "Чужая ссылка",
    NotificationKind.SEND_ERROR.value: "Ошибка отправки",
    NotificationKind.STUCK_CONTACT.value: "Застрявший контакт",
    NotificationKind.ADMIN_MESSAGE.value: "Сообщение админам",
    NotificationKind.OTHER.value: "Уведомление",
}


class NotifyChatError(ValueError):
    """The admin chat setting is wrong (the message names the field)."""


@dataclass(frozen=True)
class NotifyChatConfig:
    chat_id: int
    bot_id: int | None
    since_id: int


def check_chat_id(value: object) -> int:
    """A Telegram chat id from an int or its text ("-1001234567890"); NotifyChatError else."""
    if isinstance(value, bool):
        raise NotifyChatError("chat_id: a Telegram chat id is a number")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise NotifyChatError(
                f"chat_id: {value!r} is not a Telegram chat id (a number such as "
                "-1001234567890 for a group or channel)"
            )
        value = int(text)
    if not isinstance(value, int):
        raise NotifyChatError("chat_id: a Telegram chat id is a number")
    if value == 0 or abs(value) >= CHAT_ID_LIMIT:
        raise NotifyChatError(f"chat_id: {value} is not a Telegram chat id")
    return value


async def read_config(session: AsyncSession) -> NotifyChatConfig | None:
    value = await session.scalar(
        select(ProjectSetting.value).where(ProjectSetting.key == NOTIFY_CHAT_SETTING)
    )
    if not isinstance(value, dict) or not isinstance(value.get("chat_id"), int):
        return None
    bot_id = value.get("bot_id")
    return NotifyChatConfig(
        chat_id=int(value["chat_id"]),
        bot_id=int(bot_id) if isinstance(bot_id, int) else None,
        since_id=int(value.get("since_id") or 0),
    )


async def read_status(session: AsyncSession) -> dict[str, Any]:
    value = await session.scalar(
        select(ProjectSetting.value).where(ProjectSetting.key == NOTIFY_STATUS_SETTING)
    )
    return dict(value) if isinstance(value, dict) else {}


async def _write_setting(session: AsyncSession, key: str, value: Any) -> None:
    row = await session.get(ProjectSetting, key)
    if row is None:
        session.add(ProjectSetting(key=key, value=value))
    else:
        row.value = value


async def set_notify_chat(
    session: AsyncSession, chat_id: int | str | None, bot_id: int | None = None
) -> NotifyChatConfig | None:
    """Copy notifications to ``chat_id`` through ``bot_id`` (None: the default bot), or
    stop copying (``chat_id`` None). Inside the caller's transaction; a running daemon
    reads it within seconds. Notifications created before the chat was first set are not
    copied; changing the chat or bot keeps the ones still waiting."""
    if chat_id is None:
        await session.execute(
            delete(ProjectSetting).where(
                ProjectSetting.key.in_([NOTIFY_CHAT_SETTING, NOTIFY_STATUS_SETTING])
            )
        )
        return None
    chat = check_chat_id(chat_id)
    if bot_id is not None:
        if isinstance(bot_id, bool) or not isinstance(bot_id, int):
            raise NotifyChatError("bot_id: a bot is given by its channel id")
        channel = await session.get(Channel, bot_id)
        if channel is None or channel.kind is not ChannelKind.BOT:
            raise NotifyChatError(f"bot_id: the project has no bot with id {bot_id}")
    current = await read_config(session)
    if current is not None:
        since = current.since_id
    else:
        since = int(await session.scalar(select(func.max(Notification.id))) or 0)
    config = NotifyChatConfig(chat, bot_id, since)
    await _write_setting(
        session,
        NOTIFY_CHAT_SETTING,
        {"chat_id": config.chat_id, "bot_id": config.bot_id, "since_id": config.since_id},
    )
    # a new setting starts without the old one's error
    await session.execute(delete(ProjectSetting).where(ProjectSetting.key == NOTIFY_STATUS_SETTING))
    return config


async def default_bot(session: AsyncSession) -> Channel | None:
    """The bot that posts when the setting names none: the main bot of the "main" group
    (R13), else another main bot (an open one first), else the open bot, else the first
    enabled bot."""
    found = await session.scalars(
        select(Channel)
        .where(Channel.kind == ChannelKind.BOT, Channel.enabled.is_(True))
        .order_by(
            case(
                (Channel.is_main.is_(True) & (Channel.group_name == "main"), 0),
                (Channel.is_main.is_(True) & (Channel.role == BotRole.OPEN), 1),
                (Channel.is_main.is_(True), 2),
                (Channel.role == BotRole.OPEN, 3),
                else_=4,
            ),
            Channel.id,
        )
        .limit(1)
    )
    return found.first()


async def sending_bot(session: AsyncSession, config: NotifyChatConfig) -> Channel | None:
    if config.bot_id is None:
        return await default_bot(session)
    channel = await session.get(Channel, config.bot_id)
    return channel if channel is not None and channel.kind is ChannelKind.BOT else None


async def notify_chat_info(session: AsyncSession) -> dict[str, Any] | None:
    """The setting as the API and the desktop show it (None when not set): chat, bot
    (``bot`` is the name of the bot that posts, also when it is the default one), the
    last error and how many notifications wait."""
    config = await read_config(session)
    if config is None:
        return None
    bot = await sending_bot(session, config)
    status = await read_status(session)
    pending = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.forwarded_at.is_(None), Notification.id > config.since_id)
    )
    return {
        "chat_id": config.chat_id,
        "bot_id": config.bot_id,
        "bot": bot.name if bot is not None else None,
        "error": status.get("error"),
        "error_at": status.get("error_at"),
        "retry_at": status.get("retry_at"),
        "last_sent_at": status.get("last_sent_at"),
        "pending": int(pending or 0),
    }


# --- the message --------------------------------------------------------------------------


def _who(contact: Any) -> str:
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    parts = [name] if name else []
    if contact.username:
        parts.append(f"@{contact.username}")
    parts.append(f"Telegram ID {contact.telegram_user_id}")
    parts.append(f"контакт №{contact.id}")
    return " · ".join(parts)


def format_notification(notification: Any, contact: Any | None, project: str) -> str:
    """One notification as Telegram HTML: kind and project, its text, who it is about."""
    kind = getattr(notification.kind, "value", notification.kind)
    title = KIND_TITLES.get(str(kind), str(kind))
    text = notification.text or ""
    if len(text) > ITEM_LIMIT:
        text = text[: ITEM_LIMIT - 1] + "…"
    lines = [
        f"🔔 <b>{html.escape(title, quote=False)}</b> · {html.escape(project, quote=False)}"
        f" · №{notification.id}",
        html.escape(text, quote=False),
    ]
    if contact is not None:
        lines.append("👤 " + html.escape(_who(contact), quote=False))
    return "\n".join(lines)


def compose(items: list[tuple[Any, Any | None]], project: str) -> tuple[str, list[int]]:
    """As many notifications (oldest first, at least one) as fit one message."""
    parts: list[str] = []
    ids: list[int] = []
    size = 0
    for notification, contact in items:
        part = format_notification(notification, contact, project)
        if parts and size + len(part) + 2 > TEXT_LIMIT:
            break
        parts.append(part)
        ids.append(int(notification.id))
        size += len(part) + 2
    return "\n\n".join(parts), ids


# --- the daemon task ----------------------------------------------------------------------


class AdminChatForwarder:
    """Copies a project's new notifications to its admin chat (see the module doc).

    ``connectors`` are the running connectors by channel id (the daemon's live dict),
    ``standby`` the channels another process runs, ``failed`` why a channel is not
    running. :meth:`tick` does at most one send; :meth:`run` ticks forever."""

    def __init__(
        self,
        engine: ProjectEngine,
        connectors: Mapping[int, Connector],
        *,
        standby: Container[int] = frozenset(),
        failed: Mapping[int, str] | None = None,
        interval: float = 3.0,
        poll: float = 5.0,
        batch: int = 10,
        backoff: float = 30.0,
        max_backoff: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.connectors = connectors
        self.standby = standby
        self.failed = failed if failed is not None else {}
        self.interval = interval
        self.poll = poll
        self.batch = batch
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.state = "off"
        self.forwarded = 0
        self.last_sent_at: datetime | None = None
        self.error: str | None = None
        self.failures = 0
        self.next_at: datetime | None = None
        self._config: tuple[int, int | None] | None = None
        self._send_error = False
        self._lock = asyncio.Lock()
        self._stopping = False

    async def tick(self, now: datetime | None = None) -> int:
        """One step: forward what waits (one message) if it is time; returns how many
        notifications went out. ``now`` defaults to the engine's clock."""
        async with self._lock:
            if self._stopping:
                return 0
            return await self._tick(now or self.engine.clock.now())

    async def run(self) -> None:
        """Tick until cancelled: every ``poll`` seconds, or after ``interval`` while
        notifications queue up. Errors are logged and kept in :meth:`health`."""
        clock = self.engine.clock
        while not self._stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("admin chat: forwarding failed", extra={"project": self.project})
            now = clock.now()
            until = now + timedelta(seconds=self.poll)
            if self.next_at is not None and now < self.next_at < until:
                until = self.next_at
            await clock.sleep_until(until)

    async def stop(self, timeout: float = 10.0) -> None:
        """Let a send in flight finish and record it (SIGTERM), then do nothing more."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lock.acquire(), timeout)
            self._lock.release()

    @property
    def project(self) -> str:
        return self.engine.project

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "forwarded": self.forwarded,
            "last_sent_at": self.last_sent_at.isoformat() if self.last_sent_at else None,
            "error": self.error,
            "retry_at": self.next_at.isoformat() if self.error and self.next_at else None,
        }

    async def _tick(self, now: datetime) -> int:
        async with self.engine.db.sessions() as session:
            config = await read_config(session)
            if config is None:
                self._config, self.state, self.error = None, "off", None
                self.failures, self.next_at = 0, None
                return 0
            key = (config.chat_id, config.bot_id)
            if key != self._config:  # a new setting: try it at once
                self._config, self.failures, self.next_at, self.error = key, 0, None, None
            if self.next_at is not None and now < self.next_at:
                return 0
            bot = await sending_bot(session, config)
            problem: str | None = None
            connector: Connector | None = None
            if bot is None:
                problem = (
                    f"бот №{config.bot_id} не найден в проекте"
                    if config.bot_id is not None
                    else "в проекте нет включённого бота, который мог бы писать в чат"
                )
            elif not bot.enabled:
                problem = f"бот «{bot.name}» отключён"
            else:
                connector = self.connectors.get(bot.id)
                if connector is None:
                    if bot.id in self.standby:
                        self.state = "standby"  # another engine process runs this bot
                        return 0
                    reason = self.failed.get(bot.id) or "нет токена или он не запустился"
                    problem = f"бот «{bot.name}» не запущен: {reason}"
            if problem is not None or connector is None:
                await self._failed(problem or "no connector", now)
                return 0
            if self.error is not None and not self._send_error:
                await self._clear_error()  # the bot runs now; the chat is tried below
            rows = (
                await session.execute(
                    select(Notification, Contact)
                    .outerjoin(Contact, Contact.id == Notification.contact_id)
                    .where(
                        Notification.forwarded_at.is_(None),
                        Notification.id > config.since_id,
                    )
                    .order_by(Notification.id)
                    .limit(self.batch)
                )
            ).all()
        if not rows:
            self.state = "error" if self.error else "idle"
            return 0
        text, ids = compose([(n, c) for n, c in rows], self.project)
        assert bot is not None
        message = OutgoingMessage(
            channel=self.engine.channels[bot.id].ref,
            chat_id=config.chat_id,
            text=text,
            disable_link_preview=True,
            idempotency_key=f"notify:{ids[0]}-{ids[-1]}",
        )
        try:
            result = await connector.send(message)
        except Exception as exc:  # a connector bug or a stopped connector: retry later
            await self._failed(f"{type(exc).__name__}: {exc}", now, send=True)
            return 0
        if not result.ok:
            assert result.error is not None
            await self._send_failed(result.error, now, bot.name, config.chat_id)
            return 0
        recovered = self.error is not None
        async with self.engine.transaction() as session:
            await session.execute(
                update(Notification)
                .where(Notification.id.in_(ids), Notification.forwarded_at.is_(None))
                .values(forwarded_at=now)
            )
            await _write_setting(
                session,
                NOTIFY_STATUS_SETTING,
                {"error": None, "last_sent_at": now.isoformat(), "failures": 0},
            )
        if recovered:
            log.info(
                "admin chat %s: notifications go through again", config.chat_id,
                extra={"project": self.project},
            )  # fmt: skip
        self.error, self.failures, self.state, self._send_error = None, 0, "ok", False
        self.forwarded += len(ids)
        self.last_sent_at = now
        self.next_at = now + timedelta(seconds=self.interval)
        return len(ids)

    async def _send_failed(self, error: SendError, now: datetime, bot: str, chat_id: int) -> None:
        if error.kind is SendErrorKind.RETRY_AFTER:  # Telegram's pace: not an error
            self.next_at = now + timedelta(seconds=float(error.retry_after or 1.0))
            return
        text = error.description or error.kind.value
        if error.kind in (SendErrorKind.BAD_REQUEST, SendErrorKind.BLOCKED):
            text = f"чат {chat_id} недоступен боту «{bot}»: {text}"
        elif error.kind is SendErrorKind.UNAUTHORIZED:
            text = f"Telegram не принимает токен бота «{bot}»: {text}"
        else:
            text = f"Telegram недоступен: {text}"
        await self._failed(text, now, send=True)

    async def _clear_error(self) -> None:
        log.info("admin chat: the bot runs again", extra={"project": self.project})
        self.error, self.failures, self.next_at, self.state = None, 0, None, "idle"
        async with self.engine.transaction() as session:
            status = await read_status(session)
            await _write_setting(
                session,
                NOTIFY_STATUS_SETTING,
                {**status, "error": None, "error_at": None, "retry_at": None, "failures": 0},
            )

    async def _failed(self, text: str, now: datetime, *, send: bool = False) -> None:
        """Keep the error (logged once per distinct error) and retry with a back-off;
        ``send``: Telegram refused the message (else the bot could not be used at all)."""
        self._send_error = send
        self.failures += 1
        delay = min(self.max_backoff, self.backoff * 2 ** min(self.failures - 1, 20))
        self.next_at = now + timedelta(seconds=delay)
        first = text != self.error
        if first:
            log.warning(
                "admin chat: notifications not forwarded: %s (retrying with back-off)",
                text,
                extra={"project": self.project},
            )
        self.error, self.state = text, "error"
        try:
            async with self.engine.transaction() as session:
                status = await read_status(session)
                await _write_setting(
                    session,
                    NOTIFY_STATUS_SETTING,
                    {
                        **status,
                        "error": text,
                        "error_at": (
                            status["error_at"]
                            if status.get("error") == text and status.get("error_at")
                            else now.isoformat()
                        ),
                        "failures": self.failures,
                        "retry_at": self.next_at.isoformat(),
                    },
                )  # fmt: skip
        except Exception:  # the database is unreachable: the log and health() say it
            log.exception("admin chat: could not record the error", extra={"project": self.project})


__all__ = [
    "KIND_TITLES",
    "NOTIFY_CHAT_SETTING",
    "NOTIFY_STATUS_SETTING",
    "AdminChatForwarder",
    "NotifyChatConfig",
    "NotifyChatError",
    "check_chat_id",
    "compose",
    "default_bot",
    "format_notification",
    "notify_chat_info",
    "read_config",
    "read_status",
    "sending_bot",
    "set_notify_chat",
]
