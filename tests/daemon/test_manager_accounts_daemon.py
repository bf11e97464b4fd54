"""Manager accounts run by the engine daemon (in-process): a Telethon session against the
fake MTProto wire and bots (real aiogram) against the fake Bot API.

* Telegram Business: a business_message from the manager («оплату за Таро получила»)
  reaches the open bot and starts the paid flow for the contact, exactly as the Telethon
  source does; the connection survives a restart of the daemon.
* Catch-up: the phrase typed while the daemon was down fires once after the restart.
* A revoked session: the account is flagged as needing a login, the admins are notified,
  the bots keep running; the next daemon start does not try it; a new login clears it.
* api_id comes from the account (stored at login), not only from the environment.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from telethon import functions

from db.models import (
    BusinessConnection,
    Channel,
    ChannelKind,
    Contact,
    Funnel,
    FunnelVersion,
    Notification,
    Run,
    RunStatus,
    Secret,
    SecretPurpose,
)
from db.workspace import Workspace
from engine.cli.manager_cmd import list_accounts, login_interactive
from engine.daemon import DaemonSettings, EngineDaemon
from engine.demo_setup import DEMO_BOT_USERNAMES, install_demo_project
from engine.service import WorkspaceService
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

TOKENS = {
    "open": "111111111:AAOpenBotTokenForTestsOnly_abcdefgh",
    "paid": "222222222:AAPaidBotTokenForTestsOnly_abcdefgh",
}
PROJECT = "Демо"
MANAGER_ID = 500
ANNA, BORIS = 5001, 5002
PHRASE = "оплату за Таро получила"
OPEN_FUNNEL = "Разбор по дате рождения"
PAID_FLOW = "Оплата Таро"
LINK = re.compile(r"t\.me/demo_paid_bot\?start=(pl-[A-Za-z0-9_-]+)")


@dataclass
class Setup:
    directory: Path
    fake: FakeTelegramBotAPI
    account: FakeTelegramAccount
    daemon: EngineDaemon | None = None
    service: WorkspaceService | None = None

    async def start(self) -> EngineDaemon:
        self.service = await WorkspaceService.open(str(self.directory))
        self.daemon = EngineDaemon(
            self.service,
            settings=DaemonSettings(bot_api_base=self.fake.base_url, cluster_poll=0.2),
            client_factory=self.account.client_factory(),
        )
        await self.daemon.start()
        return self.daemon

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
        if self.service is not None:
            await self.service.close()
        self.daemon = self.service = None

    @property
    def runtime(self) -> Any:
        assert self.daemon is not None
        return self.daemon.projects[PROJECT]

    async def scalar(self, query: Any) -> Any:
        async with self.runtime.database.sessions() as session:
            return await session.scalar(query)

    async def runs(self, user_id: int, funnel: str) -> list[RunStatus]:
        async with self.runtime.database.sessions() as session:
            rows = await session.scalars(
                select(Run.status)
                .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                .join(Funnel, Funnel.id == FunnelVersion.funnel_id)
                .join(Contact, Contact.id == Run.contact_id)
                .where(Contact.telegram_user_id == user_id, Funnel.name == funnel)
            )
            return list(rows)

    def links_to(self, user_id: int) -> list[str]:
        return [
            r.message
            for r in self.account.sent_messages()
            if getattr(r.peer, "user_id", None) == user_id and LINK.search(r.message)
        ]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.05)


async def setup_state(setup: Setup, state: dict[str, int] | None = None) -> Any:
    """The manager account's stored update state; with ``state``: overwrite it."""
    async with await Workspace.open(setup.directory) as workspace:
        database = await workspace.open_project_db(PROJECT)
        try:
            async with database.sessions() as session, session.begin():
                channel = await session.scalar(
                    select(Channel).where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
                )
                assert channel is not None
                if state is not None:
                    channel.update_state = dict(state)
                return channel.update_state
        finally:
            await database.dispose()


async def login(directory: Path, account: FakeTelegramAccount) -> None:
    async with await Workspace.open(directory) as workspace:
        code = await login_interactive(
            workspace,
            PROJECT,
            phone="+79990000000",
            api_id=API_ID,
            api_hash=API_HASH,
            prompt=lambda question, *, secret=False: "12345",
            client_factory=account.client_factory(),
            out=lambda line: None,
            environ={},
        )
    assert code == 0


@pytest.fixture
async def setup(fake_telegram: FakeTelegramBotAPI, tmp_path: Path) -> AsyncIterator[Setup]:
    fake = fake_telegram
    fake.rate_limits.enabled = False
    for role, token in TOKENS.items():
        fake.add_bot(token, username=DEMO_BOT_USERNAMES[role])
    fake.add_user(ANNA, "Анна", username="anna")
    fake.add_user(BORIS, "Борис", username="boris")
    account = FakeTelegramAccount.create(user_id=MANAGER_ID, first_name="Мария")
    account.add_user(ANNA, "Анна", username="anna")
    account.add_user(BORIS, "Борис", username="boris")
    account.authorized = False
    directory = tmp_path / "ws"
    async with await Workspace.open(directory) as workspace:
        project = await install_demo_project(workspace)
        box = workspace.secret_box()
        database = await workspace.open_project_db(project)
        async with database.sessions() as session, session.begin():
            for channel in (await session.scalars(select(Channel))).all():
                if channel.role is not None and channel.role.value in TOKENS:
                    session.add(
                        Secret(
                            channel_id=channel.id,
                            purpose=SecretPurpose.BOT_TOKEN,
                            ciphertext=box.encrypt(TOKENS[channel.role.value]),
                        )
                    )
        await database.dispose()
    await login(directory, account)
    running = Setup(directory, fake, account)
    try:
        yield running
    finally:
        await running.stop()


