"""Telegram Business: a manager's connected account as a second source of manager events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from connectors.telegram_bot_updates import BUSINESS_CONNECTIONS
from connectors.telegram_business import ProjectBusinessRouter
from db.models import BotRole, BusinessConnection, Channel
from db.models import ChannelKind as DbChannelKind
from db.workspace import Workspace
from engine.cli.manager_cmd import register_business_account
from engine.demo_setup import install_demo_project
from engine.events import ChannelKind, ContactMessage, ManagerMessage
from engine.project_engine import ProjectEngine
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


# --- routed to the project's manager account (what the daemon runs) -----------------------


@pytest.fixture
async def demo_engine(tmp_path: Path) -> AsyncIterator[tuple[ProjectEngine, int, int]]:
    """The demo project's engine; its manager account is Telegram user OWNER (as after
    ``manager login``). Yields (engine, open bot channel id, manager channel id)."""
    async with await Workspace.open(tmp_path / "ws") as workspace:
        project = await install_demo_project(workspace)
        # `main.py manager business --project Демо --name Менеджер --telegram-id 900`
        said: list[str] = []
        code = await register_business_account(
            workspace, project.name, "Менеджер", OWNER["id"], out=said.append
        )
        assert code == 0 and "Telegram user 900" in said[0]
        database = await workspace.open_project_db(project)
        async with database.sessions() as session, session.begin():
            manager = await session.scalar(
                select(Channel).where(Channel.kind == DbChannelKind.MANAGER_ACCOUNT)
            )
            assert manager is not None and manager.telegram_id == OWNER["id"]
            open_bot = await session.scalar(select(Channel).where(Channel.role == BotRole.OPEN))
            assert open_bot is not None
            ids = (open_bot.id, manager.id)
        engine = ProjectEngine(database, project=project.name, timezone=project.timezone)
        await engine.start()
        try:
            yield engine, *ids
        finally:
            await database.dispose()


def routed(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, engine: ProjectEngine, bot_id: int
) -> TelegramBotConnector:
    return TelegramBotConnector(
        TelegramBotConfig(
            token=tg_bot.token,
            username=tg_bot.username,
            channel=engine.channels[bot_id].ref,
            api_base=fake.base_url,
            poll_timeout=5,
            stop_grace=2.0,
            business=ProjectBusinessRouter(engine, bot_id),
        )
    )


async def test_business_events_go_to_the_manager_account_and_connections_are_stored(
    fake: FakeTelegramBotAPI,
    tg_bot: FakeBot,
    demo_engine: tuple[ProjectEngine, int, int],
) -> None:
    engine, bot_id, manager_id = demo_engine
    conn = routed(fake, tg_bot, engine, bot_id)
    sink = RecordingSink()
    await conn.start(sink)
    try:
        fake.push_update(tg_bot, connection())
        fake.push_update(tg_bot, business_message(2, OWNER, "оплату за Таро получила"))
        await until(lambda: len(sink.events) == 1)
    finally:
        await conn.stop()
    [event] = sink.events
    assert isinstance(event, ManagerMessage) and event.contact.user_id == PARTNER["id"]
    assert event.channel == engine.channels[manager_id].ref  # the engine's channel of it
    assert event.update_id is None  # dedup key: the account's (contact, message id)
    assert event.dedup_key.endswith("|manager_message|501:2")
    async with engine.db.sessions() as session:
        stored = await session.get(BusinessConnection, "bc-1")
    assert stored is not None and stored.owner_user_id == OWNER["id"]
    assert stored.bot_channel_id == bot_id and stored.enabled

    # a new process: the connection is known from the database
    BUSINESS_CONNECTIONS.clear()
    again = routed(fake, tg_bot, engine, bot_id)
    sink2 = RecordingSink()
    await again.start(sink2)
    try:
        fake.push_update(tg_bot, business_message(3, PARTNER, "сколько стоит?"))
        await until(lambda: len(sink2.events) == 1)
        # disabled: later messages of that connection are skipped, the bot keeps working
        fake.push_update(tg_bot, connection(enabled=False))
        fake.push_update(tg_bot, business_message(4, OWNER, "после отключения"))
        fake.user_sends_text(tg_bot, fake.add_user(502, "Bob"), "sentinel")
        await until(lambda: len(sink2.events) == 2)
        await fake.wait_until_delivered(tg_bot)
    finally:
        await again.stop()
    contact, sentinel = sink2.events
    assert isinstance(contact, ContactMessage) and contact.text == "сколько стоит?"
    assert contact.channel == engine.channels[manager_id].ref
    assert isinstance(sentinel, ContactMessage) and sentinel.channel == again.channel
    async with engine.db.sessions() as session:
        stored = await session.get(BusinessConnection, "bc-1")
    assert stored is not None and not stored.enabled


async def test_business_message_of_an_owner_without_a_manager_account_is_skipped(
    fake: FakeTelegramBotAPI,
    tg_bot: FakeBot,
    demo_engine: tuple[ProjectEngine, int, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, bot_id, manager_id = demo_engine
    async with engine.transaction() as session:
        manager = await session.get(Channel, manager_id)
        assert manager is not None
        manager.telegram_id = 12345  # another Telegram account
    conn = routed(fake, tg_bot, engine, bot_id)
    sink = RecordingSink()
    await conn.start(sink)
    try:
        fake.push_update(tg_bot, connection())
        fake.push_update(tg_bot, business_message(2, OWNER, "оплату за Таро получила"))
        fake.user_sends_text(tg_bot, fake.add_user(502, "Bob"), "sentinel")
        await until(lambda: len(sink.events) == 1)
        await fake.wait_until_delivered(tg_bot)
    finally:
        await conn.stop()
    assert [e.channel for e in sink.events] == [conn.channel]  # only the sentinel
    assert f"Telegram user {OWNER['id']} is no manager account of this project" in caplog.text


# --- sending on a business-only manager's behalf -------------------------------------------


def _account_message(text: str, **extra: Any) -> Any:
    from connectors.base import OutgoingMessage
    from engine.events import ChannelRef

    ref = ChannelRef(project="p", kind=ChannelKind.MANAGER_ACCOUNT, channel_id="900")
    return OutgoingMessage(channel=ref, chat_id=501, text=text, idempotency_key="k-1", **extra)


async def test_business_account_sends_through_the_connected_bot(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, tmp_path: Path
) -> None:
    from connectors.base import Media, MediaKind
    from connectors.telegram_business import BusinessAccountConnector

    fake.add_user(900, "Max")
    fake.add_user(501, "Ann")
    fake.add_business_connection(tg_bot, "bc-7", 900)
    stored = tmp_path / "media" / "abc" / "card.jpg"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"\xff\xd8\xff fake jpeg")

    async def lookup(owner: int) -> tuple[str, int] | None:
        return ("bc-7", 11) if owner == 900 else None

    connector = BusinessAccountConnector(
        _account_message("x").channel,
        900,
        {11: TOKEN},
        connection=lookup,
        api_base=fake.base_url,
        media_root=tmp_path,
    )
    try:
        photo = _account_message(
            "Ваш <b>расклад</b>",
            media=(Media(kind=MediaKind.PHOTO, source="media/abc/card.jpg"),),
        )
        result = await connector.send(photo)
        assert result.ok, result.error
        [sent] = fake.sent(TOKEN, 501)
        assert sent.method.lower() == "sendphoto"
        assert sent.params["business_connection_id"] == "bc-7"
        assert sent.message["from"]["id"] == 900 and sent.text == "Ваш <b>расклад</b>"

        # the connection is gone at Telegram: a clear bad request, not a retry
        fake.business_connections.clear()
        result = await connector.send(_account_message("Привет"))
        assert result.error is not None and not result.error.retryable
        assert "business connection not found" in result.error.description
    finally:
        await connector.stop()


async def test_business_account_without_a_connected_bot_fails_clearly() -> None:
    from connectors.base import SendErrorKind
    from connectors.telegram_business import BusinessAccountConnector

    connector = BusinessAccountConnector(_account_message("x").channel, 900, {11: TOKEN})
    result = await connector.send(_account_message("Привет"))
    assert result.error is not None and result.error.kind is SendErrorKind.BAD_REQUEST
    assert "no project bot is connected to Telegram user 900" in result.error.description
    await connector.stop()
