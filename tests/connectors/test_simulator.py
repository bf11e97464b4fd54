"""The simulator behaves like Telegram where the engine cares, and records every chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorState,
    InlineButton,
    OutgoingMessage,
    SendErrorKind,
)
from connectors.simulator import Direction, SimulatedTelegram, SimulatorError
from engine.clock import VirtualClock
from engine.events import (
    ButtonPress,
    ChatMemberChange,
    ContactIdentity,
    ContactMessage,
    Event,
    ManagerMessage,
    MemberChange,
    PersonalLinkArrival,
    Start,
)

T0 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
ANNA = ContactIdentity(user_id=1001, first_name="Анна")


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def submit(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
async def world() -> tuple[SimulatedTelegram, VirtualClock, Sink]:
    clock = VirtualClock(T0)
    tg = SimulatedTelegram(clock, project="ema")
    sink = Sink()
    for conn in (
        tg.add_bot("ema_open_bot"),
        tg.add_bot("@ema_paid_bot"),
        tg.add_manager_account("Менеджер"),
    ):
        await conn.start(sink)
    tg.add_contact(ANNA)
    return tg, clock, sink


def out(tg: SimulatedTelegram, channel: str, text: str, key: str, **kw: object) -> OutgoingMessage:
    return OutgoingMessage(
        channel=tg.connector(channel).channel,
        chat_id=ANNA.user_id,
        text=text,
        idempotency_key=key,
        **kw,
    )  # type: ignore[arg-type]


async def test_conversation_is_recorded_with_clock_times(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, clock, sink = world
    start = await tg.contact_starts("ema_open_bot", ANNA, "insta")
    assert isinstance(start, Start) and start.payload == "insta" and start.update_id == 1
    clock.advance(timedelta(minutes=5))
    result = await tg.connector("ema_open_bot").send(out(tg, "ema_open_bot", "Привет!", "o1"))
    assert result.ok and result.message_id == 2
    said = await tg.contact_says("ema_open_bot", ANNA.user_id, "12.03.1990")
    assert isinstance(said, ContactMessage) and said.contact == ANNA and said.message_id == 3
    entries = tg.transcript("ema_open_bot", ANNA)
    assert [(e.direction, e.text) for e in entries] == [
        (Direction.FROM_CONTACT, "/start insta"),
        (Direction.TO_CONTACT, "Привет!"),
        (Direction.FROM_CONTACT, "12.03.1990"),
    ]
    assert entries[1].at == T0 + timedelta(minutes=5)
    assert [e.text for e in tg.received("ema_open_bot", ANNA)] == ["Привет!"]
    assert tg.received("ema_paid_bot", ANNA) == []
    assert sink.events == [start, said]
    assert len({e.dedup_key for e in sink.events}) == 2


async def test_bot_cannot_write_first_and_blocked_bot_fails(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, _, sink = world
    paid = tg.connector("ema_paid_bot")
    first = await paid.send(out(tg, "ema_paid_bot", "Оплата?", "p1"))
    assert first.error is not None and first.error.kind is SendErrorKind.BLOCKED
    assert "initiate" in first.error.description
    await tg.contact_starts("ema_paid_bot", ANNA)
    await tg.contact_blocks("ema_paid_bot", ANNA)
    assert (
        isinstance(sink.events[-1], ChatMemberChange)
        and sink.events[-1].change is MemberChange.BLOCKED
    )
    blocked = await paid.send(out(tg, "ema_paid_bot", "Оплата?", "p2"))
    assert blocked.error is not None and blocked.error.kind is SendErrorKind.BLOCKED
    await tg.contact_unblocks("ema_paid_bot", ANNA)
    assert (await paid.send(out(tg, "ema_paid_bot", "Оплата?", "p3"))).ok


async def test_manager_account_events_and_sends(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, _, sink = world
    msg = await tg.manager_says("Менеджер", ANNA, "оплату за Таро получила")
    assert isinstance(msg, ManagerMessage) and msg.update_id is None
    account = tg.connector("Менеджер")
    assert (await account.send(out(tg, "Менеджер", "Ссылка", "m1"))).ok  # may write first
    assert len(sink.events) == 1  # the engine's own sends are no manager messages
    with pytest.raises(ConnectorError):
        await account.create_personal_link("tok")
    with pytest.raises(SimulatorError, match="bots"):
        await tg.contact_starts("Менеджер", ANNA)
    with pytest.raises(SimulatorError, match="manager account"):
        await tg.manager_says("ema_open_bot", ANNA, "x")


async def test_personal_link_round_trip(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, _, _ = world
    link = await tg.connector("ema_paid_bot").create_personal_link("T0k3n")
    assert link == "https://t.me/ema_paid_bot?start=pl-T0k3n"
    arrival = await tg.opens_link(ANNA, link)
    assert isinstance(arrival, PersonalLinkArrival) and arrival.token == "T0k3n"
    assert arrival.channel == tg.connector("ema_paid_bot").channel


async def test_press_inline_url_and_reply_buttons(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, _, sink = world
    await tg.contact_starts("ema_open_bot", ANNA)
    bot = tg.connector("ema_open_bot")
    await bot.send(
        out(
            tg,
            "ema_open_bot",
            "Выбери",
            "o1",
            inline_buttons=(
                (
                    InlineButton(text="Да", callback_data="yes"),
                    InlineButton(text="Бот", url="https://t.me/ema_paid_bot?start=pl-x"),
                ),
                (InlineButton(text="Сайт", url="https://example.com"),),
            ),
        )
    )
    press = await tg.press_button("ema_open_bot", ANNA, "Да")
    assert isinstance(press, ButtonPress) and press.callback_data == "yes" and press.message_id == 2
    await bot.answer_button(press.callback_query_id, "ok")
    assert bot.answered == [(press.callback_query_id, "ok", False)]
    assert await tg.press_button("ema_open_bot", ANNA, "yes") is not None  # by callback data too
    arrival = await tg.press_button("ema_open_bot", ANNA, "Бот")
    assert isinstance(arrival, PersonalLinkArrival)
    assert await tg.press_button("ema_open_bot", ANNA, "Сайт") is None
    await bot.send(out(tg, "ema_open_bot", "Дата?", "o2", reply_keyboard=(("Не помню",),)))
    typed = await tg.press_button("ema_open_bot", ANNA, "Не помню")
    assert isinstance(typed, ContactMessage) and typed.text == "Не помню"
    await bot.send(out(tg, "ema_open_bot", "Ок", "o3", remove_keyboard=True))
    with pytest.raises(SimulatorError, match=r"no button 'Не помню'.*Бот, Да, Сайт"):
        await tg.press_button("ema_open_bot", ANNA, "Не помню")
    assert len(sink.events) == 5  # start, two presses, arrival in the paid bot, typed text


async def test_fault_injection(world: tuple[SimulatedTelegram, VirtualClock, Sink]) -> None:
    tg, _, _ = world
    await tg.contact_starts("ema_open_bot", ANNA)
    bot = tg.connector("ema_open_bot")
    tg.fail_next("ema_open_bot", SendErrorKind.RETRY_AFTER, retry_after=7)
    tg.fail_next("ema_open_bot", SendErrorKind.SERVER_ERROR, times=2)
    first = await bot.send(out(tg, "ema_open_bot", "a", "k1"))
    assert (
        first.error is not None
        and first.error.kind is SendErrorKind.RETRY_AFTER
        and first.error.retry_after == 7
    )
    for _ in range(2):
        r = await bot.send(out(tg, "ema_open_bot", "a", "k1"))
        assert r.error is not None and r.error.kind is SendErrorKind.SERVER_ERROR
    assert bot.health().last_error == "server_error"
    assert tg.received("ema_open_bot", ANNA) == []
    assert (await bot.send(out(tg, "ema_open_bot", "a", "k1"))).ok
    assert bot.health().last_error is None
    assert tg.duplicate_sends == []


async def test_network_error_after_delivery_and_duplicates_are_reported(
    world: tuple[SimulatedTelegram, VirtualClock, Sink],
) -> None:
    tg, _, _ = world
    await tg.contact_starts("ema_open_bot", ANNA)
    bot = tg.connector("ema_open_bot")
    tg.fail_next("ema_open_bot", SendErrorKind.NETWORK, maybe_delivered=True)
    lost = await bot.send(out(tg, "ema_open_bot", "Счёт", "k9"))
    assert lost.error is not None and lost.error.maybe_delivered
    assert [e.text for e in tg.received("ema_open_bot", ANNA)] == ["Счёт"]
    await bot.send(out(tg, "ema_open_bot", "Счёт", "k9"))  # a careless retry
    assert [m.idempotency_key for m in tg.duplicate_sends] == ["k9"]
    assert len(tg.received("ema_open_bot", ANNA)) == 2  # Telegram would show it twice


async def test_lifecycle_and_lookup(world: tuple[SimulatedTelegram, VirtualClock, Sink]) -> None:
    tg, _, _ = world
    bot = tg.connector("ema_open_bot")
    assert isinstance(bot, Connector)
    assert tg.connector(bot.channel) is bot and tg.connector(bot.channel.key) is bot
    assert bot.health().state is ConnectorState.RUNNING
    await bot.stop()
    assert bot.health().state is ConnectorState.STOPPED
    with pytest.raises(SimulatorError, match="not started"):
        await tg.contact_says(bot.channel, ANNA, "hi")
    with pytest.raises(SimulatorError, match="no simulated channel 'nope'"):
        tg.connector("nope")
    with pytest.raises(SimulatorError, match="already exists"):
        tg.add_bot("ema_open_bot")
    wrong = OutgoingMessage(
        channel=tg.connector("ema_paid_bot").channel, chat_id=1, text="x", idempotency_key="z"
    )
    with pytest.raises(SimulatorError):
        await bot.send(wrong)
