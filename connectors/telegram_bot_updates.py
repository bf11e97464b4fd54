"""Telegram Bot API updates → engine events, for :mod:`connectors.telegram_bot`.

Pure functions over raw update dicts (as ``getUpdates`` or a webhook delivers them): each
update is validated on its own with aiogram's ``Update`` model, so one malformed update
cannot poison a whole batch. :func:`map_update` returns the event, or ``None`` with a reason
for updates the engine does not handle (edited messages, group chatter, bots…); it raises
:class:`BrokenUpdate` for an update that cannot be read at all.

Telegram Business: when a manager connects the bot to their account, ``business_connection``
updates name the account owner and ``business_message`` updates carry the account's private
chats. The owner's own messages become :class:`ManagerMessage`, the partner's
:class:`ContactMessage`; the contact is the chat partner (``chat``). Both go out on a
``manager_account`` :class:`ChannelRef` whose ``channel_id`` is the owner's Telegram user id
(ManagerMessage must come through a manager account). The engine knows channels by
*database* id, so a bot run by the daemon gets a :class:`BusinessRouter`
(:mod:`connectors.telegram_business`): :func:`prepare_business` loads a connection's owner
from the project database (connections are stored, so a restart keeps them),
:func:`route_business` stores connection changes and re-addresses a business event to the
project's manager-account channel of that owner — without the bot's ``update_id``, so the
event's dedup key is the account's own (contact, message id), the same as the Telethon
source gives for that message: a manager with both sources triggers once. An owner who is
no manager account of the project is a logged skip. Without a router, owners are
remembered in :data:`BUSINESS_CONNECTIONS` (in memory, per process) and a business message
of a connection not seen yet is skipped (no ``getBusinessConnection``).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Protocol

from aiogram.types import (
    BusinessConnection,
    CallbackQuery,
    ChatJoinRequest,
    ChatMemberUpdated,
    Message,
    Update,
    User,
)
from pydantic import ValidationError

from connectors.base import START_PAYLOAD_RE, start_event
from engine.events import (
    ButtonPress,
    ChannelKind,
    ChannelRef,
    ChatMemberChange,
    ContactIdentity,
    ContactMessage,
    Event,
    JoinRequest,
    ManagerMessage,
    MemberChange,
)

# What the connector asks Telegram for. chat_member is off by default at Telegram; we need
# it to see a contact join a private group/channel through a personal invite link.
ALLOWED_UPDATES = (
    "message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "business_connection",
    "business_message",
)

_PRESENT = frozenset({"member", "administrator", "creator", "restricted"})
_ABSENT = frozenset({"left", "kicked"})


class BusinessConnections:
    """business_connection_id → the connected account's owner (bounded, in memory)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._owners: OrderedDict[str, User] = OrderedDict()

    def remember(self, connection_id: str, owner: User) -> None:
        self._owners[connection_id] = owner
        self._owners.move_to_end(connection_id)
        while len(self._owners) > self._limit:
            self._owners.popitem(last=False)

    def forget(self, connection_id: str) -> None:
        self._owners.pop(connection_id, None)

    def owner(self, connection_id: str) -> User | None:
        return self._owners.get(connection_id)

    def clear(self) -> None:
        self._owners.clear()


# Connection ids are unique at Telegram, so one registry serves every bot of the process.
BUSINESS_CONNECTIONS = BusinessConnections()


class BusinessRouter(Protocol):
    """Where a bot's Telegram Business connections are kept and their owners resolved."""

    connections: BusinessConnections

    async def load(self, connection_id: str) -> None:
        """Put the stored owner of ``connection_id`` (if any) into ``connections``."""
        ...

    async def saved(self, connection: BusinessConnection) -> None:
        """Store a connection change (enabled or disabled)."""
        ...

    async def account(self, owner_user_id: int) -> ChannelRef | None:
        """The project's manager-account channel of this Telegram user, if any."""
        ...


async def prepare_business(router: BusinessRouter, raw: Any) -> None:
    """Before mapping: make the owner of a business message's connection known."""
    if not isinstance(raw, dict):
        return
    body = raw.get("business_message")
    if isinstance(body, dict):
        connection_id = body.get("business_connection_id")
        if isinstance(connection_id, str) and router.connections.owner(connection_id) is None:
            await router.load(connection_id)


async def route_business(
    router: BusinessRouter, bot: ChannelRef, raw: Any, event: Event | None, why: str
) -> tuple[Event | None, str]:
    """After mapping: store connection changes; address a business event to the owner's
    manager-account channel of the project (or skip it, saying why)."""
    if isinstance(raw, dict) and isinstance(raw.get("business_connection"), dict):
        update = parse_update(raw)
        if update.business_connection is not None:
            await router.saved(update.business_connection)
    if event is None or bot.kind is not ChannelKind.BOT:
        return event, why
    if event.channel.kind is not ChannelKind.MANAGER_ACCOUNT:
        return event, why
    owner_id = int(event.channel.channel_id)
    account = await router.account(owner_id)
    if account is None:
        return None, (
            f"business message from the account of Telegram user {owner_id}, which is not a "
            f"manager account of project {bot.project!r}"
        )
    return event.model_copy(update={"channel": account, "update_id": None}), ""


