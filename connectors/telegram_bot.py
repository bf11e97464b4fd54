"""A real Telegram bot behind :class:`connectors.base.Connector`, on aiogram 3.

One :class:`TelegramBotConnector` drives one bot (one aiogram ``Bot`` with its own HTTP
session). It receives updates by long polling (default) or by webhook, turns them into
:mod:`engine.events` and hands each to the :class:`EventSink`; it sends
:class:`OutgoingMessage` objects and reports failures as :class:`SendResult` values.

Nothing is lost (DESIGN: step loop):

* **Polling.** Our own ``getUpdates`` loop. The offset passed to Telegram moves past an
  update only after ``sink.submit`` returned for it (and for every update before it), so a
  crash or a failing sink means redelivery, never loss. Redeliveries are harmless: events
  carry the ``update_id`` and the engine de-duplicates. Within a batch, updates of
  different contacts are submitted concurrently, one contact's updates strictly in order.
* **Webhook.** :meth:`TelegramBotConnector.handle_webhook` answers 200 only after the
  sink accepted the update; otherwise Telegram retries. The secret-token header is checked.
* Each update is parsed on its own, so one malformed update is logged and skipped instead
  of failing the whole batch forever.

Sending: HTML text, media by file path (uploaded once, then re-sent by file_id), URL or
file_id, albums, inline / reply keyboards, protect_content, link previews off. A message
that needs several Telegram messages (media + long text) remembers which parts went out,
so a retry of the same ``idempotency_key`` in this process does not repeat them.

The bot token never appears in logs, errors or ``repr`` (:func:`connectors.bot_token.redact`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    ApproveChatJoinRequest,
    CreateChatInviteLink,
    DeleteWebhook,
    GetMe,
    SendMediaGroup,
    SendMessage,
    SetWebhook,
)
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    FSInputFile,
    InputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
)
from aiogram.utils.token import TokenValidationError
from aiohttp import web

from connectors.base import (
    PERSONAL_LINK_PREFIX,
    Connector,
    ConnectorError,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    Media,
    MediaKind,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
    personal_link,
)
from connectors.bot_token import redact
from connectors.telegram_bot_send import (
    CAPTION_MAX,
    MEDIA_METHODS,
    NO_CAPTION,
    Markup,
    album_family,
    build_markup,
    failure,
    file_id_of,
    visible_length,
)
from connectors.telegram_bot_updates import (
    ALLOWED_UPDATES,
    BrokenUpdate,
    BusinessRouter,
    contact_key,
    invite_link_of,
    map_update,
    prepare_business,
    route_business,
    update_id_of,
)
from engine.events import ButtonPress, ChannelRef

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_MEMO_SIZE = 10_000  # remembered callback answers / partly sent messages / invite links


class UpdateMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class TelegramBotConfig:
    """How to run one bot. ``token`` is secret: it is left out of ``repr``."""

    token: str = field(repr=False)
    username: str
    channel: ChannelRef
    api_base: str | None = None  # a local Bot API server or the test fake; None = Telegram
    mode: UpdateMode = UpdateMode.POLLING
    webhook_url: str | None = None  # webhook mode: registered with setWebhook on start
    webhook_secret: str | None = field(default=None, repr=False)
    media_root: Path | None = None  # relative media paths are looked up here
    poll_timeout: int = 25  # long-poll seconds
    send_timeout: float = 30.0  # seconds for one API call before it counts as a network error
    parallel_contacts: int = 100  # contacts of one update batch submitted concurrently
    retry_min: float = 0.5  # polling back-off after an error (doubles up to retry_max)
    retry_max: float = 30.0
    callback_answer_after: float = 1.0  # answer a button press ourselves if the engine hasn't
    stop_grace: float = 10.0  # seconds stop() waits for in-flight submits and sends
    business: BusinessRouter | None = field(default=None, repr=False, compare=False)
    """Telegram Business: stores connections and maps owners to the project's manager
    accounts (the daemon passes one; without it the in-memory registry is used)."""

    def __post_init__(self) -> None:
        if self.mode is UpdateMode.WEBHOOK and not self.webhook_secret:
            raise ConnectorError("webhook mode needs a webhook_secret")


_RESPONSE_MODELS: dict[Any, Any] = {}
"""Strong references to aiogram's ``Response[...]`` models of the methods we call.

