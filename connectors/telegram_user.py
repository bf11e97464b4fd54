"""A manager's own Telegram account as a channel (R1.1, R1.2): a Telethon user session.

One :class:`ManagerAccountConnector` owns one ``TelegramClient`` built from a
StringSession (decrypted by the caller from ``Secret(purpose=telethon_session)``).
It listens with Telethon's own ``events.NewMessage`` and turns private-chat messages into
engine events:

* the manager's outgoing message (typed on any of their devices) → :class:`ManagerMessage`
  for the contact on the other side — the code-phrase trigger;
* a contact's incoming message → :class:`ContactMessage` (channel kind manager_account);
* groups, channels, Saved Messages, Telegram's service account and bots → skipped (logged).

Messages the engine itself sent through this session never come back as events: Telethon
does not dispatch a client's own sends, and as a second line (a send whose answer was
lost, later fetched again by getDifference) the connector remembers the ids it sent per
chat and, for sends with an unknown outcome, the chat and plain text for a while.

Failures are values for ``send`` (:class:`~connectors.base.SendResult`); ``start`` raises a
typed :class:`ManagerAccountError` (revoked or corrupted session, bad api_id/api_hash,
no network) and leaves the reason in ``health()``. Each connector is independent: one
account failing never affects another.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import html
import logging
import struct
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telethon import TelegramClient, errors, events, types
from telethon.extensions import html as telethon_html
from telethon.sessions import StringSession

from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    MediaKind,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
)
from engine.clock import Clock, SystemClock
from engine.events import ChannelKind, ChannelRef, ContactIdentity, ContactMessage, ManagerMessage

log = logging.getLogger(__name__)

# Telegram's service notifications account ("Telegram", login codes).
SERVICE_USER_ID = 777000

# Options for every client: flood waits go back to the outbox as retry_after instead of
# sleeping inside Telethon; one attempt per request (the outbox retries); updates in
# order (a contact's messages must reach the engine in the order they were written).
CLIENT_OPTIONS: dict[str, Any] = {
    "flood_sleep_threshold": 0,
    "request_retries": 0,
    "raise_last_call_error": True,
    "sequential_updates": True,
    "receive_updates": True,
    "catch_up": False,
    "device_model": "Voronka engine",
    "app_version": "voronka",
}

ClientFactory = Callable[..., TelegramClient]
"""Called as ``factory(StringSession, api_id, api_hash, **CLIENT_OPTIONS)``; tests pass one
that swaps the client's network sender for a fake."""


class ManagerAccountError(ConnectorError):
    """A manager account cannot run; ``str()`` tells staff what to do. Never holds secrets."""

    state: ConnectorState = ConnectorState.FAILING


class SessionInvalidError(ManagerAccountError):
    """The stored session string is not a Telethon StringSession (corrupted or truncated)."""

    state = ConnectorState.UNAUTHORIZED


class SessionRevokedError(ManagerAccountError):
    """Telegram no longer knows this session (logged out, terminated from another device)."""

    state = ConnectorState.UNAUTHORIZED


class ApiCredentialsError(ManagerAccountError):
    """Telegram refused the api_id/api_hash pair (my.telegram.org)."""

    state = ConnectorState.UNAUTHORIZED


class AccountConnectError(ManagerAccountError):
    """Telegram could not be reached; starting again later may work."""


def parse_session(session: str | SecretStr) -> StringSession:
    """The StringSession in ``session``, or :class:`SessionInvalidError`."""
    text = session.get_secret_value() if isinstance(session, SecretStr) else session
    try:
        parsed = StringSession(text.strip())
    except (ValueError, binascii.Error, struct.error, UnicodeError, IndexError):
        raise SessionInvalidError(
            "the stored Telegram session is corrupted; log the manager account in again"
        ) from None
    if not text.strip() or parsed.auth_key is None:
        raise SessionInvalidError(
            "the stored Telegram session is empty (never logged in); log the account in"
        )
    return parsed


