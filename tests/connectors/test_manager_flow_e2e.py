"""The "manager accounts" acceptance, end to end and in-process (no network):

a manager types «оплату за Таро получила» to a contact on their phone → the manager account
(real Telethon behind a recorded MTProto sender) reports it → the demo paid-flow funnel stops
the contact's open-bot funnels and sends the personal link from the manager account → the
contact opens it in the paid bot (real aiogram against the fake Bot API) → the purchase is
recorded and the tag «купил» set; the open bot stays silent, and someone else opening the
same link gets nothing while the admins are notified.

The manager account is logged in with ``main.py manager login``'s code path
(:func:`engine.cli.manager_cmd.login_interactive`) and its connector is built from the
encrypted session exactly as the daemon does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.base import Connector
from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from connectors.telegram_user import ManagerAccountConnector
from db.models import (
    Channel,
    ChannelKind,
    Contact,
    ContactTag,
    Funnel,
    FunnelVersion,
    Notification,
    NotificationKind,
    OutboxMessage,
    Product,
    Purchase,
    Run,
    RunStatus,
    Secret,
    SecretPurpose,
    Tag,
)
from db.project_database import ProjectDatabase
from db.workspace import Workspace
from engine.cli.manager_cmd import login_interactive
from engine.clock import VirtualClock
from engine.demo_setup import DEMO_BOT_USERNAMES, install_demo_project
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

TOKENS = {
    "open": "111111111:AAOpenBotTokenForTestsOnly_abcdefgh",
    "paid": "222222222:AAPaidBotTokenForTestsOnly_abcdefgh",
}
ANNA, BORIS = 5001, 5002
PHRASE = "оплату за Таро получила"
OPEN_FUNNEL = "Разбор по дате рождения"
LINK = re.compile(r"t\.me/demo_paid_bot\?start=(pl-[A-Za-z0-9_-]+)")


@dataclass
class Stack:
    database: ProjectDatabase
    engine: ProjectEngine
    sender: OutboxSender
    clock: VirtualClock
    account: FakeTelegramAccount
    fake: FakeTelegramBotAPI
    manager: ManagerAccountConnector

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0
    ) -> None:
        """Deliver the outbox and poll ``check`` until true (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            await self.sender.flush()
            if await check():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:.0f}s: {what}")
            await asyncio.sleep(0.02)

    async def scalar(self, query: object) -> object:
        async with self.database.sessions() as session:
            return await session.scalar(query)  # type: ignore[call-overload]

    async def contact_id(self, user_id: int) -> int | None:
        found = await self.scalar(select(Contact.id).where(Contact.telegram_user_id == user_id))
        return found if isinstance(found, int) else None

    async def runs(self, user_id: int, funnel: str) -> list[RunStatus]:
        async with self.database.sessions() as session:
            rows = await session.scalars(
                select(Run.status)
                .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                .join(Funnel, Funnel.id == FunnelVersion.funnel_id)
                .join(Contact, Contact.id == Run.contact_id)
                .where(Contact.telegram_user_id == user_id, Funnel.name == funnel)
            )
            return list(rows)

    def manager_texts(self, user_id: int) -> list[str]:
        return [
            r.message
            for r in self.account.sent_messages()
            if getattr(r.peer, "user_id", None) == user_id
        ]