def business_connection(connection_id: str = "bc-1") -> dict[str, Any]:
    return {
        "business_connection": {
            "id": connection_id,
            "user": {"id": MANAGER_ID, "is_bot": False, "first_name": "Мария"},
            "user_chat_id": MANAGER_ID,
            "date": 1_700_000_000,
            "is_enabled": True,
            "rights": {"can_reply": True},
        }
    }


def business_message(
    message_id: int, chat_user: tuple[int, str], text: str, *, from_manager: bool = True
) -> dict[str, Any]:
    user_id, name = chat_user
    sender = (
        {"id": MANAGER_ID, "is_bot": False, "first_name": "Мария"}
        if from_manager
        else {"id": user_id, "is_bot": False, "first_name": name}
    )
    return {
        "business_message": {
            "message_id": message_id,
            "business_connection_id": "bc-1",
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": sender,
            "text": text,
        }
    }


async def test_business_message_from_the_manager_starts_the_paid_flow(setup: Setup) -> None:
    fake, account = setup.fake, setup.account
    daemon = await setup.start()
    health = daemon.health()["projects"][PROJECT]["channels"]
    assert health["Менеджер"]["state"] == "running" and health["Менеджер"]["connected"]
    assert health["Менеджер"]["telegram_user_id"] == MANAGER_ID
    # api_id came from the account (no VORONKA_TELEGRAM_API_ID in the daemon's settings)
    assert daemon.settings.telegram_api_id is None
    init = account.requests_of(functions.InvokeWithLayerRequest)[-1].query
    assert init.api_id == API_ID

    fake.user_sends_start(TOKENS["open"], ANNA)

    async def greeted() -> bool:
        return len(fake.sent(TOKENS["open"], ANNA)) >= 2

    await eventually(greeted, "the open bot greets Anna")
    assert await setup.runs(ANNA, OPEN_FUNNEL) == [RunStatus.WAITING]

    # the manager connected the open bot to her account (Telegram Business) and writes
    fake.push_update(TOKENS["open"], business_connection())
    fake.push_update(TOKENS["open"], business_message(77, (ANNA, "Анна"), PHRASE))

    async def paid_flow_started() -> bool:
        return await setup.runs(ANNA, PAID_FLOW) == [RunStatus.WAITING]

    await eventually(paid_flow_started, "the paid flow starts for Anna")
    assert await setup.runs(ANNA, OPEN_FUNNEL) == [RunStatus.STOPPED]

    async def link_sent() -> bool:
        return len(setup.links_to(ANNA)) == 1

    await eventually(link_sent, "the personal link goes out from the manager account")
    stored = await setup.scalar(select(BusinessConnection).where(BusinessConnection.id == "bc-1"))
    assert stored is not None and stored.owner_user_id == MANAGER_ID and stored.enabled

    await setup.stop()

    # after a restart the connection is known from the database: no business_connection
    # update is needed. The manager's message reaches the engine twice — through her
    # Telethon session and as a business message (same message id) — and fires once.
    await setup.start()
    typed = account.manager_writes_elsewhere(BORIS, PHRASE)
    fake.push_update(TOKENS["open"], business_message(typed.id, (BORIS, "Борис"), PHRASE))
    await fake.wait_until_delivered(TOKENS["open"])

    async def boris_paid_flow() -> bool:
        return await setup.runs(BORIS, PAID_FLOW) == [RunStatus.WAITING]

    await eventually(boris_paid_flow, "the paid flow starts for Boris after the restart")

    async def boris_link() -> bool:
        return len(setup.links_to(BORIS)) >= 1

    await eventually(boris_link, "Boris's link goes out")
    await asyncio.sleep(0.3)
    assert len(setup.links_to(BORIS)) == 1 and len(setup.links_to(ANNA)) == 1
    manager_id = await setup.scalar(
        select(Channel.id).where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
    )
    already = await setup.scalar(
        select(func.count(Notification.id)).where(Notification.channel_id == manager_id)
    )
    assert already == 0


