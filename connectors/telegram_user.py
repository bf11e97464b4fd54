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

Nothing typed while the engine is down is lost: with an :class:`UpdateStateStore` the
client starts with ``catch_up=True`` from the stored update state (pts/qts/date/seq), and
the stored state only moves past an update batch once every update of it was handed to the
engine (a failed submit freezes it, so the next start replays from there; the engine
de-duplicates what it already handled). A dropped connection is re-opened with exponential
back-off; a session Telegram ended (AUTH_KEY_UNREGISTERED, SessionRevoked…) is not retried:
``on_unauthorized`` is called once so the account can be marked as needing a login.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import html
import logging
import struct
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr
from telethon import TelegramClient, errors, events, functions, types
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
    "catch_up": False,  # turned on per start when a stored update state is loaded
    "device_model": "Voronka engine",
    "app_version": "voronka",
}

ClientFactory = Callable[..., TelegramClient]
"""Called as ``factory(StringSession, api_id, api_hash, **CLIENT_OPTIONS)``; tests pass one
that swaps the client's network sender for a fake."""


@dataclass(frozen=True)
class UpdateState:
    """Telegram's update state of an account (the common message box): where
    ``updates.getDifference`` continues from. ``date`` is epoch seconds."""

    pts: int
    qts: int
    date: int
    seq: int

    def as_dict(self) -> dict[str, int]:
        return {"pts": self.pts, "qts": self.qts, "date": self.date, "seq": self.seq}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> UpdateState | None:
        if not data:
            return None
        try:
            return cls(int(data["pts"]), int(data["qts"]), int(data["date"]), int(data["seq"]))
        except (KeyError, TypeError, ValueError):
            return None


class UpdateStateStore(Protocol):
    """Where a manager account keeps its update state between runs (the project database
    in the daemon)."""

    async def load(self) -> UpdateState | None: ...

    async def save(self, state: UpdateState) -> None: ...


UnauthorizedCallback = Callable[[str], Awaitable[None]]
"""Called once with the reason when Telegram ended the session (staff must log in)."""

Sleep = Callable[[float], Awaitable[None]]

StaleCallback = Callable[[ManagerMessage, timedelta], Awaitable[None]]
"""Told about a manager message too old to fire funnels (with its age); records it."""

OwnSendLookup = Callable[[int, int], Awaitable[bool]]
"""``(chat id, message id)`` → whether the engine sent that message (its outbox)."""

_STATE_MARK = "_voronka_state"  # set on the last update of a batch (TL objects take attributes)


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


def _box_state(client: TelegramClient) -> UpdateState | None:
    """The account update state of Telethon's message box (private; guarded by a test)."""
    box = getattr(client, "_message_box", None)
    if box is None or box.is_empty():
        return None
    state, _channels = box.session_state()
    date = state["date"]
    epoch = int(date.timestamp()) if isinstance(date, datetime) else int(date)
    return UpdateState(int(state["pts"]), int(state["qts"]), epoch, int(state["seq"]))


class _MediaError(ValueError):
    pass


class _UnknownPeerError(ValueError):
    pass


