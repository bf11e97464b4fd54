"""The interface between the engine and the outside world (bots, manager accounts, simulator).

The engine hands a connector :class:`OutgoingMessage` objects and gets :class:`SendResult`
back; a started connector pushes :mod:`engine.events` into an :class:`EventSink`. Nothing
here imports aiogram or Telethon, so the engine, the simulator and the tests depend on this
module alone. Send failures are *values* (:class:`SendError`) with a closed set of kinds,
because the outbox must decide per kind: wait (retry_after), give up on the contact
(blocked), fix the funnel (bad_request), retry (server_error), or mark the row uncertain
instead of sending twice (network with ``maybe_delivered``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from engine.events import (
    ChannelRef,
    ContactIdentity,
    Event,
    PersonalLinkArrival,
    Start,
)

# Telegram's limits for a deep-link payload and for inline-button callback data.
START_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALLBACK_DATA_MAX_BYTES = 64
# /start payloads with this prefix are personal-link tokens (R8); others are traffic sources.
PERSONAL_LINK_PREFIX = "pl-"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    ANIMATION = "animation"
    DOCUMENT = "document"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO_NOTE = "video_note"


class Media(_Frozen):
    """A file to send: a Telegram ``file_id``, an URL, or a path in the project's media store."""

    kind: MediaKind
    source: str = Field(min_length=1)


class InlineButton(_Frozen):
    """A button under a message: exactly one of ``callback_data`` (pressing sends an
    event) or ``url`` (opens a link)."""

    text: str = Field(min_length=1)
    callback_data: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> InlineButton:
        if (self.callback_data is None) == (self.url is None):
            raise ValueError(f"button {self.text!r} needs exactly one of callback_data or url")
        if self.callback_data is not None:
            size = len(self.callback_data.encode())
            if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
                raise ValueError(
                    f"button {self.text!r}: callback_data must be 1–{CALLBACK_DATA_MAX_BYTES} "
                    f"bytes, got {size}"
                )
        return self


class OutgoingMessage(_Frozen):
    """One message to one chat, as the outbox stores it (JSON-able).

    ``idempotency_key`` is the outbox row's identity. Telegram itself does not
    de-duplicate, so the engine must never send one key twice; the simulator reports
    any repeat so tests catch it.
    """

    channel: ChannelRef
    chat_id: int
    text: str = ""  # Telegram HTML; the caption when there is media
    media: tuple[Media, ...] = ()
    inline_buttons: tuple[tuple[InlineButton, ...], ...] = ()  # rows of buttons
    reply_keyboard: tuple[tuple[str, ...], ...] | None = None  # rows of button texts
    remove_keyboard: bool = False
    protect_content: bool = False
    disable_link_preview: bool = False
    idempotency_key: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> OutgoingMessage:
        if not self.text and not self.media:
            raise ValueError("a message needs text or media")
        if self.reply_keyboard is not None and self.remove_keyboard:
            raise ValueError("a message cannot both show and remove the reply keyboard")
        if self.inline_buttons and self.reply_keyboard is not None:
            raise ValueError("Telegram allows inline buttons or a reply keyboard, not both")
        return self

    def buttons_flat(self) -> list[InlineButton]:
        return [button for row in self.inline_buttons for button in row]


class SendErrorKind(StrEnum):
    RETRY_AFTER = "retry_after"  # 429: wait ``retry_after`` seconds, then retry
    BLOCKED = "blocked"  # the contact blocked the bot / deactivated; do not retry
    BAD_REQUEST = "bad_request"  # our message is wrong (markup, too long); do not retry
    SERVER_ERROR = "server_error"  # Telegram 5xx; retry later
    NETWORK = "network"  # no answer; delivered or not is unknown if ``maybe_delivered``
    UNAUTHORIZED = "unauthorized"  # bot token revoked / session logged out; stop the channel


class SendError(_Frozen):
    kind: SendErrorKind
    description: str = ""
    retry_after: float | None = None
    maybe_delivered: bool = False

    @model_validator(mode="after")
    def _fields_match_kind(self) -> SendError:
        if (self.kind is SendErrorKind.RETRY_AFTER) != (self.retry_after is not None):
            raise ValueError("retry_after is given exactly for the retry_after kind")
        if self.maybe_delivered and self.kind is not SendErrorKind.NETWORK:
            raise ValueError("only a network error can leave delivery unknown")
        return self

    @property
    def retryable(self) -> bool:
        """Whether sending the same message again later may succeed without a change."""
        return self.kind in (
            SendErrorKind.RETRY_AFTER,
            SendErrorKind.SERVER_ERROR,
            SendErrorKind.NETWORK,
        )