aiogram builds ``Response[method.__returning__]`` for every answer, and pydantic keeps
parametrised generic models only weakly: whenever the garbage collector drops one, the
next call rebuilds it (≈ 11 ms). Under load that happened every few sends (measured:
217 rebuilds in 2,027 sends). Held here, each is built once per process."""


def _pin_response_models() -> None:
    if _RESPONSE_MODELS:
        return
    methods: tuple[type[TelegramMethod[Any]], ...] = (
        _RawGetUpdates,
        AnswerCallbackQuery,
        ApproveChatJoinRequest,
        CreateChatInviteLink,
        DeleteWebhook,
        SendMediaGroup,
        SendMessage,
        _SendText,
        SetWebhook,
        GetMe,
        *MEDIA_METHODS.values(),
    )
    for method in methods:
        returning = method.__returning__
        if returning not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]


class _RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """``getUpdates`` returning raw dicts, so each update is validated on its own."""

    __returning__: ClassVar[Any] = list[dict[str, Any]]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class _SendText(SendMessage):
    """``sendMessage`` whose answer is read as a plain dict: the sender needs only the
    message id, and validating Telegram's answer into aiogram's full ``Message`` model
    (dozens of optional fields, nested user and chat) was a good part of a send's cost."""

    __returning__: ClassVar[Any] = dict[str, Any]


class _MediaMissing(Exception):
    pass


