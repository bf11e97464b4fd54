"""A manager account's session over time: catch-up after downtime, reconnects with back-off,
and a session Telegram ended. Real Telethon, faked at the MTProto sender (no network)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import TelegramClient, functions
from telethon.sessions import StringSession

from connectors.base import ConnectorState
from connectors.telegram_user import ManagerAccountConnector, UpdateState
from engine.clock import VirtualClock
from engine.events import Event, ManagerMessage
from tests.connectors.test_telegram_user import (  # noqa: F401
    ANNA,
    Sink,
    make_account,
    make_connector,
    no_sockets,
)
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount, sender_of

PHRASE = "оплату за Таро получила"


class MemoryStore:
    """An :class:`UpdateStateStore` in memory (the daemon's lives in the project DB)."""

    def __init__(self) -> None:
        self.state: UpdateState | None = None
        self.saves = 0

    async def load(self) -> UpdateState | None:
        return self.state

    async def save(self, state: UpdateState) -> None:
        self.state = state
        self.saves += 1


class FailingOnceSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.refused: list[Event] = []

    async def submit(self, event: Event) -> None:
        if not self.refused:
            self.refused.append(event)
            raise RuntimeError("database is locked")
        await super().submit(event)


async def until(check: Any, what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


def test_private_hooks_for_the_checkpoint_still_exist() -> None:
    client = TelegramClient(StringSession(), API_ID, API_HASH)
    assert hasattr(client, "_message_box") and hasattr(client._message_box, "session_state")
    assert "_preprocess_updates" in TelegramClient._update_loop.__code__.co_names
    assert "_dispatch_update" in TelegramClient._update_loop.__code__.co_names


async def test_a_phrase_typed_while_the_engine_was_down_arrives_once_after_restart() -> None:
    account, store = make_account(), MemoryStore()
    first = make_connector(account, state_store=store)
    sink = Sink()
    await first.start(sink)
    account.manager_writes_elsewhere(ANNA, "до остановки")
    await sink.wait_for(1)
    await until(lambda: store.state is not None and store.state.pts == account.pts, "saved")
    await first.stop()

    # engine down: the manager types the phrase on their phone (nobody is connected)
    account.manager_writes_elsewhere(ANNA, PHRASE)
    down_pts = store.state.pts if store.state else 0
    assert account.pts == down_pts + 1

    second = make_connector(account, state_store=store)
    sink2 = Sink()
    await second.start(sink2)
    [event] = await sink2.wait_for(1)
    assert isinstance(event, ManagerMessage) and event.text == PHRASE
    assert event.contact.user_id == ANNA and event.contact.first_name == "Анна"
    asked = account.requests_of(functions.updates.GetDifferenceRequest)
    assert asked and asked[-1].pts == down_pts
    await until(lambda: store.state is not None and store.state.pts == account.pts, "advanced")
    await second.stop()

    # a third start has nothing to catch up: the phrase is not delivered again
    third = make_connector(account, state_store=store)
    sink3 = Sink()
    await third.start(sink3)
    await asyncio.sleep(0.1)
    await third.stop()
    assert sink3.events == []
    assert account.requests_of(functions.updates.GetDifferenceRequest)[-1].pts == account.pts


async def test_the_first_start_stores_the_current_state() -> None:
    account, store = make_account(), MemoryStore()
    connector = make_connector(account, state_store=store)
    await connector.start(Sink())
    await until(lambda: store.state is not None, "first state saved")
    assert store.state is not None and store.state.pts == account.pts
    await connector.stop()


async def test_a_refused_event_is_fetched_again_on_the_next_start() -> None:
    account, store = make_account(), MemoryStore()
    connector = make_connector(account, state_store=store)
    sink = FailingOnceSink()
    await connector.start(sink)
    await until(lambda: store.state is not None, "first state saved")
    before = store.state
    account.manager_writes_elsewhere(ANNA, PHRASE)  # the engine refuses it
    account.contact_writes(ANNA, "спасибо")  # accepted, but the state stays frozen
    await sink.wait_for(1)
    await connector.stop()
    assert len(sink.refused) == 1 and store.state == before
    assert "not accepted" in (connector.health().last_error or "")

    again = make_connector(account, state_store=store)
    sink2 = Sink()
    await again.start(sink2)
    events = await sink2.wait_for(2)
    await again.stop()
    assert [getattr(e, "text", None) for e in events] == [PHRASE, "спасибо"]
    assert events[0].dedup_key == sink.refused[0].dedup_key  # the engine de-duplicates


async def test_a_dropped_connection_is_reopened_with_back_off() -> None:
    account = make_account()
    delays: list[float] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    connector = make_connector(
        account, state_store=MemoryStore(), reconnect_min=1.0, reconnect_max=3.0, sleep=no_wait
    )
    sink = Sink()
    await connector.start(sink)
    first = connector.client
    assert first is not None and connector.session_health()["connected"]
    # the network is down for two attempts, then back
    account.fail_next(None, ConnectionError("network unreachable"))
    account.fail_next(None, ConnectionError("network unreachable"))
    sender_of(first).drop(ConnectionError("connection reset by peer"))
    await until(lambda: connector.session_health()["reconnects"] == 1, "reconnected")
    assert delays == [1.0, 2.0, 3.0]
    assert connector.health().state is ConnectorState.RUNNING
    assert connector.client is not first and connector.session_health()["connected"]
    # messages typed while it was away arrive, and new ones too
    account.manager_writes_elsewhere(ANNA, PHRASE)
    [event] = await sink.wait_for(1)
    assert isinstance(event, ManagerMessage) and event.text == PHRASE
    await connector.stop()
    assert connector.health().state is ConnectorState.STOPPED


async def test_a_drop_is_visible_in_health_while_reconnecting() -> None:
    account = make_account()
    gate = asyncio.Event()

    async def held(seconds: float) -> None:
        await gate.wait()

    connector = make_connector(account, sleep=held)
    await connector.start(Sink())
    client = connector.client
    assert client is not None
    sender_of(client).drop(ConnectionError("connection reset by peer"))
    await until(lambda: connector.health().state is ConnectorState.FAILING, "failing")
    assert "connection reset" in (connector.health().last_error or "")
    assert connector.session_health()["connected"] is False
    gate.set()
    await until(lambda: connector.health().state is ConnectorState.RUNNING, "running again")
    assert connector.health().last_error is None
    await connector.stop()


async def test_a_revoked_session_is_reported_once_and_not_retried() -> None:
    account = make_account()
    reasons: list[str] = []
    slept: list[float] = []

    async def record(reason: str) -> None:
        reasons.append(reason)

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    connector = make_connector(account, on_unauthorized=record, sleep=no_wait)
    await connector.start(Sink())
    account.revoke()  # terminated from the manager's phone: AUTH_KEY_UNREGISTERED from now on
    account.contact_writes(ANNA, "gap")
    account.pts += 5  # a gap: Telethon asks for the difference and is refused
    account.contact_writes(ANNA, "after gap")
    await until(lambda: bool(reasons), "on_unauthorized called")
    assert connector.health().state is ConnectorState.UNAUTHORIZED
    assert "AuthKeyUnregistered" in reasons[0] and "log in" in reasons[0]
    assert connector.session_health()["needs_login"] is True
    await asyncio.sleep(0.05)
    assert slept == [] and len(reasons) == 1  # no reconnect attempts
    await connector.stop()


async def test_revoked_while_reconnecting_stops_retrying() -> None:
    account: FakeTelegramAccount = make_account()
    reasons: list[str] = []

    async def record(reason: str) -> None:
        reasons.append(reason)

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    connector: ManagerAccountConnector = make_connector(
        account, on_unauthorized=record, sleep=no_wait
    )
    await connector.start(Sink())
    client = connector.client
    assert client is not None
    account.revoke()
    sender_of(client).drop(ConnectionError("reset"))
    await until(lambda: bool(reasons), "on_unauthorized called")
    assert connector.health().state is ConnectorState.UNAUTHORIZED
    assert "log the account in again" in reasons[0]
    await connector.stop()


async def test_own_sends_replayed_by_a_catch_up_are_not_manager_messages() -> None:
    """The engine sent a message, then stopped before the update state moved past it: the
    catch-up fetches it as an outgoing message, which the in-memory list of own sends no
    longer knows. The outbox lookup says it is the engine's, so nothing triggers."""
    from connectors.base import OutgoingMessage
    from tests.connectors.test_telegram_user import channel

    account, store = make_account(), MemoryStore()
    first = make_connector(account, state_store=store)
    await first.start(Sink())
    await until(lambda: store.state is not None, "first state saved")
    before = store.state
    ref = channel(channel_id=str(account.me.id))
    sent = await first.send(
        OutgoingMessage(channel=ref, chat_id=ANNA, text=PHRASE, idempotency_key="k1")
    )
    assert sent.ok and sent.message_id is not None
    await first.stop()
    store.state = before  # as if the engine died before saving the state after the send

    asked: list[tuple[int, int]] = []

    async def outbox(chat_id: int, message_id: int) -> bool:
        asked.append((chat_id, message_id))
        return message_id == sent.message_id

    second = make_connector(account, state_store=store, own_sends=outbox)
    sink = Sink()
    await second.start(sink)
    await until(lambda: bool(asked), "the replayed message is checked")
    account.manager_writes_elsewhere(ANNA, "живое сообщение")  # live: no lookup needed
    [event] = await sink.wait_for(1)
    await second.stop()
    assert isinstance(event, ManagerMessage) and event.text == "живое сообщение"
    assert asked == [(ANNA, sent.message_id)]

    # without the lookup the replayed send would have looked like the manager's phrase
    store.state = before
    third = make_connector(account, state_store=store)
    sink3 = Sink()
    await third.start(sink3)
    events = await sink3.wait_for(1)
    await third.stop()
    assert isinstance(events[0], ManagerMessage) and events[0].text == PHRASE


async def _caught_up_after(offline: timedelta) -> tuple[Sink, list[tuple[Event, timedelta]]]:
    """The phrase typed while the engine was down, caught up ``offline`` later."""
    account, store = make_account(), MemoryStore()
    first = make_connector(account, state_store=store)
    await first.start(Sink())
    await until(lambda: store.state is not None, "the first state is saved")
    await first.stop()
    account.manager_writes_elsewhere(ANNA, PHRASE)

    stale: list[tuple[Event, timedelta]] = []

    async def on_stale(event: ManagerMessage, age: timedelta) -> None:
        stale.append((event, age))

    later = VirtualClock(datetime.now(UTC) + offline)
    second = make_connector(
        account,
        state_store=store,
        clock=later,
        stale_after=timedelta(hours=24),
        on_stale=on_stale,
    )
    sink = Sink()
    await second.start(sink)
    await until(lambda: bool(sink.events or stale), "the caught-up phrase is handled")
    await until(lambda: store.state is not None and store.state.pts == account.pts, "advanced")
    await second.stop()
    return sink, stale


async def test_a_phrase_older_than_the_limit_is_recorded_not_fired() -> None:
    sink, stale = await _caught_up_after(timedelta(hours=30))
    assert sink.events == []
    [(event, age)] = stale
    assert isinstance(event, ManagerMessage) and event.text == PHRASE
    assert event.contact.user_id == ANNA
    assert timedelta(hours=29, minutes=59) < age < timedelta(hours=30, minutes=1)


async def test_a_phrase_within_the_limit_still_fires() -> None:
    sink, stale = await _caught_up_after(timedelta(hours=23))
    assert stale == []
    [event] = sink.events
    assert isinstance(event, ManagerMessage) and event.text == PHRASE