def plain_text(html_text: str) -> str:
    """What Telegram stores as the message text for ``html_text`` sent with HTML parse mode."""
    return telethon_html.parse(html_text)[0].strip()


def render_text(message: OutgoingMessage) -> str:
    """The HTML text to send from a user account: URL buttons become links under the text
    (user accounts cannot attach buttons); callback buttons and keyboards are dropped."""
    text = message.text
    links = [
        f'<a href="{html.escape(b.url, quote=True)}">{html.escape(b.text, quote=False)}</a>'
        for b in message.buttons_flat()
        if b.url is not None
    ]
    dropped = [b.text for b in message.buttons_flat() if b.url is None]
    if dropped:
        log.warning(
            "%s: a user account cannot send buttons; dropped %s (outbox %s)",
            message.channel.key,
            dropped,
            message.idempotency_key,
        )
    if message.reply_keyboard is not None:
        log.warning(
            "%s: a user account cannot show a reply keyboard; dropped (outbox %s)",
            message.channel.key,
            message.idempotency_key,
        )
    if links:
        text = "\n\n".join(p for p in (text, "\n".join(links)) if p)
    return text


class _MediaError(ValueError):
    pass


class _UnknownPeerError(ValueError):
    pass


def _media_file(source: str) -> str:
    if source.startswith(("http://", "https://")):
        return source
    if Path(source).is_file():
        return source
    raise _MediaError(
        f"media {source!r} is neither an http(s) URL nor an existing file; a Bot API file_id "
        "cannot be sent from a user account"
    )


_MEDIA_OPTIONS: dict[MediaKind, dict[str, bool]] = {
    MediaKind.VOICE: {"voice_note": True},
    MediaKind.VIDEO_NOTE: {"video_note": True},
    MediaKind.DOCUMENT: {"force_document": True},
}