@pytest.fixture
async def stack(fake_telegram: FakeTelegramBotAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    fake = fake_telegram
    for role, token in TOKENS.items():
        fake.add_bot(token, username=DEMO_BOT_USERNAMES[role])
    fake.add_user(ANNA, "Анна", username="anna")
    fake.add_user(BORIS, "Борис", username="boris")

    account = FakeTelegramAccount.create(user_id=500, first_name="Мария")
    account.add_user(ANNA, "Анна", username="anna")
    account.authorized = False  # logged in below

    async with await Workspace.open(tmp_path / "ws") as workspace:
        project = await install_demo_project(workspace)
        box = workspace.secret_box()

        # the manager logs in: `main.py manager login --project Демо` (name defaults to the
        # project's only manager account, «Менеджер»)
        answers = iter(["12345"])
        code = await login_interactive(
            workspace,
            project.name,
            phone="+79990000000",
            api_id=API_ID,
            api_hash=API_HASH,
            prompt=lambda question, *, secret=False: next(answers),
            client_factory=account.client_factory(),
            out=lambda line: None,
            environ={},
        )
        assert code == 0

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
        async with database.sessions() as session:
            channels = (await session.scalars(select(Channel))).all()
            secrets = {
                (s.channel_id, s.purpose): s.ciphertext
                for s in (await session.scalars(select(Secret))).all()
            }

        clock = VirtualClock(datetime.now(UTC))
        engine = ProjectEngine(
            database, project=project.name, timezone=project.timezone, clock=clock
        )
        await engine.start()
        connectors: dict[int, Connector] = {}
        manager: ManagerAccountConnector | None = None
        for channel in channels:
            ref = engine.channels[channel.id].ref
            if channel.kind is ChannelKind.MANAGER_ACCOUNT:
                assert channel.name == "Менеджер" and channel.telegram_id == 500
                manager = ManagerAccountConnector(
                    ref,
                    box.decrypt(secrets[(channel.id, SecretPurpose.TELETHON_SESSION)]),
                    API_ID,
                    box.decrypt(secrets[(channel.id, SecretPurpose.API_HASH)]),
                    clock=clock,
                    client_factory=account.client_factory(),
                )
                connectors[channel.id] = manager
            elif (channel.id, SecretPurpose.BOT_TOKEN) in secrets:
                connectors[channel.id] = TelegramBotConnector(
                    TelegramBotConfig(
                        token=box.decrypt(
                            secrets[(channel.id, SecretPurpose.BOT_TOKEN)]
                        ).get_secret_value(),
                        username=channel.username or "",
                        channel=ref,
                        api_base=fake.base_url,
                        poll_timeout=1,
                        stop_grace=2.0,
                    )
                )
        assert manager is not None and len(connectors) == 3
        for connector in connectors.values():
            await connector.start(engine)
        # the virtual clock does not move by itself: no per-chat pacing in the way
        roomy = BucketSpec(rate=1000.0, burst=1000.0)
        limiter = RateLimiter(RateLimits(per_channel=roomy, per_private_chat=roomy))
        sender = OutboxSender(engine, connectors, limiter=limiter)
        assert await sender.recover() == 0
        try:
            yield Stack(database, engine, sender, clock, account, fake, manager)
        finally:
            for connector in connectors.values():
                await connector.stop()
            await database.dispose()


async def test_manager_phrase_sends_the_link_and_the_paid_bot_records_the_purchase(
    stack: Stack,
) -> None:
    fake, account = stack.fake, stack.account

    # 1. Anna starts the open bot: the open-bot funnel greets her and waits for her reply
    fake.user_sends_start(TOKENS["open"], ANNA)

    async def greeted() -> bool:
        return len(fake.sent(TOKENS["open"], ANNA)) >= 2

    await stack.eventually(greeted, "the open bot greets Anna")
    assert await stack.runs(ANNA, OPEN_FUNNEL) == [RunStatus.WAITING]
    open_sent = len(fake.sent(TOKENS["open"], ANNA))

    # 2. The manager writes the phrase to Anna from her phone
    account.manager_writes_elsewhere(ANNA, PHRASE)

    async def link_sent() -> bool:
        return any(LINK.search(text) for text in stack.manager_texts(ANNA))

    await stack.eventually(link_sent, "the personal link goes out from the manager account")
    [link_message] = [t for t in stack.manager_texts(ANNA) if LINK.search(t)]
    match = LINK.search(link_message)
    assert match is not None
    payload = match.group(1)
    assert "Спасибо за оплату" in link_message
    # the engine's own send never comes back as a manager message (no second trigger)
    assert await stack.runs(ANNA, OPEN_FUNNEL) == [RunStatus.STOPPED]
    assert await stack.runs(ANNA, "Оплата Таро") == [RunStatus.WAITING]
    anna = await stack.contact_id(ANNA)
    assert await stack.scalar(select(func.count(Purchase.id))) == 0
    assert stack.manager.health().last_error is None

    # 3. Anna opens her link in the paid bot
    fake.user_sends_start(TOKENS["paid"], ANNA, payload)

    async def bought() -> bool:
        purchases = await stack.scalar(
            select(func.count(Purchase.id))
            .join(Product, Product.id == Purchase.product_id)
            .where(Purchase.contact_id == anna, Product.name == "Таро")
        )
        tagged = await stack.scalar(
            select(func.count(ContactTag.id))
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id == anna, Tag.name == "купил")
        )
        return purchases == 1 and tagged == 1 and bool(fake.sent(TOKENS["paid"], ANNA))

    await stack.eventually(bought, "purchase, tag «купил» and the paid bot's welcome")
    assert "Добро пожаловать" in (fake.sent(TOKENS["paid"], ANNA)[0].text or "")
    assert await stack.runs(ANNA, "Оплата Таро") == [RunStatus.FINISHED]
    assert await stack.runs(ANNA, "Таро: платный бот") == [RunStatus.WAITING]

    # 4. Boris got the forwarded link: nothing for him, a notification for the admins
    fake.user_sends_start(TOKENS["paid"], BORIS, payload)

    async def notified() -> bool:
        found = await stack.scalar(
            select(func.count(Notification.id)).where(
                Notification.kind == NotificationKind.FOREIGN_LINK_USE
            )
        )
        return found == 1

    await stack.eventually(notified, "a foreign-link notification")
    await fake.wait_until_delivered(TOKENS["paid"])
    await stack.sender.flush()
    assert fake.sent(TOKENS["paid"], BORIS) == []
    assert await stack.runs(BORIS, "Таро: платный бот") == []
    assert await stack.scalar(select(func.count(Purchase.id))) == 1

    # 5. Days later the open bot has still said nothing more to Anna (its runs are stopped,
    #    their timers never fire), and nothing was left unsent or failed.
    stack.clock.advance(timedelta(days=3))
    await stack.engine.run_due_timers()
    await stack.sender.flush()
    assert len(fake.sent(TOKENS["open"], ANNA)) == open_sent
    assert await stack.runs(ANNA, OPEN_FUNNEL) == [RunStatus.STOPPED]
    statuses = await stack.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
    )
    assert statuses == 0
    # the manager's phrase triggered once; the link was sent once
    assert len([t for t in stack.manager_texts(ANNA) if LINK.search(t)]) == 1
