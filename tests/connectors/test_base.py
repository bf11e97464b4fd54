"""The connector contract's values refuse what Telegram would refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connectors.base import (
    ConnectorError,
    InlineButton,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
    deep_link,
    personal_link,
    start_event,
)
from engine.events import ChannelKind, ChannelRef, ContactIdentity, PersonalLinkArrival, Start

BOT = ChannelRef(project="ema", kind=ChannelKind.BOT, channel_id="1", name="ema_open_bot")
AT = datetime(2024, 5, 6, tzinfo=UTC)


def test_button_needs_exactly_one_action_and_short_callback_data() -> None:
    InlineButton(text="Да", callback_data="yes")
    InlineButton(text="Сайт", url="https://example.com")
    with pytest.raises(ValidationError, match="exactly one"):
        InlineButton(text="Да")
    with pytest.raises(ValidationError, match="exactly one"):
        InlineButton(text="Да", callback_data="x", url="https://example.com")
    with pytest.raises(ValidationError, match="1–64 bytes"):
        InlineButton(text="Да", callback_data="я" * 33)  # 66 bytes in UTF-8


def test_outgoing_message_consistency() -> None:
    msg = OutgoingMessage(
        channel=BOT,
        chat_id=5,
        text="<b>Привет</b>",
        inline_buttons=((InlineButton(text="Да", callback_data="y"),),),
        idempotency_key="out-1",
    )
    assert [b.text for b in msg.buttons_flat()] == ["Да"]
    assert OutgoingMessage.model_validate_json(msg.model_dump_json()) == msg
    with pytest.raises(ValidationError, match="text or media"):
        OutgoingMessage(channel=BOT, chat_id=5, idempotency_key="k")
    with pytest.raises(ValidationError, match="both show and remove"):
        OutgoingMessage(
            channel=BOT,
            chat_id=5,
            text="x",
            reply_keyboard=(("a",),),
            remove_keyboard=True,
            idempotency_key="k",
        )


def test_send_result_shapes() -> None:
    ok = SendResult.success(42)
    assert ok.ok and ok.message_id == 42 and ok.error is None
    wait = SendResult.failure(SendErrorKind.RETRY_AFTER, retry_after=5)
    assert wait.error is not None and wait.error.retryable and wait.error.retry_after == 5
    blocked = SendResult.failure(SendErrorKind.BLOCKED, "Forbidden")
    assert blocked.error is not None and not blocked.error.retryable
    with pytest.raises(ValidationError):
        SendResult(ok=True)
    with pytest.raises(ValidationError, match="retry_after"):
        SendResult.failure(SendErrorKind.RETRY_AFTER)
    with pytest.raises(ValidationError, match="network"):
        SendResult.failure(SendErrorKind.BLOCKED, maybe_delivered=True)


def test_deep_links() -> None:
    assert deep_link("@ema_paid_bot", "src_insta") == "https://t.me/ema_paid_bot?start=src_insta"
    assert personal_link("ema_paid_bot", "Ab9_") == "https://t.me/ema_paid_bot?start=pl-Ab9_"
    for bad in ("", "a b", "x" * 65, "привет"):
        with pytest.raises(ConnectorError):
            deep_link("ema_paid_bot", bad)


def test_start_event_tells_personal_links_from_sources() -> None:
    anna = ContactIdentity(user_id=1)
    arrival = start_event(BOT, anna, "pl-tok", message_id=1, occurred_at=AT)
    assert isinstance(arrival, PersonalLinkArrival) and arrival.token == "tok"
    plain = start_event(BOT, anna, "insta", message_id=1, occurred_at=AT)
    assert isinstance(plain, Start) and plain.payload == "insta"
    empty = start_event(BOT, anna, "", message_id=1, occurred_at=AT)
    assert isinstance(empty, Start) and empty.payload is None
