"""The outbox's uncertain window (issue #3): a process killed mid-round leaves only the rows
whose send was really in flight ``uncertain`` — not the whole claimed batch.

Real stack at the protocol boundary: users send /start to the fake Bot API, the real aiogram
connector polls it and hands the updates to :class:`ProjectEngine`, and
:meth:`OutboxSender.run_forever` delivers the demo funnel's two greetings per user through
the same connector. The fake holds ``sendMessage`` to three chats open (a slow reply), so
those sends hang while the others complete. Then the first "process" is discarded the way
a SIGKILL would: its tasks are cancelled mid-call without being allowed to record anything,
its connector and database handles dropped. A second one opens the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select

from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from db.models import Contact, Notification, OutboxMessage, OutboxStatus
from db.project_database import ProjectDatabase
from db.workspace import Project, Workspace
from engine.clock import VirtualClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from tests.engine.helpers import make_project
from tests.fakes.telegram_bot_api import FakeBot, FakeTelegramBotAPI, Fault

OPEN = "t_open_bot"
TOKEN = "444444444:AAWindowBotTokenForTestsOnly_abcdef"
USERS = [6_100 + n for n in range(24)]
SLOW = USERS[3:6]  # their chats' sendMessage hangs
CAP = 4  # in-flight rows per bot
ROOMY = BucketSpec(rate=1000.0, burst=1000.0)  # the virtual clock stands still


@dataclass
class Process:
    database: ProjectDatabase
    engine: ProjectEngine
    connector: TelegramBotConnector
    sender: OutboxSender
    task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, workspace: Workspace, project: Project, fake: FakeTelegramBotAPI, clock: VirtualClock
    ) -> Process:
        database = await workspace.open_project_db(project)
        engine = ProjectEngine(
            database, project=project.name, timezone=project.timezone, clock=clock
        )
        await engine.start()
        channel = next(c for c in engine.channels.values() if c.username == OPEN)
        connector = TelegramBotConnector(
            TelegramBotConfig(
                token=TOKEN,
                username=OPEN,
                channel=channel.ref,
                api_base=fake.base_url,
                poll_timeout=1,
                stop_grace=0.5,
            )
        )
        limiter = RateLimiter(RateLimits(per_channel=ROOMY, per_private_chat=ROOMY))
        sender = OutboxSender(engine, {channel.id: connector}, limiter=limiter, max_in_flight=CAP)
        return cls(database, engine, connector, sender)

    async def kill(self) -> None:
        """Discard the process as SIGKILL would: nothing in flight gets to record."""
        self.sender.drain_timeout = 0
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.connector.stop()
        await self.database.dispose()

    async def rows(self) -> dict[int, list[OutboxMessage]]:
        """Outbox rows by Telegram user id, oldest first."""
        async with self.database.sessions() as s:
            found = await s.execute(
                select(OutboxMessage, Contact.telegram_user_id)
                .join(Contact, Contact.id == OutboxMessage.contact_id)
                .order_by(OutboxMessage.id)
            )
            by_user: dict[int, list[OutboxMessage]] = {}
            for row, user in found.all():
                by_user.setdefault(user, []).append(row)
            return by_user


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout:.0f}s: {what}"
        await asyncio.sleep(0.02)


def _texts(fake: FakeTelegramBotAPI, bot: FakeBot, user: int) -> list[str]:
    return [m.text or "" for m in fake.sent(bot, user)]


async def test_killed_mid_round_only_in_flight_rows_are_uncertain(
    workspace: Workspace, clock: VirtualClock
) -> None:
    project = await make_project(workspace)
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        bot = fake.add_bot(TOKEN, username=OPEN)
        for uid in USERS:
            fake.add_user(uid, f"U{uid}")
        for uid in SLOW:
            fake.add_fault("sendMessage", Fault.slow(300), times=None, bot=bot, chat_id=uid)

        first = await Process.open(workspace, project, fake, clock)
        await first.connector.start(first.engine)
        first.task = asyncio.create_task(first.sender.run_forever())
        for uid in USERS:
            fake.user_sends_start(bot, uid)

        most_sending = 0

        async def settled() -> bool:
            nonlocal most_sending
            rows = await first.rows()
            sending = [r for rs in rows.values() for r in rs if r.status is OutboxStatus.SENDING]
            most_sending = max(most_sending, len(sending))
            fast_done = all(
                len(rows.get(uid, [])) == 2
                and all(r.status is OutboxStatus.SENT for r in rows[uid])
                for uid in USERS
                if uid not in SLOW
            )
            slow_reached = sum(
                1
                for r in fake.requests(bot, "sendMessage")
                if int(r.params.get("chat_id", 0)) in SLOW
            )
            return fast_done and slow_reached == len(SLOW) and len(sending) == len(SLOW)

        await _until(settled, "fast chats delivered and recorded, slow sends hanging")
        assert most_sending <= CAP  # never more in flight than the bot's slots
        await first.kill()

        second = await Process.open(workspace, project, fake, clock)
        try:
            assert await second.sender.recover() == len(SLOW)
            rows = await second.rows()
            uncertain = {
                uid: [r.id for r in rs if r.status is OutboxStatus.UNCERTAIN]
                for uid, rs in rows.items()
            }
            # exactly the hanging first message of each slow chat; its second waits
            assert {u: ids for u, ids in uncertain.items() if ids} == {
                uid: [rows[uid][0].id] for uid in SLOW
            }
            assert all(rows[uid][1].status is OutboxStatus.PENDING for uid in SLOW)
            async with second.database.sessions() as s:
                noted = {
                    int(n.details["outbox_id"])
                    for n in (await s.scalars(select(Notification))).all()
                    if n.details and n.details.get("uncertain")
                }
            assert noted == {rows[uid][0].id for uid in SLOW}

            fake.clear_faults()
            await second.sender.flush()
            rows = await second.rows()
            for uid in USERS:
                statuses = [r.status for r in rows[uid]]
                if uid in SLOW:
                    assert statuses == [OutboxStatus.UNCERTAIN, OutboxStatus.SENT]
                    # the uncertain greeting is never sent again; the next one went out
                    assert _texts(fake, bot, uid) == [rows[uid][1].payload["text"]]
                else:
                    assert statuses == [OutboxStatus.SENT, OutboxStatus.SENT]
                    assert _texts(fake, bot, uid) == [r.payload["text"] for r in rows[uid]]
        finally:
            await second.connector.stop()
            await second.database.dispose()