async def test_business_message_of_an_unknown_owner_is_a_logged_skip(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    fake = setup.fake
    await setup.start()
    connection = business_connection("bc-2")
    connection["business_connection"]["user"] = {"id": 999, "is_bot": False, "first_name": "X"}
    fake.push_update(TOKENS["open"], connection)
    message = business_message(5, (ANNA, "Анна"), PHRASE)
    message["business_message"]["business_connection_id"] = "bc-2"
    message["business_message"]["from"] = {"id": 999, "is_bot": False, "first_name": "X"}
    fake.push_update(TOKENS["open"], message)
    fake.user_sends_start(TOKENS["open"], BORIS)  # a sentinel after it

    async def boris_greeted() -> bool:
        return len(fake.sent(TOKENS["open"], BORIS)) >= 1

    await eventually(boris_greeted, "the open bot keeps working")
    await fake.wait_until_delivered(TOKENS["open"])
    assert await setup.runs(ANNA, PAID_FLOW) == []
    assert "Telegram user 999 is no manager account of this project" in caplog.text


async def test_phrase_typed_while_the_daemon_was_down_fires_once(setup: Setup) -> None:
    account = setup.account
    await setup.start()
    account.manager_writes_elsewhere(ANNA, "Здравствуйте, Анна!")

    async def contact_known() -> bool:
        found = await setup.scalar(
            select(func.count(Contact.id)).where(Contact.telegram_user_id == ANNA)
        )
        return bool(found)

    await eventually(contact_known, "the manager's first message reaches the engine")
    await setup.stop()
    before_phrase = await setup_state(setup)
    assert before_phrase is not None and before_phrase["pts"] == account.pts

    account.manager_writes_elsewhere(ANNA, PHRASE)  # nobody is connected
    await setup.start()

    async def link_sent() -> bool:
        return len(setup.links_to(ANNA)) == 1

    await eventually(link_sent, "the phrase typed during the downtime fires")
    assert await setup.runs(ANNA, PAID_FLOW) == [RunStatus.WAITING]
    await setup.stop()

    await setup.start()  # nothing is replayed a second time
    await asyncio.sleep(0.3)
    assert len(setup.links_to(ANNA)) == 1
    assert await setup.runs(ANNA, PAID_FLOW) == [RunStatus.WAITING]
    await setup.stop()

    # even if the stored state were behind (a crash right after handling the phrase), the
    # replayed phrase is a duplicate for the engine: still one run and one link
    await setup_state(setup, before_phrase)
    await setup.start()

    async def replayed() -> bool:
        return any(
            r.pts == before_phrase["pts"]
            for r in account.requests_of(functions.updates.GetDifferenceRequest)
        )

    await eventually(replayed, "the catch-up asks from the old state")

    async def phrase_replayed() -> bool:  # the connector handed the phrase to the engine
        assert setup.daemon is not None
        health = setup.daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
        return health["last_event_at"] is not None

    await eventually(phrase_replayed, "the replayed phrase reaches the engine")
    await asyncio.sleep(0.3)
    assert len(setup.links_to(ANNA)) == 1
    assert await setup.runs(ANNA, PAID_FLOW) == [RunStatus.WAITING]


async def test_revoked_session_needs_login_and_the_bots_keep_running(setup: Setup) -> None:
    fake, account = setup.fake, setup.account
    daemon = await setup.start()
    account.revoke()  # terminated from the manager's phone
    account.contact_writes(ANNA, "gap")
    account.pts += 5  # Telethon sees a gap, asks for the difference and is refused
    account.contact_writes(ANNA, "after gap")

    async def flagged() -> bool:
        channel = await setup.scalar(select(Channel).where(Channel.name == "Менеджер"))
        return channel is not None and channel.login_required_at is not None

    await eventually(flagged, "the account is flagged as needing a login")
    async with setup.runtime.database.sessions() as session:
        rows = (await session.scalars(select(Notification))).all()
    assert [n.details.get("manager_login_required") for n in rows] == [True]
    assert "Менеджер" in rows[0].text
    manager = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
    assert manager["state"] == "unauthorized" and manager["needs_login"] is True
    assert setup.service is not None
    [listed] = await setup.service.list_manager_accounts(PROJECT)
    assert listed["needs_login"] and listed["has_session"] and listed["api_id"] == API_ID
    assert "AuthKeyUnregistered" in listed["needs_login_reason"]

    fake.user_sends_start(TOKENS["open"], BORIS)  # the bots keep running

    async def greeted() -> bool:
        return len(fake.sent(TOKENS["open"], BORIS)) >= 1

    await eventually(greeted, "the open bot still works")
    await setup.stop()

    # the next start does not try the dead session and says what to do
    daemon = await setup.start()
    manager = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
    assert manager["state"] == "not_started" and manager["needs_login"] is True
    assert "manager login" in manager["last_error"]
    await setup.stop()
    lines: list[str] = []
    async with await Workspace.open(setup.directory) as workspace:
        await list_accounts(workspace, PROJECT, out=lines.append)
    assert "NEEDS LOGIN" in lines[0] and f"api_id: {API_ID}" in lines[0]

    # a new login clears the flag; the account runs again, and no second notification
    await login(setup.directory, account)
    daemon = await setup.start()
    assert daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]["state"] == "running"
    count = await setup.scalar(select(func.count(Notification.id)))
    assert count == 1
    channel = await setup.scalar(select(Channel).where(Channel.kind == ChannelKind.MANAGER_ACCOUNT))
    assert channel.login_required_at is None and channel.api_id == API_ID
