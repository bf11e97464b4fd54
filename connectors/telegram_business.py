"""Telegram Business connections of a project's bot, kept in the project database, and
their owners resolved to the project's manager accounts (see
:mod:`connectors.telegram_bot_updates` for the mapping itself).

:class:`BusinessAccountConnector` is the sending side for a manager account registered
without a Telethon session (``main.py manager business``): message nodes on that account
are sent by the project bot the manager connected to their account, on their behalf
(``sendMessage`` & co. with ``business_connection_id``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.methods import SendMessage
from aiogram.types import BusinessConnection as TelegramBusinessConnection
from aiogram.types import FSInputFile, LinkPreviewOptions, User
from sqlalchemy import select

from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
)
from connectors.telegram_bot_send import (
    CAPTION_MAX,
    MEDIA_METHODS,
    NO_CAPTION,
    build_markup,
    failure,
    visible_length,
)
from connectors.telegram_bot_updates import BusinessConnections
from db.column_types import utcnow
from db.models import BusinessConnection, Channel, ChannelKind
from engine.events import ChannelKind as EventChannelKind
from engine.events import ChannelRef

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

log = logging.getLogger(__name__)


class ProjectBusinessRouter:
    """One bot's :class:`~connectors.telegram_bot_updates.BusinessRouter` in one project."""

    def __init__(self, engine: ProjectEngine, bot_channel_id: int) -> None:
        self.engine = engine
        self.bot_channel_id = bot_channel_id
        self.connections = BusinessConnections()
        self._warned: set[int] = set()

    async def load(self, connection_id: str) -> None:
        async with self.engine.db.sessions() as session:
            row = await session.get(BusinessConnection, connection_id)
        if row is None or not row.enabled:
            return
        self.connections.remember(
            connection_id,
            User(
                id=row.owner_user_id,
                is_bot=False,
                first_name=row.owner_first_name,
                last_name=row.owner_last_name,
                username=row.owner_username,
            ),
        )

    async def saved(self, connection: TelegramBusinessConnection) -> None:
        owner = connection.user
        async with self.engine.transaction() as session:
            row = await session.get(BusinessConnection, connection.id)
            if row is None:
                row = BusinessConnection(id=connection.id, bot_channel_id=self.bot_channel_id)
                session.add(row)
            row.bot_channel_id = self.bot_channel_id
            row.owner_user_id = owner.id
            row.owner_username = owner.username
            row.owner_first_name = owner.first_name or ""
            row.owner_last_name = owner.last_name
            row.enabled = bool(connection.is_enabled)
            row.updated_at = utcnow()
        log.info(
            "business connection %s of Telegram user %s %s",
            connection.id,
            owner.id,
            "enabled" if connection.is_enabled else "disabled",
        )

    async def account(self, owner_user_id: int) -> ChannelRef | None:
        async with self.engine.db.sessions() as session:
            channel = await session.scalar(
                select(Channel).where(
                    Channel.kind == ChannelKind.MANAGER_ACCOUNT,
                    Channel.telegram_id == owner_user_id,
                )
            )
        info = self.engine.channels.get(channel.id) if channel is not None else None
        if channel is not None and channel.enabled and info is not None:
            return info.ref
        if owner_user_id not in self._warned:  # once per owner and process, then debug
            self._warned.add(owner_user_id)
            if channel is None:
                why = (
                    "is no manager account of this project: log it in "
                    f"(main.py manager login --project {self.engine.project!r}) so its "
                    "messages can start funnels"
                )
            elif not channel.enabled:
                why = f"is the manager account {channel.name!r}, which is disabled"
            else:
                why = f"is the manager account {channel.name!r}, added after the engine started"
            log.warning(
                "skipping Telegram Business messages: Telegram user %s %s",
                owner_user_id,
                why,
                extra={"project": self.engine.project},
            )
        return None


ConnectionLookup = Callable[[int], Awaitable[tuple[str, int] | None]]
"""Owner's Telegram user id → (business connection id, bot channel id), if connected."""


async def _no_connection(owner_user_id: int) -> tuple[str, int] | None:
    return None


def project_connection_lookup(engine: ProjectEngine) -> ConnectionLookup:
    """The newest enabled business connection of an owner, from the project database."""

    async def lookup(owner_user_id: int) -> tuple[str, int] | None:
        async with engine.db.sessions() as session:
            row = await session.scalar(
                select(BusinessConnection)
                .where(
                    BusinessConnection.owner_user_id == owner_user_id, BusinessConnection.enabled
                )
                .order_by(BusinessConnection.updated_at.desc())
                .limit(1)
            )
        return (row.id, row.bot_channel_id) if row is not None else None

    return lookup


