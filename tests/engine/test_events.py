"""Events are immutable, JSON round-trip exactly, and de-duplicate by their source id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

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
    PersonalLinkArrival,
    StaffAction,
    Start,
    TimerDue,
    dump_event,
    dump_event_json,
    parse_event,
    parse_event_json,
)

AT = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
BOT = ChannelRef(project="ema", kind=ChannelKind.BOT, channel_id="111", name="ema_open_bot")
ACCOUNT = ChannelRef(
    project="ema", kind=ChannelKind.MANAGER_ACCOUNT, channel_id="222", name="Менеджер"
)
ANNA = ContactIdentity(
    user_id=1001, first_name="Анна", last_name="К", username="anna_k", language_code="ru"
)


def all_events() -> list[Event]:
    base = {"contact": ANNA, "occurred_at": AT}
    return [
        ContactMessage(
            channel=BOT, update_id=5, text="привет", message_id=7, reply_to_message_id=6, **base
        ),
        ContactMessage(channel=ACCOUNT, text="привет", message_id=8, **base),
        ManagerMessage(channel=ACCOUNT, text="оплату за Таро получила", message_id=9, **base),
        Start(channel=BOT, update_id=6, payload="insta", message_id=1, **base),
        PersonalLinkArrival(channel=BOT, update_id=7, token="abc", message_id=2, **base),
        ButtonPress(
            channel=BOT,
            update_id=8,
            callback_data="yes",
            message_id=3,
            callback_query_id="q1",
            **base,
        ),
        ChatMemberChange(channel=BOT, update_id=9, change=MemberChange.BLOCKED, **base),
        JoinRequest(
            channel=BOT, update_id=10, chat_id=-100500, invite_link="https://t.me/+x", **base
        ),
        TimerDue(channel=BOT, run_id="run-1", expected_version=4, **base),
        StaffAction(channel=BOT, staff_user="olga", action="move", args={"node": "n1"}, **base),
    ]


@pytest.mark.parametrize("event", all_events(), ids=lambda e: e.kind)
def test_round_trip_through_dict_and_json(event: Event) -> None:
    assert parse_event(dump_event(event)) == event
    assert parse_event_json(dump_event_json(event)) == event
    assert type(parse_event(dump_event(event))) is type(event)


def test_events_are_immutable() -> None:
    event = all_events()[0]
    assert isinstance(event, ContactMessage)
    with pytest.raises(ValidationError):
        event.text = "other"  # type: ignore[misc]


def test_dedup_key_uses_update_id_else_natural_id() -> None:
    events = all_events()
    assert events[0].dedup_key == "ema/bot/111|u5"
    assert events[1].dedup_key == "ema/manager_account/222|contact_message|1001:8"
    assert events[8].dedup_key.endswith("timer_due|run-1:4")
    keys = [e.dedup_key for e in events]
    assert len(set(keys)) == len(keys)
    again = ContactMessage(channel=ACCOUNT, contact=ANNA, occurred_at=AT, text="x", message_id=8)
    assert again.dedup_key == events[1].dedup_key  # a redelivery is recognised


def test_same_update_id_in_other_bot_is_a_different_event() -> None:
    other = BOT.model_copy(update={"channel_id": "333"})
    a = Start(channel=BOT, contact=ANNA, occurred_at=AT, update_id=1, message_id=1)
    b = Start(channel=other, contact=ANNA, occurred_at=AT, update_id=1, message_id=1)
    assert a.dedup_key != b.dedup_key


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Start(channel=BOT, contact=ANNA, occurred_at=datetime(2024, 5, 6), message_id=1)
    with pytest.raises(ValidationError, match="manager account"):
        ManagerMessage(channel=BOT, contact=ANNA, occurred_at=AT, text="x", message_id=1)
    with pytest.raises(ValidationError):
        parse_event({"type": "nonsense", "channel": BOT.model_dump(), "contact": {"user_id": 1}})


def test_display_name() -> None:
    assert ANNA.display_name == "Анна К"
    assert ContactIdentity(user_id=5, username="x").display_name == "@x"
    assert ContactIdentity(user_id=5).display_name == "5"
