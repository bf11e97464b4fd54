"""One-person invite links end to end (issue #4 item 2): real aiogram against the fake Bot API.

A funnel's ``personal_link`` node with target "chat" leaves a placeholder in ``{{link}}``;
the outbox sender makes the invite link (``createChatInviteLink``, member limit 1, the
personal link's expiry) through the paid bot that administers the private group, registers
it, and only then sends the message. Joining the group through the link is the contact's
arrival (the paid bot's personal-link funnel records the purchase and sets the tag);
someone else joining through it gets nothing and the admins are notified; a crash between
making the link and sending the message re-uses the stored link.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.base import Connector
from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from db.models import (
    ChannelKind,
    Contact,
    ContactTag,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    PersonalLink,
    Purchase,
    Tag,
)
from db.project_database import ProjectDatabase
from db.workspace import Project, Workspace
from engine.clock import VirtualClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, make_project
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI, Fault

TOKENS = {
    "open": "333333333:AAOpenInviteBotTokenForTestsOnly_ab",
    "paid": "444444444:AAPaidInviteBotTokenForTestsOnly_ab",
}
ANNA, BORIS = 7001, 7002
GROUP = -100_555_000_111
HOURS = 48


def sale() -> FunnelDocument:
    return funnel(
        "Продажа",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Ссылка": (
                "personal_link",
                {
                    "product": "Курс",
                    "bot_role": "paid",
                    "target": "chat",
                    "chat_id": GROUP,
                    "expires_hours": HOURS,
                },
            ),
            "Письмо": (
                "message",
                {
                    "text": "Ваша ссылка в группу: {{link}}",
                    "buttons": [{"id": "go", "text": "Вступить", "kind": "url", "url": "{{link}}"}],
                },
            ),
        },
        [("Старт", "next", "Ссылка"), ("Ссылка", "next", "Письмо")],
        bot_role="open",
    )


def paid_flow() -> FunnelDocument:
    return funnel(
        "Оплата",
        {
            "Пришёл": ("trigger.personal_link", {"product": "Курс", "bot_role": "paid"}),
            "Покупка": ("record_purchase", {"product": "Курс"}),
            "Тег": ("tag_add", {"tags": ["купил"]}),
        },
        [("Пришёл", "next", "Покупка"), ("Покупка", "next", "Тег")],
        bot_role="paid",
    )


@dataclass
class Stack:
    fake: FakeTelegramBotAPI
    database: ProjectDatabase
    engine: ProjectEngine
    connectors: dict[int, Connector]
    sender: OutboxSender

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            await self.sender.flush()
            if await check():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:.0f}s: {what}")
            await asyncio.sleep(0.02)

    async def count(self, query: object) -> int:
        async with self.database.sessions() as session:
            return int(await session.scalar(query) or 0)  # type: ignore[call-overload]

    async def stop(self) -> None:
        for connector in self.connectors.values():
            await connector.stop()
        await self.database.dispose()


async def start_stack(fake: FakeTelegramBotAPI, workspace: Workspace, project: Project) -> Stack:
    """The engine, both bots' real connectors and the sender, as the daemon starts them."""
    database = await workspace.open_project_db(project)
    engine = ProjectEngine(
        database,
        project=project.name,
        timezone=project.timezone,
        clock=VirtualClock(datetime.now(UTC)),
    )
    await engine.start()
    connectors: dict[int, Connector] = {}
    for info in engine.channels.values():
        if info.kind is ChannelKind.BOT and info.role in TOKENS:
            connectors[info.id] = TelegramBotConnector(
                TelegramBotConfig(
                    token=TOKENS[info.role],
                    username=info.username or "",
                    channel=info.ref,
                    api_base=fake.base_url,
                    poll_timeout=1,
                    stop_grace=2.0,
                )
            )
    for connector in connectors.values():
        await connector.start(engine)
    roomy = BucketSpec(rate=1000.0, burst=1000.0)
    limiter = RateLimiter(RateLimits(per_channel=roomy, per_private_chat=roomy))
    return Stack(
        fake, database, engine, connectors, OutboxSender(engine, connectors, limiter=limiter)
    )