class BusinessAccountConnector(Connector):
    """A manager account without a Telethon session: sends through the project bot the
    manager connected in Telegram Business. Its incoming side is the bot's
    ``business_message`` updates (:class:`ProjectBusinessRouter`), so ``start`` only
    marks it running. A message when no bot is connected (or the connection was
    disabled) fails as a bad request naming what to do; the outbox reports it."""

    def __init__(
        self,
        channel: ChannelRef,
        owner_user_id: int,
        bot_tokens: dict[int, str],
        *,
        connection: ConnectionLookup = _no_connection,
        api_base: str | None = None,
        media_root: Path | None = None,
        send_timeout: float = 30.0,
    ) -> None:
        if channel.kind is not EventChannelKind.MANAGER_ACCOUNT:
            raise ConnectorError(f"{channel} is not a manager account")
        self._channel = channel
        self._owner = owner_user_id
        self._tokens = dict(bot_tokens)
        self._lookup = connection
        self._api_base = api_base
        self._media_root = media_root
        self._timeout = send_timeout
        self._bots: dict[int, Bot] = {}
        self._partial: dict[str, list[int]] = {}  # idempotency key → parts already sent
        self._state = ConnectorState.STOPPED
        self._last_send_at: datetime | None = None
        self._last_error: str | None = None

    @property
    def channel(self) -> ChannelRef:
        return self._channel

    async def start(self, sink: EventSink) -> None:
        self._state = ConnectorState.RUNNING

    async def stop(self) -> None:
        for bot in self._bots.values():
            await bot.session.close()
        self._bots.clear()
        self._state = ConnectorState.STOPPED

    def _bot(self, bot_channel_id: int) -> Bot | None:
        bot = self._bots.get(bot_channel_id)
        token = self._tokens.get(bot_channel_id)
        if bot is None and token is not None:
            api = TelegramAPIServer.from_base(self._api_base) if self._api_base else PRODUCTION
            bot = Bot(token, session=AiohttpSession(api=api, timeout=self._timeout))
            self._bots[bot_channel_id] = bot
        return bot

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != self._channel:
            raise ConnectorError(f"{message.channel} message given to {self._channel}")
        result = await self._send(message)
        self._last_send_at = datetime.now(UTC)
        self._last_error = (
            None
            if result.error is None
            else f"send {result.error.kind.value}: {result.error.description}"
        )
        return result

    async def _send(self, message: OutgoingMessage) -> SendResult:
        try:
            found = await self._lookup(self._owner)
        except Exception as exc:  # the database: retried by the outbox
            return SendResult.failure(SendErrorKind.SERVER_ERROR, f"business connection: {exc}")
        bot = self._bot(found[1]) if found is not None else None
        if found is None or bot is None:
            return SendResult.failure(
                SendErrorKind.BAD_REQUEST,
                f"no project bot is connected to Telegram user {self._owner} through Telegram "
                "Business (Settings → Telegram Business → Chatbots), and the account has no "
                "session (main.py manager login)",
            )
        connection_id = found[0]
        try:
            parts = self._plan(message, connection_id)
        except FileNotFoundError as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        key = message.idempotency_key
        sent = self._partial.get(key, [])
        try:
            for method in parts[len(sent) :]:
                answer = await bot(method, request_timeout=int(self._timeout))
                sent = [*sent, answer.message_id]
                self._partial[key] = sent
        except Exception as exc:  # mapped into a SendResult; sent parts stay remembered
            return failure(exc, bot.token)
        self._partial.pop(key, None)
        return SendResult.success(sent[-1])

    def _plan(self, message: OutgoingMessage, connection_id: str) -> list[Any]:
        """One method per part: each media item, the text as the last item's caption if it
        fits (else a text message after them); buttons on the last part."""
        markup = build_markup(message)
        text = message.text
        media = list(message.media)
        common: dict[str, Any] = {
            "chat_id": message.chat_id,
            "business_connection_id": connection_id,
            "protect_content": message.protect_content or None,
        }
        caption_fits = (
            bool(media)
            and bool(text)
            and visible_length(text) <= CAPTION_MAX
            and media[-1].kind not in NO_CAPTION
        )
        methods: list[Any] = []
        for index, item in enumerate(media):
            last = index == len(media) - 1
            params: dict[str, Any] = {**common, item.kind.value: self._input(item.source)}
            if last and caption_fits:
                params.update(caption=text, parse_mode="HTML", reply_markup=markup)
            methods.append(MEDIA_METHODS[item.kind](**params))
        if text and not caption_fits:
            methods.append(
                SendMessage(
                    **common,
                    text=text,
                    parse_mode="HTML",
                    reply_markup=markup,
                    link_preview_options=(
                        LinkPreviewOptions(is_disabled=True)
                        if message.disable_link_preview
                        else None
                    ),
                )
            )
        return methods

    def _input(self, source: str) -> str | FSInputFile:
        if source.startswith(("http://", "https://")):
            return source
        path = Path(source)
        if not path.is_absolute() and self._media_root is not None:
            path = self._media_root / path
        if path.is_file():
            return FSInputFile(path)
        if any(c in source for c in "/\\."):
            raise FileNotFoundError(f"media file not found: {source}")
        return source  # a file_id of the sending bot

    async def create_personal_link(self, token: str) -> str:
        raise ConnectorError("personal links lead into a bot, not a manager account")

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        return None

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(
            channel=self._channel,
            state=self._state,
            last_event_at=None,
            last_send_at=self._last_send_at,
            last_error=self._last_error,
        )

    def session_health(self) -> dict[str, Any]:
        return {
            "connected": self._state is ConnectorState.RUNNING,
            "telegram_user_id": self._owner,
            "sends_through": "telegram_business",
            "needs_login": False,
        }


__all__ = [
    "BusinessAccountConnector",
    "ProjectBusinessRouter",
    "project_connection_lookup",
]