def _media_file(source: str, media_root: Path | None = None) -> str:
    """An http(s) URL or an existing file; relative sources (uploaded media,
    ``media/<sha256>/<name>``) are looked up in the project's folder ``media_root``."""
    if source.startswith(("http://", "https://")):
        return source
    path = Path(source)
    if not path.is_absolute() and media_root is not None:
        path = media_root / path
    if path.is_file():
        return str(path)
    if not Path(source).is_absolute() and media_root is not None:
        raise _MediaError(f"media file not found: {source} (looked in {media_root})")
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
        state_store: UpdateStateStore | None = None,
        on_unauthorized: UnauthorizedCallback | None = None,
        reconnect_min: float = 1.0,
        reconnect_max: float = 300.0,
        sleep: Sleep = asyncio.sleep,
        own_sends: OwnSendLookup | None = None,
        media_root: Path | None = None,
        stale_after: timedelta | None = None,
        on_stale: StaleCallback | None = None,
    ) -> None:
        """``media_root``: the project's folder; relative media sources are found there.
        ``stale_after``: a manager message older than this (replayed by a catch-up after a
        long downtime) fires no funnels; ``on_stale`` records it instead (history, admins)."""
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
        self._store = state_store
        self._on_unauthorized = on_unauthorized
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._sleep = sleep
        self._own_sends = own_sends
        self._media_root = media_root
        self._stale_after = stale_after
        self._on_stale = on_stale

        self._client: TelegramClient | None = None
        self._sink: EventSink | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._saver: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._me: types.User | None = None
        self._state = ConnectorState.STOPPED
        self._last_event_at: datetime | None = None
        self._last_send_at: datetime | None = None
        self._last_error: str | None = None
        self._connected_at: datetime | None = None
        self._reconnects = 0
        # update state handed completely to the engine; saved by the saver task
        self._checkpoint: UpdateState | None = None
        self._saved: UpdateState | None = None
        self._checkpoint_frozen = False
        self._dirty = asyncio.Event()
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

    async def input_peer(self, user_id: int) -> types.TypeInputPeer:
        """The contact's input peer (loads the dialogs once in a while if unknown);
        ``ValueError`` if this account does not know the user or is not connected."""
        client = self._client
        if client is None or not client.is_connected():
            raise ConnectionError("the manager account is not connected")
        return await self._input_peer(client, user_id)

    @property
    def me(self) -> types.User | None:
        """The manager's own Telegram user, once started."""
        return self._me

    @property
    def checkpoint(self) -> UpdateState | None:
        """The update state up to which every update reached the engine."""
        return self._checkpoint

    async def start(self, sink: EventSink) -> None:
        if self._client is not None and self._client.is_connected():
            self._sink = sink
            return
        self._state = ConnectorState.STARTING
        self._stopping = False
        self._sink = sink
        try:
            if self._store is not None:
                self._checkpoint = self._saved = await self._store.load()
            await self._open()
        except ManagerAccountError as exc:
            self._fail(exc.state, str(exc))
            await self._disconnect_quietly()
            raise
        except Exception as exc:  # e.g. the update state could not be read
            self._fail(ConnectorState.FAILING, f"cannot start: {type(exc).__name__}: {exc}")
            await self._disconnect_quietly()
            raise
        if self._store is not None:
            self._saver = asyncio.create_task(self._save_loop(), name=f"state:{self._channel.key}")
        self._watcher = asyncio.create_task(self._supervise(), name=f"watch:{self._channel.key}")
        log.info(
            "%s: manager account started (Telegram user %s)",
            self._channel.key,
            self._me.id if self._me else "?",
        )

    async def _open(self) -> None:
        """A new client from the stored session and the checkpoint, connected."""
        self._ready.clear()
        self._checkpoint_frozen = False
        session = parse_session(self._session)
        checkpoint = self._checkpoint
        if checkpoint is not None:
            session.set_update_state(
                0,
                types.updates.State(
                    pts=checkpoint.pts,
                    qts=checkpoint.qts,
                    date=datetime.fromtimestamp(checkpoint.date, UTC),
                    seq=checkpoint.seq,
                    unread_count=0,
                ),
            )
        options = {**CLIENT_OPTIONS, "catch_up": checkpoint is not None}
        client = self._factory(session, self._api_id, self._api_hash.get_secret_value(), **options)
        self._track_batches(client)
        client.add_event_handler(self._on_new_message, events.NewMessage())
        self._client = client
        try:
            await self._connect(client)
        except Exception:
            await self._disconnect_quietly()
            raise
        if checkpoint is None and self._store is not None:
            # First run: everything from now on is caught up after a restart.
            try:
                self._advance(_box_state(client) or await self._current_state(client))
            except (errors.RPCError, OSError, ConnectionError, TimeoutError) as exc:
                log.warning("%s: no initial update state: %s", self._channel.key, exc)
        self._state = ConnectorState.RUNNING
        self._last_error = None
        self._connected_at = self._clock.now()
        self._ready.set()

    async def _current_state(self, client: TelegramClient) -> UpdateState:
        state = await client(functions.updates.GetStateRequest())
        return UpdateState(state.pts, state.qts, int(state.date.timestamp()), state.seq)

    def _track_batches(self, client: TelegramClient) -> None:
        """Move the checkpoint only past update batches that were dispatched completely.

        Telethon applies a batch (live updates or a getDifference result) to its message box
        before dispatching it, and with ``sequential_updates`` dispatches one update at a
        time, fetching the next batch only when the previous one is done. So the box's state
        right after a batch was applied becomes safe once the batch's last update has been
        dispatched (these two private hooks are guarded by a test)."""
        preprocess = client._preprocess_updates
        dispatch = client._dispatch_update

        async def preprocess_tracked(updates: Any, users: Any, chats: Any) -> Any:
            result = await preprocess(updates, users, chats)
            state = _box_state(client)
            if state is not None:
                if result:
                    setattr(result[-1], _STATE_MARK, state)
                else:
                    self._advance(state)
            return result

        async def dispatch_tracked(update: Any) -> None:
            await dispatch(update)
            state = getattr(update, _STATE_MARK, None)
            if isinstance(state, UpdateState):
                self._advance(state)

        client._preprocess_updates = preprocess_tracked
        client._dispatch_update = dispatch_tracked

    def _advance(self, state: UpdateState) -> None:
        if self._checkpoint_frozen or state.pts <= 0:
            return
        if self._checkpoint is not None and state.pts < self._checkpoint.pts:
            return
        if state != self._checkpoint:
            self._checkpoint = state
            self._dirty.set()

    async def _save_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._save_checkpoint()

    async def _save_checkpoint(self) -> None:
        state = self._checkpoint
        if self._store is None or state is None or state == self._saved:
            return
        try:
            await self._store.save(state)
        except Exception as exc:  # kept dirty: saved with the next change or at stop
            log.warning("%s: could not save the update state: %s", self._channel.key, exc)
            return
        self._saved = state

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
        for task in (self._watcher, self._saver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watcher = self._saver = None
        await self._disconnect_quietly()
        await self._save_checkpoint()
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

    def session_health(self) -> dict[str, Any]:
        """What ``/health`` shows beyond :meth:`health` for a manager account."""
        client = self._client
        return {
            "connected": bool(
                client is not None
                and client.is_connected()
                and self._state is ConnectorState.RUNNING
            ),
            "connected_since": self._connected_at.isoformat() if self._connected_at else None,
            "reconnects": self._reconnects,
            "telegram_user_id": self._me.id if self._me else None,
            "update_pts": self._checkpoint.pts if self._checkpoint else None,
            "needs_login": self._state is ConnectorState.UNAUTHORIZED,
        }

    # --- receiving -----------------------------------------------------------------------

    async def _on_new_message(self, event: events.NewMessage.Event) -> None:
        await self._ready.wait()  # catch-up may dispatch before start() knows who we are
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
        if message.out and (
            self._is_own_send(chat_id, message.id, text)
            or await self._was_sent_before(event, chat_id, message.id)
        ):
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
        if isinstance(engine_event, ManagerMessage) and await self._skipped_as_stale(engine_event):
            return
        sink = self._sink
        if sink is None:
            log.warning("%s: no sink; dropped %s", self._channel.key, engine_event.dedup_key)
            return
        try:
            await sink.submit(engine_event)
        except Exception as exc:
            # Not lost: the stored update state stays before it, so the next start (or
            # reconnect) fetches it again; the engine skips what it already handled.
            self._checkpoint_frozen = True
            self._last_error = f"event not accepted: {type(exc).__name__}: {exc}"
            log.exception(
                "%s: the engine did not accept %s", self._channel.key, engine_event.dedup_key
            )

    async def _skipped_as_stale(self, event: ManagerMessage) -> bool:
        """A phrase typed long ago (the engine was down) must not start funnels now: the
        moment has passed. It is recorded through ``on_stale`` so staff can act."""
        if self._stale_after is None:
            return False
        age = self._clock.now() - event.occurred_at
        if age <= self._stale_after:
            return False
        log.warning(
            "%s: manager message %s to %s was sent %.1f h ago (engine stopped); not a trigger",
            self._channel.key,
            event.message_id,
            event.contact.user_id,
            age.total_seconds() / 3600,
        )
        if self._on_stale is not None:
            try:
                await self._on_stale(event, age)
            except Exception as exc:  # replayed by the next start, like a refused submit
                self._checkpoint_frozen = True
                self._last_error = f"stale message not recorded: {type(exc).__name__}: {exc}"
                log.exception("%s: could not record a stale message", self._channel.key)
        return True

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

    async def _was_sent_before(
        self, event: events.NewMessage.Event, chat_id: int, message_id: int
    ) -> bool:
        """For outgoing messages fetched by getDifference (catch-up after a restart, when
        the in-memory list of own sends is gone): did the engine send it (outbox)?"""
        lookup = self._own_sends
        update = getattr(event, "original_update", None)
        if lookup is None or getattr(update, "pts", None) != 0:  # live: memory suffices
            return False
        try:
            return await lookup(chat_id, message_id)
        except Exception as exc:  # better a possible re-trigger than a lost manager message
            log.warning("%s: could not check own sends: %s", self._channel.key, exc)
            return False

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

    async def _supervise(self) -> None:
        """Watch the connection; reopen it with exponential back-off when it drops. A
        session Telegram ended is not retried: ``on_unauthorized`` is told once."""
        while not self._stopping:
            client = self._client
            if client is None:
                return
            reason = await self._wait_disconnected(client)
            if self._stopping:
                return
            await self._disconnect_quietly()
            if reason is None:  # the session was ended by Telegram
                await self._unauthorized()
                return
            self._fail(ConnectorState.FAILING, f"disconnected from Telegram: {reason}")
            delay = self._reconnect_min
            while not self._stopping:
                await self._sleep(delay)
                if self._stopping:
                    return
                try:
                    await self._open()
                except (SessionRevokedError, SessionInvalidError, ApiCredentialsError) as exc:
                    self._fail(exc.state, str(exc))
                    if not isinstance(exc, ApiCredentialsError):
                        await self._unauthorized()
                    return
                except Exception as exc:  # network, Telegram busy: try again later
                    self._fail(ConnectorState.FAILING, f"reconnecting: {exc}")
                    delay = min(delay * 2, self._reconnect_max)
                    continue
                self._reconnects += 1
                log.warning(
                    "%s: reconnected to Telegram (reconnect #%d)",
                    self._channel.key,
                    self._reconnects,
                )
                break

    async def _wait_disconnected(self, client: TelegramClient) -> str | None:
        """Why the client disconnected; None if Telegram ended the session."""
        error: BaseException | None = None
        try:
            await client.disconnected
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        # Telethon keeps why its update loop stopped in a private attribute.
        error = getattr(client, "_updates_error", None) or error
        if isinstance(error, (errors.UnauthorizedError, errors.AuthKeyError)):
            self._fail(
                ConnectorState.UNAUTHORIZED,
                f"Telegram ended this session ({type(error).__name__}); log in again",
            )
            return None
        return f"{type(error).__name__}: {error}" if error else "connection closed"

    async def _unauthorized(self) -> None:
        callback = self._on_unauthorized
        if callback is None:
            return
        try:
            await callback(self._last_error or "Telegram ended this session")
        except Exception:
            log.exception("%s: could not record that the session ended", self._channel.key)

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
            files = [(_media_file(m.source, self._media_root), m.kind) for m in message.media]
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