@pytest.fixture
async def setup(
    fake_telegram: FakeTelegramBotAPI, tmp_path: Path
) -> AsyncIterator[tuple[FakeTelegramBotAPI, Workspace, Project]]:
    fake = fake_telegram
    for role, token in TOKENS.items():
        fake.add_bot(token, username=f"t_{role}_bot")  # make_project's bot usernames
    fake.add_user(ANNA, "Анна")
    fake.add_user(BORIS, "Борис")
    fake.add_chat(GROUP, type="supergroup", title="Закрытый клуб")
    async with await Workspace.open(tmp_path / "ws") as workspace:
        project = await make_project(
            workspace, [sale(), paid_flow()], name=f"invite e2e {uuid.uuid4().hex[:8]}"
        )
        yield fake, workspace, project


@pytest.fixture
async def stack(
    setup: tuple[FakeTelegramBotAPI, Workspace, Project],
) -> AsyncIterator[Stack]:
    running = await start_stack(*setup)
    assert await running.sender.recover() == 0
    try:
        yield running
    finally:
        await running.stop()


def invite_requests(fake: FakeTelegramBotAPI) -> list[dict[str, object]]:
    return [r.params for r in fake.requests(TOKENS["paid"], "createChatInviteLink")]


async def anna_gets_her_link(stack: Stack, *, start: bool = True) -> str:
    fake = stack.fake
    if start:
        fake.user_sends_start(TOKENS["open"], ANNA)

    async def received() -> bool:
        return any("t.me/+" in (m.text or "") for m in fake.sent(TOKENS["open"], ANNA))

    await stack.eventually(received, "Anna receives her invite link")
    (message,) = [m for m in fake.sent(TOKENS["open"], ANNA) if "t.me/+" in (m.text or "")]
    link = (message.text or "").split(": ", 1)[1]
    assert link.startswith("https://t.me/+") and "⟦" not in (message.text or "")
    assert message.reply_markup is not None
    assert message.reply_markup["inline_keyboard"][0][0]["url"] == link
    return link


async def test_invite_link_is_made_at_send_time_and_the_join_is_the_owners_arrival(
    stack: Stack,
) -> None:
    fake = stack.fake
    link = await anna_gets_her_link(stack)

    # the paid bot (the group's admin) made exactly one one-person link, with the expiry
    (params,) = invite_requests(fake)
    assert int(str(params["chat_id"])) == GROUP and int(str(params["member_limit"])) == 1
    expected = datetime.now(UTC).timestamp() + HOURS * 3600
    assert abs(int(str(params["expire_date"])) - expected) < 120
    stored = fake.invite_links[link]
    assert stored.member_limit == 1 and stored.chat_id == GROUP
    # the engine knows whose link it is
    owner = await stack.count(
        select(Contact.telegram_user_id)
        .join(PersonalLink, PersonalLink.contact_id == Contact.id)
        .where(PersonalLink.token == link)
    )
    assert owner == ANNA

    # Anna joins the group through it: the paid bot's personal-link funnel runs
    fake.user_joins_via_link(GROUP, ANNA, link)

    async def bought() -> bool:
        return (
            await stack.count(
                select(func.count(ContactTag.tag_id))
                .join(Tag, Tag.id == ContactTag.tag_id)
                .join(Contact, Contact.id == ContactTag.contact_id)
                .where(Tag.name == "купил", Contact.telegram_user_id == ANNA)
            )
            == 1
        )

    await stack.eventually(bought, "Anna's join records the purchase and tags her")
    assert await stack.count(select(func.count(Purchase.id))) == 1
    assert await stack.count(select(func.count(Notification.id))) == 0


