"""What happens to the engine: typed, immutable events from connectors, timers and staff.

Every event names the channel it came through (:class:`ChannelRef`) and the contact's
Telegram identity (:class:`ContactIdentity`); the engine handles events one contact at a
time. ``dedup_key`` identifies a delivery so a redelivered update (polling restart, webhook
retry, engine crash before commit) is handled once: it uses the Telegram ``update_id``
where the source has one, else the source's own unique id (message id in that chat,
callback query id, run version, staff action id).

``dump_event``/``parse_event`` round-trip events through JSON-able dicts for durable queues.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator


class ChannelKind(StrEnum):
    BOT = "bot"
    MANAGER_ACCOUNT = "manager_account"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelRef(_Frozen):
    """A bot or a manager account of a project.

    ``channel_id`` is stable within the project (the bot's or account's Telegram user id
    as text, or our database id); ``name`` is for people (bot username, manager's name).
    """

    project: str
    kind: ChannelKind
    channel_id: str
    name: str = ""

    @property
    def key(self) -> str:
        """Unique across projects; used for rate limits, dedup and logs."""
        return f"{self.project}/{self.kind.value}/{self.channel_id}"

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name or self.channel_id} ({self.project})"


class ContactIdentity(_Frozen):
    """Who the contact is on Telegram; one user id is one contact per project (R12)."""

    user_id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or (f"@{self.username}" if self.username else str(self.user_id))


class _EventBase(_Frozen):
    channel: ChannelRef
    contact: ContactIdentity
    occurred_at: AwareDatetime
    update_id: int | None = None  # Telegram's, where the source has one

    def _natural_key(self) -> str:
        raise NotImplementedError

    @property
    def kind(self) -> str:
        return str(getattr(self, "type"))  # noqa: B009 — the discriminator of each subclass

    @property
    def dedup_key(self) -> str:
        if self.update_id is not None:
            return f"{self.channel.key}|u{self.update_id}"
        return f"{self.channel.key}|{self.kind}|{self._natural_key()}"


class ContactMessage(_EventBase):
    """The contact wrote to a bot or to a manager's account."""

    type: Literal["contact_message"] = "contact_message"
    text: str
    message_id: int
    reply_to_message_id: int | None = None

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.message_id}"


class ManagerMessage(_EventBase):
    """A manager wrote to the contact from their own account (outgoing, private chat; R1.1)."""

    type: Literal["manager_message"] = "manager_message"
    text: str
    message_id: int
    reply_to_message_id: int | None = None

    @model_validator(mode="after")
    def _from_account(self) -> ManagerMessage:
        if self.channel.kind is not ChannelKind.MANAGER_ACCOUNT:
            raise ValueError("a manager message comes through a manager account channel")
        return self

    @property
    def account(self) -> ChannelRef:
        return self.channel

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.message_id}"


class Start(_EventBase):
    """``/start`` in a bot, with the deep-link payload (traffic source) if any (R1.4)."""

    type: Literal["start"] = "start"
    payload: str | None = None
    message_id: int

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.message_id}"


class PersonalLinkArrival(_EventBase):
    """The contact opened a personal link (``/start`` with a personal token; R8)."""

    type: Literal["personal_link_arrival"] = "personal_link_arrival"
    token: str
    message_id: int

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.message_id}"


class ButtonPress(_EventBase):
    """The contact pressed an inline button of a message."""

    type: Literal["button_press"] = "button_press"
    callback_data: str
    message_id: int
    callback_query_id: str

    def _natural_key(self) -> str:
        return self.callback_query_id


class MemberChange(StrEnum):
    BLOCKED = "blocked"  # blocked the bot (or deleted the chat with it)
    UNBLOCKED = "unblocked"
    LEFT = "left"  # left a group or channel
    JOINED = "joined"


class ChatMemberChange(_EventBase):
    """The contact blocked/unblocked a bot, or left/joined a group the channel watches."""

    type: Literal["chat_member_change"] = "chat_member_change"
    change: MemberChange
    chat_id: int | None = None  # the group/channel; None for the private chat with a bot
    invite_link: str | None = None  # the link a join came through (one-person personal links)

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.chat_id}:{self.change.value}:{self.occurred_at.isoformat()}"


class JoinRequest(_EventBase):
    """The contact asked to join a group or channel through an invite link."""

    type: Literal["join_request"] = "join_request"
    chat_id: int
    invite_link: str | None = None

    def _natural_key(self) -> str:
        return f"{self.contact.user_id}:{self.chat_id}:{self.occurred_at.isoformat()}"


class TimerDue(_EventBase):
    """A run's delay ended. Fires only if the run is still at ``expected_version``.

    The version makes a stale timer (the contact replied meanwhile, staff moved them) a
    no-op by compare-and-set instead of a second step.
    """

    type: Literal["timer_due"] = "timer_due"
    run_id: str
    expected_version: int

    def _natural_key(self) -> str:
        return f"{self.run_id}:{self.expected_version}"


class StaffAction(_EventBase):
    """Someone on the team acted on the contact by hand (move to a step, stop, undo; R5, R10)."""

    type: Literal["staff_action"] = "staff_action"
    staff_user: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    action_id: str = Field(default_factory=lambda: uuid.uuid4().hex)

    def _natural_key(self) -> str:
        return self.action_id


Event = Annotated[
    ContactMessage
    | ManagerMessage
    | Start
    | PersonalLinkArrival
    | ButtonPress
    | ChatMemberChange
    | JoinRequest
    | TimerDue
    | StaffAction,
    Field(discriminator="type"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def dump_event(event: Event) -> dict[str, Any]:
    """A JSON-able dict (datetimes as ISO strings) that :func:`parse_event` reads back."""
    return event.model_dump(mode="json")


def parse_event(data: dict[str, Any]) -> Event:
    """Rebuild an event from :func:`dump_event`'s output; raises ``ValidationError``."""
    return _EVENT_ADAPTER.validate_python(data)


def dump_event_json(event: Event) -> str:
    return event.model_dump_json()


def parse_event_json(text: str) -> Event:
    return _EVENT_ADAPTER.validate_json(text)
