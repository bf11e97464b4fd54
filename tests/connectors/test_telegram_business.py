"""Telegram Business: a manager's connected account as a second source of manager events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from connectors.telegram_bot import TelegramBotConnector
from connectors.telegram_bot_updates import BUSINESS_CONNECTIONS
from engine.events import ChannelKind, ContactMessage, ManagerMessage
from tests.connectors.test_telegram_bot import TOKEN, RecordingSink, make, until
from tests.fakes import FakeBot, FakeTelegramBotAPI

OWNER = {"id": 900, "is_bot": False, "first_name": "Max", "username": "max_sales"}
PARTNER = {"id": 501, "is_bot": False, "first_name": "Ann", "username": "ann"}
PARTNER_CHAT = {"id": 501, "type": "private", "first_name": "Ann", "username": "ann"}


@pytest.fixture(autouse=True)
def _fresh_connections() -> Iterator[None]:
    BUSINESS_CONNECTIONS.clear()
    yield
    BUSINESS_CONNECTIONS.clear()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramBotAPI]:
    async with FakeTelegramBotAPI(rate_limits=False) as server:
        yield server


@pytest.fixture
def tg_bot(fake: FakeTelegramBotAPI) -> FakeBot:
    return fake.add_bot(TOKEN, username="funnel_bot")


@pytest.fixture
async def conn(fake: FakeTelegramBotAPI, tg_bot: FakeBot) -> AsyncIterator[TelegramBotConnector]:
    connector = make(fake, tg_bot)
    yield connector
    await connector.stop()


def connection(connection_id: str = "bc-1", *, enabled: bool = True) -> dict[str, Any]:
    return {
        "business_connection": {
            "id": connection_id,
            "user": OWNER,
            "user_chat_id": OWNER["id"],
            "date": 1_700_000_000,
            "is_enabled": enabled,
            "rights": {"can_reply": True},
        }
    }


def business_message(
    message_id: int, sender: dict[str, Any], text: str, connection_id: str = "bc-1"
) -> dict[str, Any]:
    return {
        "business_message": {
            "message_id": message_id,
            "business_connection_id": connection_id,
            "date": 1_700_000_100 + message_id,
            "chat": PARTNER_CHAT,
            "from": sender,
            "text": text,
        }
    }


async def test_business_messages_become_manager_and_contact_events(
    fake: FakeTelegramBotAPI,
    tg_bot: FakeBot,
    conn: TelegramBotConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors")
    sink = RecordingSink()
    await conn.start(sink)
    fake.push_update(tg_bot, business_message(1, OWNER, "too early", "bc-unknown"))
    fake.push_update(tg_bot, connection())
    fake.push_update(tg_bot, business_message(2, OWNER, "Hi Ann, any questions?"))
    fake.push_update(tg_bot, business_message(3, PARTNER, "how much?"))
    fake.push_update(tg_bot, business_message(4, OWNER, "other chat", "bc-unknown"))
    fake.push_update(tg_bot, connection(enabled=False))
    fake.push_update(tg_bot, business_message(5, OWNER, "after disconnect"))
    fake.user_sends_text(tg_bot, fake.add_user(502, "Bob"), "sentinel")  # a plain bot chat
    await until(lambda: len(sink.attempts) == 3)
    await fake.wait_until_delivered(tg_bot)
    manager, contact, sentinel = sink.events
    assert isinstance(manager, ManagerMessage) and manager.text == "Hi Ann, any questions?"
    assert manager.contact.user_id == 501 and manager.contact.username == "ann"
    assert manager.channel.kind is ChannelKind.MANAGER_ACCOUNT
    assert manager.channel.channel_id == "900" and manager.channel.project == "demo"
    assert manager.account.name == "max_sales" and manager.message_id == 2
    assert isinstance(contact, ContactMessage) and contact.text == "how much?"
    assert contact.contact.user_id == 501 and contact.channel == manager.channel
    assert manager.dedup_key != contact.dedup_key
    assert isinstance(sentinel, ContactMessage) and sentinel.text == "sentinel"
    assert sentinel.channel == conn.channel
    assert "unknown connection bc-unknown" in caplog.text
    assert conn.health().last_error is None