async def test_someone_else_joining_through_the_link_gets_nothing(stack: Stack) -> None:
    fake = stack.fake
    link = await anna_gets_her_link(stack)
    fake.user_joins_via_link(GROUP, BORIS, link)

    async def notified() -> bool:
        return (
            await stack.count(
                select(func.count(Notification.id)).where(
                    Notification.kind == NotificationKind.FOREIGN_LINK_USE
                )
            )
            == 1
        )

    await stack.eventually(notified, "the admins hear of Boris using Anna's link")
    await stack.sender.flush()
    assert await stack.count(select(func.count(Purchase.id))) == 0
    assert await stack.count(select(func.count(ContactTag.tag_id))) == 0
    assert fake.sent(TOKENS["paid"], BORIS) == [] and fake.sent(TOKENS["paid"], ANNA) == []


async def test_crash_between_making_the_link_and_sending_reuses_it(
    setup: tuple[FakeTelegramBotAPI, Workspace, Project],
) -> None:
    fake = setup[0]
    first = await start_stack(*setup)
    try:
        fake.user_sends_start(TOKENS["open"], ANNA)

        async def queued() -> bool:
            return await first.count(select(func.count(OutboxMessage.id))) == 1

        deadline = time.monotonic() + 10
        while not await queued():
            assert time.monotonic() < deadline, "the funnel never queued its message"
            await asyncio.sleep(0.02)
        # one round makes and stores the link but leaves the send to a later round
        await first.sender.send_round()
        assert len(invite_requests(fake)) == 1
        assert fake.sent(TOKENS["open"], ANNA) == []
    finally:
        await first.stop()  # the process dies here

    second = await start_stack(*setup)
    try:
        assert await second.sender.recover() == 0  # nothing uncertain: nothing was sent
        link = await anna_gets_her_link(second, start=False)
        assert len(invite_requests(fake)) == 1  # the stored link was re-used
        assert fake.invite_links[link].chat_id == GROUP
        assert len(fake.sent(TOKENS["open"], ANNA)) == 1
        assert (
            await second.count(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == OutboxStatus.SENT
                )
            )
            == 1
        )
    finally:
        await second.stop()


async def test_telegram_errors_while_making_the_link(stack: Stack) -> None:
    """A 5xx is retried (nothing sent meanwhile); a refusal fails the row, naming the chat."""
    fake = stack.fake
    fake.add_fault("createChatInviteLink", Fault.server_error(502), bot=TOKENS["paid"])
    fake.user_sends_start(TOKENS["open"], ANNA)

    async def retried() -> bool:
        return await stack.count(select(func.max(OutboxMessage.attempts))) == 1

    await stack.eventually(retried, "the failed createChatInviteLink is retried later")
    assert fake.sent(TOKENS["open"], ANNA) == []
    assert isinstance(stack.engine.clock, VirtualClock)
    stack.engine.clock.advance(timedelta(seconds=5))  # past the back-off
    link = await anna_gets_her_link(stack, start=False)
    assert len(invite_requests(fake)) == 2 and link in fake.invite_links

    fake.add_fault(
        "createChatInviteLink",
        Fault.bad_request("not enough rights to manage chat invite links"),
        bot=TOKENS["paid"],
    )
    fake.user_sends_start(TOKENS["open"], BORIS)

    async def failed() -> bool:
        return (
            await stack.count(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == OutboxStatus.FAILED
                )
            )
            == 1
        )

    await stack.eventually(failed, "Telegram's refusal fails Boris's message")
    assert fake.sent(TOKENS["open"], BORIS) == []
    async with stack.database.sessions() as session:
        error = await session.scalar(
            select(OutboxMessage.error).where(OutboxMessage.status == OutboxStatus.FAILED)
        )
        notes = (await session.scalars(select(Notification.text))).all()
    assert error is not None and str(GROUP) in error and "not enough rights" in error
    assert len(notes) == 1 and str(GROUP) in notes[0]
