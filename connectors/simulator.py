"""An in-process Telegram for tests and ``python main.py simulate``.

:class:`SimulatedTelegram` is the world: bots and manager accounts (each a
:class:`SimulatedConnector` implementing :class:`connectors.base.Connector`), contacts,
and per-channel, per-chat transcripts stamped by the injected clock. Tests and scenario
steps act as contacts and managers (``contact_says``, ``contact_starts``, ``manager_says``,
``press_button``, ``opens_link``, ``contact_blocks``) and read what each contact got.

It behaves like Telegram where that matters to the engine: a bot cannot write first to
someone who never started it, a blocked bot gets "blocked" errors, message ids grow per
chat, bot updates carry update ids, and sending the same outbox row twice is delivered
twice (and reported in ``duplicate_sends``). ``fail_next`` injects send failures.
Messages the engine sends through a manager account produce no ``ManagerMessage`` event
(Telethon does not report a client's own sends), so the engine cannot trigger itself.
"""

from __future__ import annotations

import itertools
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qs, urlparse

from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    InlineButton,
    Media,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
    personal_link,
    start_event,
)
from engine.clock import Clock
from engine.events import (
    ButtonPress,
    ChannelKind,
    ChannelRef,
    ChatMemberChange,
    ContactIdentity,
    ContactMessage,
    Event,
    ManagerMessage,
    MemberChange,
    PersonalLinkArrival,
    Start,
)


class SimulatorError(Exception):
    """A scripted action is impossible (unknown channel, no such button, not started)."""


class Direction(StrEnum):
    TO_CONTACT = "to_contact"  # sent by the engine through the channel
    FROM_CONTACT = "from_contact"  # the contact wrote, started or pressed
    FROM_MANAGER = "from_manager"  # a manager typed by hand in their account


@dataclass(frozen=True)
class TranscriptEntry:
    at: datetime
    channel: ChannelRef
    chat_id: int
    direction: Direction
    text: str
    message_id: int
    buttons: tuple[tuple[InlineButton, ...], ...] = ()
    reply_keyboard: tuple[tuple[str, ...], ...] | None = None
    remove_keyboard: bool = False
    media: tuple[Media, ...] = ()
    protect_content: bool = False
    idempotency_key: str | None = None

    def button_texts(self) -> list[str]:
        return [b.text for row in self.buttons for b in row]


@dataclass(frozen=True)
class Fault:
    kind: SendErrorKind
    description: str = ""
    retry_after: float | None = None
    maybe_delivered: bool = False


class SimulatedConnector(Connector):
    """One simulated bot or manager account; created by :class:`SimulatedTelegram`."""

    def __init__(self, world: SimulatedTelegram, channel: ChannelRef, username: str) -> None:
        self._world = world
        self._channel = channel
        self.username = username
        self.sink: EventSink | None = None
        self._state = ConnectorState.STOPPED
        self._last_event_at: datetime | None = None
        self._last_send_at: datetime | None = None
        self._last_error: str | None = None
        self.faults: deque[Fault] = deque()
        self.answered: list[tuple[str, str | None, bool]] = []

    @property
    def channel(self) -> ChannelRef:
        return self._channel

    @property
    def is_bot(self) -> bool:
        return self._channel.kind is ChannelKind.BOT

    async def start(self, sink: EventSink) -> None:
        self.sink = sink
        self._state = ConnectorState.RUNNING

    async def stop(self) -> None:
        self.sink = None
        self._state = ConnectorState.STOPPED

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != self._channel:
            raise SimulatorError(f"{message.channel} message given to {self._channel}")
        result = self._world._deliver(self, message)
        self._last_send_at = self._world.clock.now()
        self._last_error = None if result.ok or result.error is None else result.error.kind
        return result

    async def create_personal_link(self, token: str) -> str:
        if not self.is_bot:
            raise ConnectorError("personal links lead into a bot, not a manager account")
        return personal_link(self.username, token)

    async def create_personal_invite_link(
        self,
        token: str,
        chat_id: int,
        *,
        expire_in: timedelta = timedelta(days=1),
        join_request: bool = False,
    ) -> str:
        """A fake one-person invite link (``https://t.me/+sim…``) to ``chat_id``, like
        :meth:`connectors.telegram_bot.TelegramBotConnector.create_personal_invite_link`;
        follow it with :meth:`SimulatedTelegram.joins_via_invite_link`."""
        if not self.is_bot:
            raise ConnectorError(
                f"{self._channel}: only a bot that administers chat {chat_id} can make an "
                "invite link to it, not a manager account"
            )
        link = f"https://t.me/+sim{secrets.token_urlsafe(9)}"
        self._world.invite_links[link] = SimulatedInviteLink(
            link, self, chat_id, token, self._world.clock.now() + expire_in
        )
        return link

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        self.answered.append((callback_query_id, text, show_alert))

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(
            channel=self._channel,
            state=self._state,
            last_event_at=self._last_event_at,
            last_send_at=self._last_send_at,
            last_error=self._last_error,
        )

    async def _emit(self, event: Event) -> None:
        if self.sink is None:
            raise SimulatorError(f"{self._channel} is not started — nothing receives its events")
        self._last_event_at = event.occurred_at
        await self.sink.submit(event)