class BrokenUpdate(Exception):
    """The update lacks what its kind requires (no sender, no chat…); it is skipped."""


def update_id_of(raw: Any) -> int | None:
    """The ``update_id`` of a raw update, or None if even that is missing."""
    if isinstance(raw, dict):
        value = raw.get("update_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def contact_key(raw: Any) -> int | str | None:
    """The Telegram user the update is about (for per-contact ordering), if any.

    Business updates are ordered per business connection instead (``"business:<id>"``), so a
    ``business_connection`` is mapped before the messages that follow it in one batch."""
    if not isinstance(raw, dict):
        return None
    for kind, field in (
        ("business_connection", "id"),
        ("business_message", "business_connection_id"),
    ):
        body = raw.get(kind)
        if isinstance(body, dict) and isinstance(body.get(field), str):
            return f"business:{body[field]}"
    for kind in ALLOWED_UPDATES:
        body = raw.get(kind)
        if isinstance(body, dict):
            sender = body.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
            chat = body.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
    return None


def identity(user: User) -> ContactIdentity:
    return ContactIdentity(
        user_id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def parse_update(raw: Any) -> Update:
    if not isinstance(raw, dict):
        raise BrokenUpdate(f"an update must be a JSON object, got {type(raw).__name__}")
    try:
        return Update.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise BrokenUpdate(f"update does not match the Bot API schema ({fields})") from None


def map_update(
    channel: ChannelRef,
    raw: Any,
    *,
    now: datetime | None = None,
    business: BusinessConnections | None = None,
) -> tuple[Event | None, str]:
    """The engine event for a raw update, or ``(None, why it is ignored)``."""
    update = parse_update(raw)
    when = now or datetime.now(UTC)
    if update.message is not None:
        return _message(channel, update.update_id, update.message)
    if update.callback_query is not None:
        return _callback(channel, update.update_id, update.callback_query, when)
    if update.my_chat_member is not None:
        return _my_chat_member(channel, update.update_id, update.my_chat_member)
    if update.chat_member is not None:
        return _chat_member(channel, update.update_id, update.chat_member)
    if update.chat_join_request is not None:
        return _join_request(channel, update.update_id, update.chat_join_request)
    connections = business if business is not None else BUSINESS_CONNECTIONS
    if update.business_connection is not None:
        return _business_connection(connections, update.business_connection)
    if update.business_message is not None:
        return _business_message(channel, update.update_id, update.business_message, connections)
    kinds = sorted(k for k, v in raw.items() if k != "update_id" and v is not None)
    return None, f"update kind {', '.join(kinds) or 'empty'} is not handled"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _message(channel: ChannelRef, update_id: int, message: Message) -> tuple[Event | None, str]:
    if message.chat.type != "private":
        return None, f"message in a {message.chat.type} chat"
    sender = message.from_user
    if sender is None:
        raise BrokenUpdate("private message without a sender")
    if sender.is_bot:
        return None, "message from a bot"
    contact = identity(sender)
    occurred_at = _aware(message.date)
    text = message.text
    if text is not None and _is_start(text):
        _, _, rest = text.partition(" ")
        payload = rest.strip()
        return (
            start_event(
                channel,
                contact,
                payload if START_PAYLOAD_RE.fullmatch(payload) else None,
                message_id=message.message_id,
                occurred_at=occurred_at,
                update_id=update_id,
            ),
            "",
        )
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    # A photo/voice/sticker without text still counts as a reply (text is then the
    # caption, or empty) so "wait for any answer" nodes see it.
    return (
        ContactMessage(
            channel=channel,
            contact=contact,
            occurred_at=occurred_at,
            update_id=update_id,
            text=text if text is not None else (message.caption or ""),
            message_id=message.message_id,
            reply_to_message_id=reply_to,
        ),
        "",
    )


def _is_start(text: str) -> bool:
    command = text.split(maxsplit=1)[0] if text.strip() else ""
    return command == "/start" or command.startswith("/start@")


def _callback(
    channel: ChannelRef, update_id: int, query: CallbackQuery, now: datetime
) -> tuple[Event | None, str]:
    if query.data is None:
        return None, "callback query without data (game or inline message)"
    if query.message is None:
        return None, "callback query from an inline message"
    if query.message.chat.type != "private":
        return None, f"button pressed in a {query.message.chat.type} chat"
    return (
        ButtonPress(
            channel=channel,
            contact=identity(query.from_user),
            occurred_at=now,
            update_id=update_id,
            callback_data=query.data,
            message_id=query.message.message_id,
            callback_query_id=query.id,
        ),
        "",
    )


def _my_chat_member(
    channel: ChannelRef, update_id: int, change: ChatMemberUpdated
) -> tuple[Event | None, str]:
    if change.chat.type != "private":
        return None, f"the bot's own membership in a {change.chat.type} chat changed"
    old, new = change.old_chat_member.status, change.new_chat_member.status
    if new == "kicked":
        kind = MemberChange.BLOCKED
    elif old == "kicked" and new == "member":
        kind = MemberChange.UNBLOCKED
    else:
        return None, f"private chat member change {old} → {new}"
    return (
        ChatMemberChange(
            channel=channel,
            contact=identity(change.from_user),
            occurred_at=_aware(change.date),
            update_id=update_id,
            change=kind,
        ),
        "",
    )


def _chat_member(
    channel: ChannelRef, update_id: int, change: ChatMemberUpdated
) -> tuple[Event | None, str]:
    if change.chat.type == "private":
        return None, "chat_member update in a private chat"
    member = change.new_chat_member.user
    if member.is_bot:
        return None, "a bot joined or left"
    old, new = change.old_chat_member.status, change.new_chat_member.status
    if old in _ABSENT and new in _PRESENT:
        kind = MemberChange.JOINED
    elif old in _PRESENT and new in _ABSENT:
        kind = MemberChange.LEFT
    else:
        return None, f"member status change {old} → {new}"
    return (
        ChatMemberChange(
            channel=channel,
            contact=identity(member),
            occurred_at=_aware(change.date),
            update_id=update_id,
            change=kind,
            chat_id=change.chat.id,
            invite_link=change.invite_link.invite_link if change.invite_link else None,
        ),
        "",
    )


def _join_request(
    channel: ChannelRef, update_id: int, request: ChatJoinRequest
) -> tuple[Event | None, str]:
    return (
        JoinRequest(
            channel=channel,
            contact=identity(request.from_user),
            occurred_at=_aware(request.date),
            update_id=update_id,
            chat_id=request.chat.id,
            invite_link=request.invite_link.invite_link if request.invite_link else None,
        ),
        "",
    )


def _business_connection(
    connections: BusinessConnections, connection: BusinessConnection
) -> tuple[Event | None, str]:
    if connection.is_enabled:
        connections.remember(connection.id, connection.user)
        return None, f"business connection {connection.id} of user {connection.user.id} enabled"
    connections.forget(connection.id)
    return None, f"business connection {connection.id} of user {connection.user.id} disabled"


def _business_message(
    channel: ChannelRef, update_id: int, message: Message, connections: BusinessConnections
) -> tuple[Event | None, str]:
    connection_id = message.business_connection_id
    if connection_id is None:
        raise BrokenUpdate("business message without a business_connection_id")
    owner = connections.owner(connection_id)
    if owner is None:
        return None, f"business message of unknown connection {connection_id}"
    if message.chat.type != "private":
        return None, f"business message in a {message.chat.type} chat"
    sender = message.from_user
    if sender is None:
        raise BrokenUpdate("business message without a sender")
    if message.sender_business_bot is not None:
        return None, "business message sent by a bot on the owner's behalf"
    account = ChannelRef(
        project=channel.project,
        kind=ChannelKind.MANAGER_ACCOUNT,
        channel_id=str(owner.id),
        name=owner.username or owner.first_name or str(owner.id),
    )
    text = message.text if message.text is not None else (message.caption or "")
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    occurred_at = _aware(message.date)
    if sender.id == owner.id:
        chat = message.chat
        if chat.id == owner.id:
            return None, "business message in the owner's own chat"
        contact = ContactIdentity(
            user_id=chat.id,
            first_name=chat.first_name or "",
            last_name=chat.last_name,
            username=chat.username,
        )
        return (
            ManagerMessage(
                channel=account,
                contact=contact,
                occurred_at=occurred_at,
                update_id=update_id,
                text=text,
                message_id=message.message_id,
                reply_to_message_id=reply_to,
            ),
            "",
        )
    if sender.is_bot:
        return None, "business message from a bot"
    return (
        ContactMessage(
            channel=account,
            contact=identity(sender),
            occurred_at=occurred_at,
            update_id=update_id,
            text=text,
            message_id=message.message_id,
            reply_to_message_id=reply_to,
        ),
        "",
    )


def invite_link_of(raw: Any) -> str | None:
    """The invite link a chat_member / chat_join_request update was made through."""
    if not isinstance(raw, dict):
        return None
    for kind in ("chat_member", "chat_join_request"):
        body = raw.get(kind)
        if isinstance(body, dict):
            link = body.get("invite_link")
            if isinstance(link, dict) and isinstance(link.get("invite_link"), str):
                return str(link["invite_link"])
    return None