class SendResult(_Frozen):
    """``ok`` with Telegram's ``message_id``, or not ok with an ``error``."""

    ok: bool
    message_id: int | None = None
    error: SendError | None = None

    @model_validator(mode="after")
    def _ok_xor_error(self) -> SendResult:
        if self.ok != (self.message_id is not None) or self.ok == (self.error is not None):
            raise ValueError("a send result is ok with a message id, or an error")
        return self

    @classmethod
    def success(cls, message_id: int) -> SendResult:
        return cls(ok=True, message_id=message_id)

    @classmethod
    def failure(
        cls,
        kind: SendErrorKind,
        description: str = "",
        *,
        retry_after: float | None = None,
        maybe_delivered: bool = False,
    ) -> SendResult:
        error = SendError(
            kind=kind,
            description=description,
            retry_after=retry_after,
            maybe_delivered=maybe_delivered,
        )
        return cls(ok=False, error=error)


class ConnectorState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FAILING = "failing"  # running but its last calls failed (network, server)
    UNAUTHORIZED = "unauthorized"  # token revoked / session ended: staff must act


class ConnectorHealth(_Frozen):
    channel: ChannelRef
    state: ConnectorState
    last_event_at: AwareDatetime | None = None
    last_send_at: AwareDatetime | None = None
    last_error: str | None = None


@runtime_checkable
class EventSink(Protocol):
    """Where a connector delivers events; returns once the event is durably accepted."""

    async def submit(self, event: Event) -> None: ...


class ConnectorError(Exception):
    """A connector cannot do what was asked (e.g. personal links on a manager account)."""


class Connector(ABC):
    """One channel (bot or manager account) of one project, as the engine sees it."""

    @property
    @abstractmethod
    def channel(self) -> ChannelRef: ...

    @abstractmethod
    async def start(self, sink: EventSink) -> None:
        """Begin receiving updates and push them to ``sink`` as events."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop receiving; in-flight sends finish. Idempotent."""

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver one message. Never raises for Telegram-side failures; returns them."""

    @abstractmethod
    async def create_personal_link(self, token: str) -> str:
        """The URL that brings a contact into this bot carrying ``token`` (R8).

        The engine makes and stores the token; the link carries it with
        :data:`PERSONAL_LINK_PREFIX`, so the arrival comes back as
        :class:`~engine.events.PersonalLinkArrival`.
        """

    @abstractmethod
    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        """Acknowledge a button press (stops the spinner; optional toast or alert)."""

    @abstractmethod
    def health(self) -> ConnectorHealth: ...


def deep_link(bot_username: str, payload: str) -> str:
    """``https://t.me/<bot>?start=<payload>``, checking Telegram's payload rules."""
    if not START_PAYLOAD_RE.fullmatch(payload):
        raise ConnectorError(
            f"start payload {payload!r} must be 1–64 characters of A–Z, a–z, 0–9, _ and -"
        )
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


def personal_link(bot_username: str, token: str) -> str:
    return deep_link(bot_username, PERSONAL_LINK_PREFIX + token)


def start_event(
    channel: ChannelRef,
    contact: ContactIdentity,
    payload: str | None,
    *,
    message_id: int,
    occurred_at: datetime,
    update_id: int | None = None,
) -> Start | PersonalLinkArrival:
    """The event for ``/start [payload]``: a personal-link arrival or a plain start."""
    if payload and payload.startswith(PERSONAL_LINK_PREFIX):
        return PersonalLinkArrival(
            channel=channel,
            contact=contact,
            token=payload[len(PERSONAL_LINK_PREFIX) :],
            message_id=message_id,
            occurred_at=occurred_at,
            update_id=update_id,
        )
    return Start(
        channel=channel,
        contact=contact,
        payload=payload or None,
        message_id=message_id,
        occurred_at=occurred_at,
        update_id=update_id,
    )