@dataclass
class SimulatedInviteLink:
    """A one-person invite link made by a simulated bot (member limit 1)."""

    link: str
    creator: SimulatedConnector
    chat_id: int
    token: str
    expires_at: datetime
    joined: list[int] | None = None


class SimulatedTelegram:
    """The simulated world shared by every simulated channel of one project."""

    def __init__(self, clock: Clock, project: str = "sim") -> None:
        self.clock = clock
        self.project = project
        self._connectors: dict[str, SimulatedConnector] = {}  # by channel key
        self._contacts: dict[int, ContactIdentity] = {}
        self._transcripts: dict[tuple[str, int], list[TranscriptEntry]] = defaultdict(list)
        self._message_ids: dict[tuple[str, int], itertools.count[int]] = {}
        self._update_ids: dict[str, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._ids = itertools.count(1_000_000_001)
        self._started: set[tuple[str, int]] = set()  # (bot key, user) that may be written to
        self._blocked: set[tuple[str, int]] = set()
        self._sent_keys: set[str] = set()
        self.duplicate_sends: list[OutgoingMessage] = []
        self.invite_links: dict[str, SimulatedInviteLink] = {}

    # --- setting up -------------------------------------------------------------------

    def add_bot(self, username: str, channel_id: str | None = None) -> SimulatedConnector:
        username = username.lstrip("@")
        ref = ChannelRef(
            project=self.project,
            kind=ChannelKind.BOT,
            channel_id=channel_id or str(next(self._ids)),
            name=username,
        )
        return self._add(ref, username)

    def add_manager_account(self, name: str, channel_id: str | None = None) -> SimulatedConnector:
        ref = ChannelRef(
            project=self.project,
            kind=ChannelKind.MANAGER_ACCOUNT,
            channel_id=channel_id or str(next(self._ids)),
            name=name,
        )
        return self._add(ref, name)

    def add_contact(self, contact: ContactIdentity) -> ContactIdentity:
        self._contacts[contact.user_id] = contact
        return contact

    def connector(self, channel: ChannelRef | str) -> SimulatedConnector:
        """Find a channel by reference, key, channel id, bot username or account name."""
        if isinstance(channel, ChannelRef):
            channel = channel.key
        name = channel.lstrip("@")
        for conn in self._connectors.values():
            if name in (conn.channel.key, conn.channel.channel_id, conn.username):
                return conn
        known = ", ".join(c.username for c in self._connectors.values()) or "none"
        raise SimulatorError(f"no simulated channel {channel!r} (known: {known})")

    @property
    def connectors(self) -> list[SimulatedConnector]:
        return list(self._connectors.values())

    # --- reading what happened ----------------------------------------------------------

    def transcript(
        self, channel: ChannelRef | str, user: ContactIdentity | int
    ) -> list[TranscriptEntry]:
        """Everything in the chat between ``user`` and the channel, oldest first."""
        key = self.connector(channel).channel.key
        return list(self._transcripts.get((key, self._contact(user).user_id), ()))

    def received(
        self, channel: ChannelRef | str, user: ContactIdentity | int
    ) -> list[TranscriptEntry]:
        """Only what the engine sent to ``user`` through the channel."""
        return [e for e in self.transcript(channel, user) if e.direction is Direction.TO_CONTACT]

    # --- acting as contacts and managers --------------------------------------------------

    async def contact_says(
        self,
        channel: ChannelRef | str,
        user: ContactIdentity | int,
        text: str,
        reply_to_message_id: int | None = None,
    ) -> ContactMessage:
        conn, contact = self.connector(channel), self._contact(user)
        entry = self._record(conn, contact.user_id, Direction.FROM_CONTACT, text)
        self._started.add((conn.channel.key, contact.user_id))
        event = ContactMessage(
            channel=conn.channel,
            contact=contact,
            occurred_at=entry.at,
            update_id=self._next_update_id(conn),
            text=text,
            message_id=entry.message_id,
            reply_to_message_id=reply_to_message_id,
        )
        await conn._emit(event)
        return event

    async def contact_starts(
        self, channel: ChannelRef | str, user: ContactIdentity | int, payload: str | None = None
    ) -> Start | PersonalLinkArrival:
        conn, contact = self.connector(channel), self._contact(user)
        if not conn.is_bot:
            raise SimulatorError(f"/start is sent to bots, not to {conn.channel}")
        text = f"/start {payload}" if payload else "/start"
        entry = self._record(conn, contact.user_id, Direction.FROM_CONTACT, text)
        self._started.add((conn.channel.key, contact.user_id))
        self._blocked.discard((conn.channel.key, contact.user_id))
        event = start_event(
            conn.channel,
            contact,
            payload,
            message_id=entry.message_id,
            occurred_at=entry.at,
            update_id=self._next_update_id(conn),
        )
        await conn._emit(event)
        return event

    async def opens_link(
        self, user: ContactIdentity | int, url: str
    ) -> Start | PersonalLinkArrival:
        """Follow a ``https://t.me/<bot>?start=<payload>`` link as ``user``."""
        parsed = urlparse(url)
        if parsed.netloc not in ("t.me", "telegram.me") or not parsed.path.strip("/"):
            raise SimulatorError(f"{url!r} is not a Telegram bot link")
        payload = parse_qs(parsed.query).get("start", [None])[0]
        return await self.contact_starts(parsed.path.strip("/"), user, payload)

    async def joins_via_invite_link(
        self, user: ContactIdentity | int, url: str
    ) -> ChatMemberChange:
        """``user`` joins the private group/channel of a one-person invite link; its
        creator bot reports the join (Telegram's member limit 1 and expiry enforced)."""
        link = self.invite_links.get(url)
        if link is None:
            raise SimulatorError(f"{url!r} is not an invite link made in this simulation")
        contact = self._contact(user)
        if link.expires_at <= self.clock.now():
            raise SimulatorError(f"invite link {url} has expired")
        if link.joined:
            raise SimulatorError(f"invite link {url} was already used (member limit 1)")
        link.joined = [contact.user_id]
        event = ChatMemberChange(
            channel=link.creator.channel,
            contact=contact,
            occurred_at=self.clock.now(),
            update_id=self._next_update_id(link.creator),
            change=MemberChange.JOINED,
            chat_id=link.chat_id,
            invite_link=url,
        )
        await link.creator._emit(event)
        return event

    async def manager_says(
        self, account: ChannelRef | str, user: ContactIdentity | int, text: str
    ) -> ManagerMessage:
        conn, contact = self.connector(account), self._contact(user)
        if conn.is_bot:
            raise SimulatorError(f"managers write from a manager account, not from {conn.channel}")
        entry = self._record(conn, contact.user_id, Direction.FROM_MANAGER, text)
        event = ManagerMessage(
            channel=conn.channel,
            contact=contact,
            occurred_at=entry.at,
            text=text,
            message_id=entry.message_id,
        )
        await conn._emit(event)
        return event

    async def press_button(
        self, channel: ChannelRef | str, user: ContactIdentity | int, button: str
    ) -> Event | None:
        """Press the newest inline button whose text or callback data is ``button``; else a
        reply-keyboard button with that text (which sends it as a message). A URL button
        to a t.me bot link opens that bot; another URL opens a web page (returns None)."""
        conn, contact = self.connector(channel), self._contact(user)
        received = self.received(conn.channel, contact)
        for entry in reversed(received):
            for b in (b for row in entry.buttons for b in row):
                if button not in (b.text, b.callback_data):
                    continue
                if b.url is not None:
                    if urlparse(b.url).netloc in ("t.me", "telegram.me"):
                        return await self.opens_link(contact, b.url)
                    return None
                assert b.callback_data is not None
                event = ButtonPress(
                    channel=conn.channel,
                    contact=contact,
                    occurred_at=self.clock.now(),
                    update_id=self._next_update_id(conn),
                    callback_data=b.callback_data,
                    message_id=entry.message_id,
                    callback_query_id=str(next(self._callback_ids)),
                )
                await conn._emit(event)
                return event
        keyboard = self._reply_keyboard(received)
        if button in keyboard:
            return await self.contact_says(conn.channel, contact, button)
        offered = sorted({t for e in received for t in e.button_texts()} | set(keyboard))
        raise SimulatorError(
            f"{contact.display_name} sees no button {button!r} in {conn.channel.name}"
            f" (buttons: {', '.join(offered) or 'none'})"
        )

    async def contact_blocks(self, channel: ChannelRef | str, user: ContactIdentity | int) -> None:
        await self._member_change(channel, user, MemberChange.BLOCKED)

    async def contact_unblocks(
        self, channel: ChannelRef | str, user: ContactIdentity | int
    ) -> None:
        await self._member_change(channel, user, MemberChange.UNBLOCKED)

    def fail_next(
        self,
        channel: ChannelRef | str,
        kind: SendErrorKind,
        *,
        times: int = 1,
        description: str = "",
        retry_after: float | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        """Make the channel's next ``times`` sends fail with ``kind``. With
        ``maybe_delivered`` (network only) the message arrives although the send fails."""
        if kind is SendErrorKind.RETRY_AFTER and retry_after is None:
            retry_after = 1.0
        fault = Fault(kind, description or f"simulated {kind.value}", retry_after, maybe_delivered)
        self.connector(channel).faults.extend([fault] * times)

    # --- internals --------------------------------------------------------------------

    def _add(self, ref: ChannelRef, username: str) -> SimulatedConnector:
        if any(c.username == username for c in self._connectors.values()):
            raise SimulatorError(f"channel {username!r} already exists")
        conn = SimulatedConnector(self, ref, username)
        self._connectors[ref.key] = conn
        return conn

    def _contact(self, user: ContactIdentity | int) -> ContactIdentity:
        if isinstance(user, ContactIdentity):
            return self._contacts.setdefault(user.user_id, user)
        return self._contacts.get(user) or self.add_contact(ContactIdentity(user_id=user))

    def _next_update_id(self, conn: SimulatedConnector) -> int | None:
        if not conn.is_bot:
            return None  # user sessions have no Bot API update ids
        counter = self._update_ids.setdefault(conn.channel.key, itertools.count(1))
        return next(counter)

    def _record(
        self,
        conn: SimulatedConnector,
        chat_id: int,
        direction: Direction,
        text: str,
        message: OutgoingMessage | None = None,
    ) -> TranscriptEntry:
        key = (conn.channel.key, chat_id)
        counter = self._message_ids.setdefault(key, itertools.count(1))
        entry = TranscriptEntry(
            at=self.clock.now(),
            channel=conn.channel,
            chat_id=chat_id,
            direction=direction,
            text=text,
            message_id=next(counter),
            buttons=message.inline_buttons if message else (),
            reply_keyboard=message.reply_keyboard if message else None,
            remove_keyboard=message.remove_keyboard if message else False,
            media=message.media if message else (),
            protect_content=message.protect_content if message else False,
            idempotency_key=message.idempotency_key if message else None,
        )
        self._transcripts[key].append(entry)
        return entry

    def _deliver(self, conn: SimulatedConnector, message: OutgoingMessage) -> SendResult:
        pair = (conn.channel.key, message.chat_id)
        fault = conn.faults.popleft() if conn.faults else None
        if fault is not None and not fault.maybe_delivered:
            return SendResult.failure(fault.kind, fault.description, retry_after=fault.retry_after)
        if conn.is_bot and pair in self._blocked:
            return SendResult.failure(
                SendErrorKind.BLOCKED, "Forbidden: bot was blocked by the user"
            )
        if conn.is_bot and message.chat_id > 0 and pair not in self._started:
            return SendResult.failure(
                SendErrorKind.BLOCKED, "Forbidden: bot can't initiate conversation with a user"
            )
        if message.idempotency_key in self._sent_keys:
            self.duplicate_sends.append(message)
        self._sent_keys.add(message.idempotency_key)
        entry = self._record(conn, message.chat_id, Direction.TO_CONTACT, message.text, message)
        if fault is not None:  # delivered, but the answer was lost
            return SendResult.failure(fault.kind, fault.description, maybe_delivered=True)
        return SendResult.success(entry.message_id)

    @staticmethod
    def _reply_keyboard(received: list[TranscriptEntry]) -> list[str]:
        for entry in reversed(received):
            if entry.remove_keyboard:
                return []
            if entry.reply_keyboard is not None:
                return [text for row in entry.reply_keyboard for text in row]
        return []

    async def _member_change(
        self, channel: ChannelRef | str, user: ContactIdentity | int, change: MemberChange
    ) -> None:
        conn, contact = self.connector(channel), self._contact(user)
        if not conn.is_bot:
            raise SimulatorError("only a bot can be blocked in the simulator")
        pair = (conn.channel.key, contact.user_id)
        if change is MemberChange.BLOCKED:
            self._blocked.add(pair)
        else:
            self._blocked.discard(pair)
        await conn._emit(
            ChatMemberChange(
                channel=conn.channel,
                contact=contact,
                occurred_at=self.clock.now(),
                update_id=self._next_update_id(conn),
                change=change,
            )
        )
