"""R15 contact labels against real Telethon, faked at the MTProto sender (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telethon import TelegramClient, functions

from connectors.telegram_user_labels import (
    ContactLabeler,
    LabelOutcome,
    LabelSettings,
    labelled_name,
    strip_labels,
)
from engine.clock import VirtualClock
from tests.connectors.test_telegram_user import ANNA, BORIS, make_account, no_sockets  # noqa: F401
from tests.fakes.telethon_wire import FakeTelegramAccount

ON = LabelSettings(
    enabled=True, per_contact_interval=timedelta(minutes=1), min_interval=timedelta(seconds=2)
)


@pytest.fixture
def account() -> FakeTelegramAccount:
    return make_account()


@pytest.fixture
async def client(account: FakeTelegramAccount) -> AsyncIterator[TelegramClient]:
    client = account.client()
    await client.connect()
    await client.get_dialogs()  # the account knows its contacts' access hashes
    yield client
    await client.disconnect()


def names_written(account: FakeTelegramAccount) -> list[tuple[int, str, str]]:
    return [
        (r.id.user_id, r.first_name, r.last_name)
        for r in account.requests_of(functions.contacts.AddContactRequest)
    ]


def test_names() -> None:
    assert labelled_name("Анна", ["📊", "💰"]) == "Анна 📊💰"
    assert labelled_name("Анна 📊", ["📊", "💰"]) == "Анна 📊💰"
    assert labelled_name("Анна 📊💰", [], known_labels=["📊", "💰"]) == "Анна"
    assert labelled_name("Анна", ["VIP", "💰"]) == "Анна VIP 💰"
    assert strip_labels("📊", ["📊"]) == "📊"  # never strip a name down to nothing
    long = labelled_name("Я" * 70, ["📊"])
    assert len(long) <= 64 and long.endswith("… 📊")


async def test_off_by_default(client: TelegramClient, account: FakeTelegramAccount) -> None:
    labeler = ContactLabeler(lambda: client)
    assert await labeler.update(ANNA, "Анна", "Иванова", ["📊"]) is LabelOutcome.DISABLED
    assert names_written(account) == []


async def test_writes_and_updates_labels_rate_limited(
    client: TelegramClient, account: FakeTelegramAccount
) -> None:
    clock = VirtualClock()
    labeler = ContactLabeler(lambda: client, settings=ON, clock=clock)
    assert await labeler.update(ANNA, "Анна", "Иванова", ["📊"]) is LabelOutcome.WRITTEN
    assert names_written(account) == [(ANNA, "Анна 📊", "Иванова")]
    assert account.users[ANNA].first_name == "Анна 📊"  # Telegram now shows this name

    # same labels, and the name Telegram reports back already carries them: nothing to do
    assert await labeler.update(ANNA, "Анна 📊", "Иванова", ["📊"]) is LabelOutcome.UNCHANGED

    # tags change twice within the minute: deferred, only the newest is written
    clock.advance(timedelta(seconds=10))
    assert await labeler.update(ANNA, "Анна 📊", "Иванова", ["📊", "💰"]) is LabelOutcome.DEFERRED
    assert (
        await labeler.update(ANNA, "Анна 📊", "Иванова", ["📊", "💰", "🎓"])
        is LabelOutcome.DEFERRED
    )
    assert labeler.next_due() == clock.now() + timedelta(seconds=50)
    assert await labeler.flush_due() == 0
    clock.advance(timedelta(seconds=50))
    assert await labeler.flush_due() == 1
    assert names_written(account)[-1] == (ANNA, "Анна 📊💰🎓", "Иванова")
    assert labeler.next_due() is None


async def test_global_pace_between_contacts(
    client: TelegramClient, account: FakeTelegramAccount
) -> None:
    clock = VirtualClock()
    labeler = ContactLabeler(lambda: client, settings=ON, clock=clock)
    assert await labeler.update(ANNA, "Анна", None, ["📊"]) is LabelOutcome.WRITTEN
    assert await labeler.update(BORIS, "Борис", None, ["📊"]) is LabelOutcome.DEFERRED
    clock.advance(timedelta(seconds=2))
    assert await labeler.flush_due() == 1
    assert [n for _, n, _ in names_written(account)] == ["Анна 📊", "Борис 📊"]


async def test_flood_wait_pauses_and_run_loop_retries(
    client: TelegramClient, account: FakeTelegramAccount
) -> None:
    clock = VirtualClock()
    labeler = ContactLabeler(lambda: client, settings=ON, clock=clock)
    account.fail_next(functions.contacts.AddContactRequest, (420, "FLOOD_WAIT_300"))
    assert await labeler.update(ANNA, "Анна", None, ["💰"]) is LabelOutcome.DEFERRED
    assert labeler.next_due() == clock.now() + timedelta(seconds=300)
    loop = asyncio.create_task(labeler.run())
    try:
        await clock.run_for(timedelta(seconds=299))
        assert len(names_written(account)) == 1  # only the refused attempt
        await clock.run_for(timedelta(seconds=1))
        for _ in range(20):
            await asyncio.sleep(0)
        assert names_written(account)[-1] == (ANNA, "Анна 💰", "")
    finally:
        loop.cancel()