class ManagerAccountConnector(Connector):
    """One manager account (Telethon user session) of one project."""

    def __init__(
        self,
        channel: ChannelRef,
        session: str | SecretStr,
        api_id: int,
        api_hash: str | SecretStr,
        *,
        clock: Clock | None = None,
        client_factory: ClientFactory = TelegramClient,
        unknown_outcome_ttl: timedelta = timedelta(minutes=10),
        sent_ids_kept: int = 10_000,
        lookup_timeout: float = 10.0,
    ) -> None:
        if channel.kind is not ChannelKind.MANAGER_ACCOUNT:
            raise ConnectorError(f"{channel} is not a manager account")
        self._channel = channel
        self._session = session if isinstance(session, SecretStr) else SecretStr(session)
        self._api_id = api_id
        self._api_hash = api_hash if isinstance(api_hash, SecretStr) else SecretStr(api_hash)
        self._clock: Clock = clock or SystemClock()
        self._factory = client_factory
        self._unknown_ttl = unknown_outcome_ttl
        self._sent_ids_kept = sent_ids_kept
        self._lookup_timeout = lookup_timeout

        self._client: TelegramClient | None = None
        self._sink: EventSink | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._me: types.User | None = None
        self._state = ConnectorState.STOPPED
        self._last_event_at: datetime | None = None
        self._last_send_at: datetime | None = None
        self._last_error: str | None = None
        # (chat id, message id) of the engine's own sends, oldest first
        self._sent_ids: OrderedDict[tuple[int, int], None] = OrderedDict()
        # (chat id, plain text) → until when: sends whose outcome is unknown
        self._unknown: dict[tuple[int, str], datetime] = {}
        self._identities: dict[int, ContactIdentity] = {}
        self._dialogs_loaded_at: datetime | None = None

    # --- Connector ---------------------------------------------------------------------

    @property
    def channel(self) -> ChannelRef:
        return self._channel

    @property
    def client(self) -> TelegramClient | None:
        """The running Telethon client (for :mod:`connectors.telegram_user_labels`)."""
        return self._client if self._state is not ConnectorState.STOPPED else None

    @property
    def me(self) -> types.User | None:
        """The manager's own Telegram user, once started."""
        return self._me

    async def start(self, sink: EventSink) -> None:
        if self._client is not None and self._client.is_connected():
            self._sink = sink
            return
        self._state = ConnectorState.STARTING
        self._stopping = False
        self._sink = sink
        try:
            session = parse_session(self._session)
            client = self._factory(
                session, self._api_id, self._api_hash.get_secret_value(), **CLIENT_OPTIONS
            )
            client.add_event_handler(self._on_new_message, events.NewMessage())
            self._client = client
            await self._connect(client)
        except ManagerAccountError as exc:
            self._fail(exc.state, str(exc))
            await self._disconnect_quietly()
            raise
        self._state = ConnectorState.RUNNING
        self._last_error = None
        self._watcher = asyncio.create_task(self._watch_connection(client))
        log.info(
            "%s: manager account started (Telegram user %s)",
            self._channel.key,
            self._me.id if self._me else "?",
        )

    async def _connect(self, client: TelegramClient) -> None:
        try:
            await client.connect()
            me = await client.get_me()
        except errors.ApiIdInvalidError:
            raise ApiCredentialsError(
                "Telegram refused the api_id/api_hash of this account (check them on "
                "my.telegram.org)"
            ) from None
        except (errors.UnauthorizedError, errors.AuthKeyError) as exc:
            raise SessionRevokedError(
                f"Telegram ended this session ({type(exc).__name__}); log the account in again"
            ) from None
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise AccountConnectError(
                f"cannot reach Telegram: {type(exc).__name__}: {exc}"
            ) from None
        except errors.RPCError as exc:
            raise ManagerAccountError(f"Telegram refused to connect: {exc}") from None
        if not isinstance(me, types.User):
            raise SessionRevokedError(
                "this session is not logged in (revoked or logged out); log the account in again"
            )
        self._me = me

    async def stop(self) -> None:
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._disconnect_quietly()
        self._sink = None
        self._state = ConnectorState.STOPPED

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != self._channel:
            raise ConnectorError(f"{message.channel} message given to {self._channel}")
        result = await self._send(message)
        self._last_send_at = self._clock.now()
        if result.ok:
            if self._state is ConnectorState.FAILING:
                self._state = ConnectorState.RUNNING
            self._last_error = None
        elif result.error is not None:
            self._last_error = f"send: {result.error.kind.value}: {result.error.description}"
            if result.error.kind is SendErrorKind.UNAUTHORIZED:
                self._state = ConnectorState.UNAUTHORIZED
        return result

    async def create_personal_link(self, token: str) -> str:
        raise ConnectorError("personal links lead into a bot, not a manager account")

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        log.debug(
            "%s: no buttons on a manager account; ignoring %s", self._channel.key, callback_query_id
        )

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(
            channel=self._channel,
            state=self._state,
            last_event_at=self._last_event_at,
            last_send_at=self._last_send_at,
            last_error=self._last_error,
        )

    # --- receiving -----------------------------------------------------------------------

    async def _on_new_message(self, event: events.NewMessage.Event) -> None:
        self._last_event_at = self._clock.now()
        message = event.message
        if not event.is_private:
            log.debug(
                "%s: skipping a message in chat %s (not a private chat)",
                self._channel.key,
                event.chat_id,
            )
            return
        chat_id = int(event.chat_id)
        if chat_id == SERVICE_USER_ID or (self._me is not None and chat_id == self._me.id):
            log.debug(
                "%s: skipping a message in chat %s (service / saved messages)",
                self._channel.key,
                chat_id,
            )
            return
        text = message.raw_text or ""
        if message.out and self._is_own_send(chat_id, message.id, text):
            log.debug(
                "%s: message %s to %s was sent by the engine; not a trigger",
                self._channel.key,
                message.id,
                chat_id,
            )
            return
        contact = await self._identity(event, chat_id)
        if contact is None:
            log.debug("%s: skipping a message with bot %s", self._channel.key, chat_id)
            return
        occurred_at = message.date or self._clock.now()
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        engine_event: ManagerMessage | ContactMessage
        if message.out:
            engine_event = ManagerMessage(
                channel=self._channel,
                contact=contact,
                occurred_at=occurred_at,
                text=text,
                message_id=message.id,
                reply_to_message_id=message.reply_to_msg_id,
            )
        else:
            engine_event = ContactMessage(
                channel=self._channel,
                contact=contact,
                occurred_at=occurred_at,
                text=text,
                message_id=message.id,
                reply_to_message_id=message.reply_to_msg_id,
            )
        sink = self._sink
        if sink is None:
            log.warning("%s: no sink; dropped %s", self._channel.key, engine_event.dedup_key)
            return
        try:
            await sink.submit(engine_event)
        except Exception as exc:
            self._last_error = f"event not accepted: {type(exc).__name__}: {exc}"
            log.exception(
                "%s: the engine did not accept %s", self._channel.key, engine_event.dedup_key
            )

    async def _identity(
        self, event: events.NewMessage.Event, chat_id: int
    ) -> ContactIdentity | None:
        entity = event.chat
        if not isinstance(entity, types.User) or entity.min:
            cached = self._identities.get(chat_id)
            if cached is not None:
                return cached
            try:
                entity = await asyncio.wait_for(event.get_chat(), self._lookup_timeout)
            except (errors.RPCError, OSError, ConnectionError, ValueError, TimeoutError) as exc:
                log.info(
                    "%s: no profile for user %s (%s); using the id only",
                    self._channel.key,
                    chat_id,
                    type(exc).__name__,
                )
                entity = None
        if isinstance(entity, types.User):
            if entity.bot:
                return None
            return self._remember(entity)
        return ContactIdentity(user_id=chat_id)

    def _remember(self, user: types.User) -> ContactIdentity:
        identity = ContactIdentity(
            user_id=user.id,
            first_name=user.first_name or "",
            last_name=user.last_name or None,
            username=user.username or None,
            language_code=user.lang_code or None,
        )
        self._identities[user.id] = identity
        return identity

    def _is_own_send(self, chat_id: int, message_id: int, text: str) -> bool:
        if (chat_id, message_id) in self._sent_ids:
            return True
        now = self._clock.now()
        for key, until in list(self._unknown.items()):
            if until <= now:
                del self._unknown[key]
        return self._unknown.pop((chat_id, text.strip()), None) is not None

    def _remember_sent(self, chat_id: int, message_id: int) -> None:
        self._sent_ids[(chat_id, message_id)] = None
        while len(self._sent_ids) > self._sent_ids_kept:
            self._sent_ids.popitem(last=False)

    async def _watch_connection(self, client: TelegramClient) -> None:
        error: BaseException | None = None
        try:
            await client.disconnected
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        if self._stopping:
            return
        # Telethon keeps why its update loop stopped in a private attribute.
        error = getattr(client, "_updates_error", None) or error
        if isinstance(error, (errors.UnauthorizedError, errors.AuthKeyError)):
            self._fail(
                ConnectorState.UNAUTHORIZED,
                f"Telegram ended this session ({type(error).__name__}); log in again",
            )
        else:
            reason = f"{type(error).__name__}: {error}" if error else "connection closed"
            self._fail(ConnectorState.FAILING, f"disconnected from Telegram: {reason}")

    def _fail(self, state: ConnectorState, reason: str) -> None:
        self._state = state
        self._last_error = reason
        log.error("%s: %s", self._channel.key, reason)

    async def _disconnect_quietly(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            await client.disconnect()
        except Exception:  # disconnecting a half-started client must not hide the cause
            log.debug("%s: error while disconnecting", self._channel.key, exc_info=True)

    # --- sending -------------------------------------------------------------------------

    async def _send(self, message: OutgoingMessage) -> SendResult:
        client = self._client
        if self._state is ConnectorState.UNAUTHORIZED:
            return SendResult.failure(SendErrorKind.UNAUTHORIZED, self._last_error or "")
        if client is None or not client.is_connected():
            return SendResult.failure(SendErrorKind.NETWORK, "the manager account is not connected")
        try:
            files = [(_media_file(m.source), m.kind) for m in message.media]
        except _MediaError as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        if message.protect_content:
            log.info(
                "%s: protect_content is not available to user accounts; sent without it",
                self._channel.key,
            )
        text = render_text(message)
        pending = (message.chat_id, plain_text(text))
        self._unknown[pending] = self._clock.now() + self._unknown_ttl
        outcome_known = True
        try:
            peer = await self._input_peer(client, message.chat_id)
            sent = await self._deliver(client, peer, text, files, message)
        except _UnknownPeerError as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        except errors.FloodError as exc:
            seconds = float(getattr(exc, "seconds", 0) or 1)
            return SendResult.failure(SendErrorKind.RETRY_AFTER, str(exc), retry_after=seconds)
        except (errors.UserIsBlockedError, errors.InputUserDeactivatedError) as exc:
            return SendResult.failure(SendErrorKind.BLOCKED, f"{type(exc).__name__}: {exc}")
        except errors.UserPrivacyRestrictedError as exc:
            return SendResult.failure(
                SendErrorKind.BLOCKED,
                f"the contact's privacy settings forbid messages from this account: {exc}",
            )
        except errors.PeerIdInvalidError as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, f"invalid peer: {exc}")
        except (errors.UnauthorizedError, errors.AuthKeyError) as exc:
            return SendResult.failure(
                SendErrorKind.UNAUTHORIZED,
                f"Telegram ended this session ({type(exc).__name__}); log in again",
            )
        except (errors.ServerError, errors.TimedOutError) as exc:
            outcome_known = False
            return SendResult.failure(SendErrorKind.SERVER_ERROR, str(exc))
        except errors.RPCError as exc:
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        except (ConnectionError, OSError, TimeoutError) as exc:
            outcome_known = False
            self._state = ConnectorState.FAILING
            return SendResult.failure(
                SendErrorKind.NETWORK, f"{type(exc).__name__}: {exc}", maybe_delivered=True
            )
        except ValueError as exc:  # Telethon: bad file, unparsable text
            return SendResult.failure(SendErrorKind.BAD_REQUEST, str(exc))
        finally:
            if outcome_known:
                self._unknown.pop(pending, None)
        for sent_message in sent:
            self._remember_sent(message.chat_id, sent_message.id)
        return SendResult.success(sent[0].id)

    async def _deliver(
        self,
        client: TelegramClient,
        peer: types.TypeInputPeer,
        text: str,
        files: list[tuple[str, MediaKind]],
        message: OutgoingMessage,
    ) -> list[types.Message]:
        link_preview = not message.disable_link_preview
        if not files:
            sent = await client.send_message(
                peer, text, parse_mode="html", link_preview=link_preview
            )
            return [sent]
        if len(files) == 1:
            path, kind = files[0]
            sent = await client.send_file(
                peer, path, caption=text or None, parse_mode="html", **_MEDIA_OPTIONS.get(kind, {})
            )
            return [sent]
        album = await client.send_file(
            peer, [path for path, _ in files], caption=text or None, parse_mode="html"
        )
        return list(album) if isinstance(album, list) else [album]

    async def _input_peer(self, client: TelegramClient, user_id: int) -> types.TypeInputPeer:
        """The contact's input peer (access hash) from Telethon's caches; once in a while,
        if unknown (e.g. after a restart), the dialogs are loaded to learn it."""
        unknown = _UnknownPeerError(
            f"user {user_id} is unknown to this account (no dialog with them)"
        )
        try:
            return await client.get_input_entity(types.PeerUser(user_id))
        except (ValueError, errors.PeerIdInvalidError):
            now = self._clock.now()
            if self._dialogs_loaded_at and now - self._dialogs_loaded_at < timedelta(minutes=5):
                raise unknown from None
            self._dialogs_loaded_at = now
        await client.get_dialogs(limit=500)
        try:
            return await client.get_input_entity(types.PeerUser(user_id))
        except (ValueError, errors.PeerIdInvalidError):
            raise unknown from None