class InviteLinkError(ConnectorError):
    """createChatInviteLink failed; ``retryable`` when trying again later may work (a
    network error, 429 or a Telegram 5xx), not when Telegram refused (bot not an admin
    of the chat, chat not found…)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _Memo(OrderedDict[str, Any]):
    """A bounded insertion-ordered map (oldest entries fall out)."""

    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _MEMO_SIZE:
            self.popitem(last=False)


Part = Callable[[], Awaitable[int]]  # sends one Telegram message (or album), returns its id


class TelegramBotConnector(Connector):
    """One Telegram bot of one project. See the module docstring."""

    def __init__(self, config: TelegramBotConfig) -> None:
        self._config = config
        self._token = config.token
        api = TelegramAPIServer.from_base(config.api_base) if config.api_base else PRODUCTION
        session = AiohttpSession(api=api, timeout=config.send_timeout)
        try:
            self._bot = Bot(config.token, session=session)
        except TokenValidationError:
            raise ConnectorError(
                f"{config.channel}: this is not a bot token (expected 123456789:ABC…)"
            ) from None
        self._sink: EventSink | None = None
        self._state = ConnectorState.STOPPED
        self._poll_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._offset: int | None = None  # next update id to ask for (all below submitted)
        self._confirmed: int | None = None  # offset last sent to Telegram
        self._last_event_at: datetime | None = None
        self._last_update_at: datetime | None = None
        self._last_send_at: datetime | None = None
        self._last_error: str | None = None
        self._answered: _Memo = _Memo()  # callback query ids already answered
        self._partial: _Memo = _Memo()  # idempotency key -> message ids of parts sent
        self._invite_tokens: _Memo = _Memo()  # invite link -> personal-link token
        self._uploaded: dict[tuple[str, str, float], str] = {}  # (path, kind, mtime) -> id
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"TelegramBotConnector(@{self._config.username}, {self._config.channel.key})"

    # --- Connector interface ---------------------------------------------------------

    @property
    def channel(self) -> ChannelRef:
        return self._config.channel

    @property
    def bot(self) -> Bot:
        """The aiogram Bot (for calls this interface does not cover)."""
        return self._bot

    @property
    def username(self) -> str:
        return self._config.username.lstrip("@")

    async def start(self, sink: EventSink) -> None:
        if self._state not in (ConnectorState.STOPPED, ConnectorState.UNAUTHORIZED):
            raise ConnectorError(f"{self.channel} is already started")
        self._sink = sink
        self._stopping = asyncio.Event()
        self._state = ConnectorState.STARTING
        _pin_response_models()
        if self._config.mode is UpdateMode.WEBHOOK:
            if self._config.webhook_url:
                await self.set_webhook(self._config.webhook_url)
            self._state = ConnectorState.RUNNING
            return
        self._poll_task = asyncio.create_task(
            self._poll_loop(), name=f"telegram-poll-{self.channel.key}"
        )

    async def stop(self) -> None:
        self._stopping.set()
        task, self._poll_task = self._poll_task, None
        if task is not None:
            # Let a batch being submitted finish (its offset is then kept), then cancel.
            done, _ = await asyncio.wait({task}, timeout=self._config.stop_grace)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._sink = None
        for pending in list(self._tasks):
            pending.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._config.stop_grace)
        await self._confirm_offset()
        await self._bot.session.close()
        if self._state is not ConnectorState.UNAUTHORIZED:
            self._state = ConnectorState.STOPPED

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != self.channel:
            raise ConnectorError(f"{message.channel} message given to {self.channel}")
        self._inflight += 1
        self._idle.clear()
        try:
            result = await self._send(message)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
        self._last_send_at = datetime.now(UTC)
        if result.error is not None:
            kind = result.error.kind
            self._last_error = f"send {kind.value}: {result.error.description}"
            if kind is SendErrorKind.UNAUTHORIZED:
                self._state = ConnectorState.UNAUTHORIZED
            log.log(
                logging.WARNING if result.error.retryable else logging.INFO,
                "%s: send to chat %s failed: %s",
                self.channel,
                message.chat_id,
                self._last_error,
            )
        return result

    async def create_personal_link(self, token: str) -> str:
        """``https://t.me/<bot>?start=pl-<token>`` (payload ≤ 64 of A-Za-z0-9_-)."""
        return personal_link(self.username, token)

    async def create_personal_invite_link(
        self,
        token: str,
        chat_id: int,
        *,
        expire_in: timedelta = timedelta(days=1),
        join_request: bool = False,
    ) -> str:
        """A one-person invite link to a private group/channel the bot administers.

        Default: ``member_limit=1`` and an expiry; the join arrives as a
        ``ChatMemberChange(JOINED)`` for the contact. With ``join_request`` the link asks
        for approval instead (Telegram forbids member_limit then) and arrives as a
        ``JoinRequest`` carrying the link. The link → token pair is kept in memory
        (:meth:`token_for_invite_link`); the engine should store the returned link too.
        """
        expire = datetime.now(UTC) + expire_in
        method = CreateChatInviteLink(
            chat_id=chat_id,
            name=(PERSONAL_LINK_PREFIX + token)[:32],
            expire_date=expire,
            member_limit=None if join_request else 1,
            creates_join_request=True if join_request else None,
        )
        try:
            link = await self._bot(method)
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            retryable = not isinstance(exc, TelegramAPIError) or isinstance(
                exc, TelegramNetworkError | TelegramRetryAfter | TelegramServerError
            )
            raise InviteLinkError(
                f"{self.channel}: could not create an invite link for chat {chat_id}: "
                f"{self._redact(exc)}",
                retryable=retryable,
            ) from None
        self._invite_tokens.remember(link.invite_link, token)
        return link.invite_link

    def token_for_invite_link(self, invite_link: str) -> str | None:
        """The personal-link token an invite link made by this connector was created for."""
        return cast(str | None, self._invite_tokens.get(invite_link))

    def remember_invite_link(self, invite_link: str, token: str) -> None:
        """Restore a stored link → token pair after a restart."""
        self._invite_tokens.remember(invite_link, token)

    async def approve_join_request(self, chat_id: int, user_id: int) -> bool:
        """Let a contact in after a ``JoinRequest``; False if Telegram refused."""
        try:
            await self._bot(ApproveChatJoinRequest(chat_id=chat_id, user_id=user_id))
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning(
                "%s: approving %s in %s failed: %s",
                self.channel,
                user_id,
                chat_id,
                self._redact(exc),
            )
            return False
        return True

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        if callback_query_id in self._answered:
            log.debug("%s: callback %s was already answered", self.channel, callback_query_id)
            return
        self._answered.remember(callback_query_id, True)
        try:
            await self._bot(
                AnswerCallbackQuery(
                    callback_query_id=callback_query_id, text=text, show_alert=show_alert
                ),
                request_timeout=cast(int, self._config.send_timeout),
            )
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            # Typically "query is too old" for a redelivered press; nothing to do.
            log.debug("%s: answerCallbackQuery failed: %s", self.channel, self._redact(exc))

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(
            channel=self.channel,
            state=self._state,
            last_event_at=self._last_update_at,
            last_send_at=self._last_send_at,
            last_error=self._last_error,
        )

    # --- webhook ---------------------------------------------------------------------

    async def set_webhook(self, url: str) -> None:
        """Register ``url`` (with the secret) as this bot's webhook."""
        secret = self._config.webhook_secret
        if not secret:
            raise ConnectorError(f"{self.channel}: a webhook needs webhook_secret")
        try:
            await self._bot(
                SetWebhook(url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))
            )
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            raise ConnectorError(
                f"{self.channel}: setWebhook failed: {self._redact(exc)}"
            ) from None

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """aiohttp handler for Telegram's POSTs: 200 once the sink accepted the update,
        403 on a wrong secret, 503/500 (Telegram retries) when it could not be accepted."""
        secret = self._config.webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("%s: webhook call with a wrong secret token refused", self.channel)
            return web.Response(status=403, text="forbidden")
        if self._sink is None:
            return web.Response(status=503, text="not started")
        try:
            raw = await request.json()
        except ValueError:
            log.warning("%s: webhook body is not JSON; skipped", self.channel)
            return web.Response(status=200, text="skipped")
        try:
            await self._handle_update(raw)
        except Exception as exc:  # the sink failed; Telegram retries
            self._note_error(f"sink refused update {update_id_of(raw)}: {self._redact(exc)}")
            return web.Response(status=500, text="not accepted")
        return web.Response(status=200, text="ok")

    def webhook_app(self, path: str = "/telegram") -> web.Application:
        app = web.Application()
        app.router.add_post(path, self.handle_webhook)
        return app

    # --- polling ---------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        delay = self._config.retry_min
        try:
            await self._bot(DeleteWebhook(drop_pending_updates=False))
        except TelegramUnauthorizedError:
            self._unauthorized()
            return
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            self._note_error(f"deleteWebhook: {self._redact(exc)}")
        while not self._stopping.is_set():
            try:
                raws = await self._get_updates()
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError:
                self._unauthorized()
                return
            except Exception as exc:  # network, 5xx, 409, bad JSON: retry
                self._note_error(f"getUpdates: {self._redact(exc)}")
                self._state = ConnectorState.FAILING
                await self._sleep(delay)
                delay = min(delay * 2, self._config.retry_max)
                continue
            if self._state is not ConnectorState.UNAUTHORIZED:
                self._state = ConnectorState.RUNNING
            if raws is None:  # stopped while waiting
                return
            if not raws:
                delay = self._config.retry_min
                continue
            self._last_update_at = datetime.now(UTC)
            if await self._process_batch(raws):
                delay = self._config.retry_min
            else:
                self._state = ConnectorState.FAILING
                await self._sleep(delay)
                delay = min(delay * 2, self._config.retry_max)

    async def _get_updates(self) -> list[dict[str, Any]] | None:
        """One long poll; None if stop() was called meanwhile."""
        method = _RawGetUpdates(
            offset=self._offset,
            limit=100,
            timeout=self._config.poll_timeout,
            allowed_updates=list(ALLOWED_UPDATES),
        )
        call = asyncio.ensure_future(
            self._bot(method, request_timeout=self._config.poll_timeout + 10)
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not call.done():
                call.cancel()
        if not call.done() or call.cancelled():
            return None
        self._confirmed = self._offset
        return call.result()

    async def _process_batch(self, raws: Sequence[Any]) -> bool:
        """Submit a batch; advance the offset over its fully submitted prefix.

        Returns False if some update was not accepted (it comes again on the next poll)."""
        ids: list[int | None] = [update_id_of(raw) for raw in raws]
        done = [False] * len(raws)
        groups: dict[object, list[int]] = {}
        for index, raw in enumerate(raws):
            key = contact_key(raw)
            groups.setdefault(key if key is not None else ("update", index), []).append(index)
        limit = asyncio.Semaphore(max(1, self._config.parallel_contacts))

        async def run(indexes: list[int]) -> None:
            async with limit:
                for index in indexes:
                    try:
                        await self._handle_update(raws[index])
                    except Exception as exc:  # the sink failed: redeliver
                        self._note_error(f"sink refused update {ids[index]}: {self._redact(exc)}")
                        log.debug("sink traceback", exc_info=True)
                        return  # later updates of this contact wait for the redelivery
                    done[index] = True

        if len(groups) == 1:
            await run(next(iter(groups.values())))
        else:
            await asyncio.gather(*(run(indexes) for indexes in groups.values()))
        for index, ok in enumerate(done):
            if not ok:
                break
            update_id = ids[index]
            if update_id is not None:
                self._offset = max(self._offset or 0, update_id + 1)
        return all(done)

    async def _confirm_offset(self) -> None:
        """Tell Telegram which updates we have (a later start gets no duplicates)."""
        if self._offset is None or self._offset == self._confirmed:
            return
        try:
            await self._bot(
                _RawGetUpdates(offset=self._offset, limit=1, timeout=0),
                request_timeout=5,
            )
            self._confirmed = self._offset
        except Exception as exc:  # best effort; duplicates are de-duplicated
            log.debug("%s: confirming offset failed: %s", self.channel, self._redact(exc))

    # --- one update --------------------------------------------------------------------

    async def _handle_update(self, raw: Any) -> None:
        """Map one raw update and submit its event; raises only if the sink (or the
        business router's database) failed, so the update is delivered again."""
        update_id = update_id_of(raw)
        router = self._config.business
        if router is not None:  # a database error here means redelivery, not a skip
            await prepare_business(router, raw)
        try:
            event, why = map_update(
                self.channel, raw, business=router.connections if router is not None else None
            )
        except BrokenUpdate as exc:
            log.warning("%s: skipping broken update %s: %s", self.channel, update_id, exc)
            return
        except Exception:  # never let one odd update stop the bot
            log.exception(
                "%s: skipping update %s that could not be mapped", self.channel, update_id
            )
            return
        if router is not None:
            event, why = await route_business(router, self.channel, raw, event, why)
        if event is None:
            log.debug("%s: ignoring update %s: %s", self.channel, update_id, why)
            return
        link = invite_link_of(raw)
        if link is not None and link in self._invite_tokens:
            log.info(
                "%s: contact %s came through the personal invite link of token %s",
                self.channel,
                event.contact.user_id,
                self._invite_tokens[link],
            )
        sink = self._sink
        if sink is None:
            raise ConnectorError(f"{self.channel} is not started")
        answered: asyncio.Event | None = None
        if isinstance(event, ButtonPress):
            answered = asyncio.Event()
            self._spawn(self._auto_answer(event.callback_query_id, answered))
        try:
            await sink.submit(event)
        finally:
            if answered is not None:
                answered.set()
        self._last_update_at = datetime.now(UTC)

    async def _auto_answer(self, callback_query_id: str, submitted: asyncio.Event) -> None:
        """Stop the button's spinner: after the engine took the press, or after a second."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(submitted.wait(), self._config.callback_answer_after)
        await self.answer_button(callback_query_id)

    # --- sending -------------------------------------------------------------------------

    async def _send(self, message: OutgoingMessage) -> SendResult:
        try:
            parts = self._plan(message)
        except _MediaMissing as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        key = message.idempotency_key
        sent: list[int] = list(self._partial.get(key, ()))
        try:
            for part in parts[len(sent) :]:
                sent.append(await part())
                if len(sent) < len(parts):
                    self._partial.remember(key, list(sent))
        except Exception as exc:  # mapped into a SendResult
            return failure(exc, self._token)  # parts already sent stay remembered
        self._partial.pop(key, None)
        return SendResult.success(sent[-1])

    def _plan(self, message: OutgoingMessage) -> list[Part]:
        markup = build_markup(message)
        text = message.text
        media = list(message.media)
        if not media:
            return [self._text_part(message, text, markup)]
        fits = bool(text) and visible_length(text) <= CAPTION_MAX
        kinds = [m.kind for m in media]
        if len(media) > 1 and album_family(kinds) and (markup is None or text):
            caption_on_album = fits and markup is None
            parts: list[Part] = [
                self._album_part(message, media, text if caption_on_album else None)
            ]
            if text and not caption_on_album:
                parts.append(self._text_part(message, text, markup))
            return parts
        parts = []
        last = len(media) - 1
        trailing_text = bool(text) and (not fits or media[last].kind in NO_CAPTION)
        for index, item in enumerate(media):
            if index < last:
                parts.append(self._media_part(message, item, None, None))
            elif trailing_text:
                parts.append(self._media_part(message, item, None, None))
                parts.append(self._text_part(message, text, markup))
            else:
                parts.append(self._media_part(message, item, text or None, markup))
        return parts

    def _text_part(self, message: OutgoingMessage, text: str, markup: Markup | None) -> Part:
        method = _SendText(
            chat_id=message.chat_id,
            text=text,
            parse_mode="HTML",
            reply_markup=markup,
            protect_content=message.protect_content or None,
            link_preview_options=(
                LinkPreviewOptions(is_disabled=True) if message.disable_link_preview else None
            ),
        )

        async def part() -> int:
            sent: dict[str, Any] = await self._call(method)  # type: ignore[arg-type]
            return int(sent["message_id"])

        return part

    def _media_part(
        self,
        message: OutgoingMessage,
        media: Media,
        caption: str | None,
        markup: Markup | None,
    ) -> Part:
        source, upload_key = self._input_file(media)
        kind = media.kind
        params: dict[str, Any] = {
            "chat_id": message.chat_id,
            kind.value: source,
            "reply_markup": markup,
            "protect_content": message.protect_content or None,
        }
        if kind not in NO_CAPTION and caption:
            params["caption"] = caption
            params["parse_mode"] = "HTML"
        method = MEDIA_METHODS[kind](**params)

        async def part() -> int:
            sent = await self._call(method)
            if upload_key is not None:
                file_id = file_id_of(sent, kind)
                if file_id:
                    self._uploaded[upload_key] = file_id
            return sent.message_id

        return part

    def _album_part(
        self, message: OutgoingMessage, media: list[Media], caption: str | None
    ) -> Part:
        items: list[Any] = []  # photo/video/document/audio inputs
        for index, item in enumerate(media):
            source, _ = self._input_file(item)
            extra: dict[str, Any] = {}
            if index == 0 and caption:
                extra = {"caption": caption, "parse_mode": "HTML"}
            if item.kind is MediaKind.PHOTO:
                items.append(InputMediaPhoto(media=source, **extra))
            elif item.kind is MediaKind.VIDEO:
                items.append(InputMediaVideo(media=source, **extra))
            elif item.kind is MediaKind.DOCUMENT:
                items.append(InputMediaDocument(media=source, **extra))
            else:
                items.append(InputMediaAudio(media=source, **extra))
        method = SendMediaGroup(
            chat_id=message.chat_id,
            media=items,
            protect_content=message.protect_content or None,
        )

        async def part() -> int:
            sent = await self._call(method)
            return sent[0].message_id

        return part

    def _input_file(self, media: Media) -> tuple[str | InputFile, tuple[str, str, float] | None]:
        """A URL or file_id as is; a local path as an upload (or its file_id if uploaded)."""
        source = media.source
        if source.startswith(("http://", "https://")):
            return source, None
        path = Path(source)
        if not path.is_absolute() and self._config.media_root is not None:
            path = self._config.media_root / path
        if path.is_file():
            key = (str(path.resolve()), media.kind.value, os.stat(path).st_mtime)
            cached = self._uploaded.get(key)
            if cached is not None:
                return cached, None
            return FSInputFile(path), key
        if any(c in source for c in "/\\.") or source.startswith("file:"):
            raise _MediaMissing(f"media file not found: {source}")
        return source, None  # a Telegram file_id (base64url, no dots or slashes)

    async def _call(self, method: TelegramMethod[Any]) -> Any:
        return await self._bot(method, request_timeout=cast(int, self._config.send_timeout))

    # --- helpers -------------------------------------------------------------------------

    def _redact(self, exc: BaseException) -> str:
        text = exc.message if isinstance(exc, TelegramAPIError) else f"{type(exc).__name__}: {exc}"
        return redact(text, self._token)

    def _note_error(self, text: str) -> None:
        self._last_error = text
        log.warning("%s: %s", self.channel, text)

    def _unauthorized(self) -> None:
        self._state = ConnectorState.UNAUTHORIZED
        self._note_error("Telegram refused the bot token (revoked?); polling stopped")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
