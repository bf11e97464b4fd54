"""The daemon's sender loop (:meth:`OutboxSender.run_forever`) with its cache of queue heads.

The loop reads the queue once and keeps each chat's oldest waiting row in memory; a chat's
next row is learnt when the previous one is recorded, rows the engine adds are read by id
since the last read (SQLite), and a claim that finds a row changed behind its back makes it
read the queue again. These tests run the real engine, broadcast code and sender loop on a
virtual clock against the simulated Telegram, while contacts keep arriving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from connectors.base import Connector, SendErrorKind
from connectors.simulator import SimulatedTelegram
from db.models import OutboxMessage, OutboxStatus
from db.workspace import Workspace
from engine import broadcasts as bc
from engine.clock import VirtualClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter, RateLimits
from engine.simulation import SIMULATION_LIMITS
from tests.engine.helpers import broadcast_draft, make_project

OPEN = "t_open_bot"
GREETINGS = ["Здрав", "Напиш"]  # the demo funnel's two messages after /start
AUDIENCE = 300
FIRST = 8_000_000


@dataclass
class Loop:
    engine: ProjectEngine
    world: SimulatedTelegram
    sender: OutboxSender
    clock: VirtualClock
    task: asyncio.Task[None]
    statements: list[str]

    async def settled(self) -> None:
        """Wait (real time, no timers) until the loop sleeps with nothing in flight."""
        calm = 0
        for _ in range(2000):
            await asyncio.sleep(0.002)
            busy = (
                self.sender.in_flight
                or self.engine.outbox_wakeup.is_set()
                or self.clock.pending == 0
            )
            calm = 0 if busy else calm + 1
            if calm >= 5:
                return
            assert not self.task.done(), self.task.exception()
        raise AssertionError("the sender loop did not settle")

    async def advance(self, delta: timedelta) -> None:
        """Move the clock ``delta`` on, deadline by deadline (every sleeper wakes at its own
        moment), letting the loop settle at each."""
        await self.clock.run_for(delta, self.settled)

    def texts(self, user: int) -> list[str]:
        return [e.text[:5] for e in self.world.received(OPEN, user)]

    async def count(self, *where: Any) -> int:
        async with self.engine.db.sessions() as s:
            found = await s.scalar(select(func.count()).select_from(OutboxMessage).where(*where))
            return int(found or 0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def loop(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Loop]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    yield await _open(workspace, clock, SIMULATION_LIMITS, url)


@pytest.fixture
async def limited(workspace: Workspace, clock: VirtualClock) -> AsyncIterator[Loop]:
    """Telegram's default limits: 30 msg/s per bot, 1/s per chat."""
    yield await _open(workspace, clock, RateLimits())


async def _open(
    workspace: Workspace,
    clock: VirtualClock,
    limits: RateLimits,
    url: str | None = None,
    **options: Any,
) -> Loop:
    project = await make_project(workspace, database_url=url)
    db = await workspace.open_project_db(project)
    engine = ProjectEngine(db, project=project.name, timezone=project.timezone, clock=clock)
    await engine.start()
    world = SimulatedTelegram(clock, project=project.name)
    connectors: dict[int, Connector] = {}
    for channel in engine.channels.values():
        if channel.is_bot:
            connectors[channel.id] = world.add_bot(channel.ref.name, channel_id=str(channel.id))
    for connector in connectors.values():
        await connector.start(engine)
    statements: list[str] = []
    for database in (db.engine, db.writer_engine):
        if database is not None:
            event.listen(
                database.sync_engine,
                "before_cursor_execute",
                lambda _c, _cur, sql, *_: statements.append(sql),
            )
    sender = OutboxSender(engine, connectors, limiter=RateLimiter(limits), **options)
    task = asyncio.create_task(sender.run_forever())
    return Loop(engine, world, sender, clock, task, statements)


async def _close(loop: Loop) -> None:
    loop.task.cancel()
    await asyncio.gather(loop.task, return_exceptions=True)
    await loop.engine.db.dispose()


async def _each(calls: list[Callable[[], Awaitable[Any]]]) -> None:
    await asyncio.gather(*(call() for call in calls))


def _full_reads(statements: list[str]) -> int:
    """Reads of the whole queue: the heads of one kind, oldest first."""
    return sum(1 for sql in statements if "ORDER BY outbox.not_before, outbox.id" in sql)


async def test_contacts_arriving_while_it_runs_get_their_messages_in_order(loop: Loop) -> None:
    try:
        await loop.settled()
        reads = _full_reads(loop.statements)
        users = [5_000 + n for n in range(30)]
        # concurrently: the engine commits while the loop claims and records
        await _each([lambda u=u: loop.world.contact_starts(OPEN, u) for u in users])
        await loop.settled()
        for user in users:
            assert loop.texts(user) == GREETINGS, user
        assert loop.world.duplicate_sends == []
        assert await loop.count(OutboxMessage.status != OutboxStatus.SENT) == 0
        if loop.engine.is_sqlite:
            # new rows are read by id, each chat's next row when the previous one is
            # recorded: the queue is not read again for every message
            assert _full_reads(loop.statements) - reads <= 4
    finally:
        await _close(loop)


async def test_a_retry_after_holds_the_chat_and_not_the_others(loop: Loop) -> None:
    try:
        loop.world.fail_next(OPEN, SendErrorKind.RETRY_AFTER, retry_after=5)
        await loop.world.contact_starts(OPEN, 1001)  # its first greeting gets the 429
        await loop.settled()
        assert loop.texts(1001) == []
        await loop.world.contact_starts(OPEN, 1002)
        await loop.advance(timedelta(seconds=1))
        assert loop.texts(1002) == GREETINGS  # another chat is not held
        assert loop.texts(1001) == []  # the second greeting waits behind the first
        await loop.advance(timedelta(seconds=5))
        assert loop.texts(1001) == GREETINGS  # both, in order, once the wait is over
        assert loop.world.duplicate_sends == []
    finally:
        await _close(loop)


async def _broadcast(loop: Loop) -> int:
    b = await broadcast_draft(loop.engine, OPEN, FIRST, AUDIENCE, loop.clock.now())
    await bc.send_now(loop.engine, b.id)
    return int(b.id)


async def _gone(loop: Loop) -> int:
    """Broadcast rows the sender has tried (the simulated Telegram refuses the recipients
    it never saw, which is still a send slot each); cancelled ones do not count."""
    return await loop.count(
        OutboxMessage.bulk.is_(True),
        OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.FAILED]),
        OutboxMessage.error.is_distinct_from(bc.CANCELLED_ERROR),
    )


async def test_a_cancelled_broadcast_row_no_longer_holds_its_chat(limited: Loop) -> None:
    loop = limited
    try:
        broadcast = await _broadcast(loop)
        await loop.advance(timedelta(seconds=1))
        assert 30 <= await _gone(loop) <= 50
        # the last recipient's funnel messages queue behind their broadcast row…
        last = FIRST + AUDIENCE - 1
        await loop.world.contact_starts(OPEN, last)
        await loop.advance(timedelta(milliseconds=100))
        assert loop.texts(last) == []
        # …until staff cancel the broadcast: the loop's cached broadcast rows are gone
        await bc.cancel(loop.engine, broadcast, actor="staff:test")
        await loop.advance(timedelta(milliseconds=200))
        assert loop.texts(last) == GREETINGS
        after = await _gone(loop)
        await loop.advance(timedelta(seconds=2))
        assert await _gone(loop) == after  # nothing of the cancelled broadcast goes any more
        waiting = [OutboxStatus.PENDING, OutboxStatus.SENDING]
        assert await loop.count(OutboxMessage.status.in_(waiting)) == 0
    finally:
        await _close(loop)


async def test_funnel_messages_overtake_the_cached_broadcast(limited: Loop) -> None:
    loop = limited
    try:
        await _broadcast(loop)
        await loop.advance(timedelta(seconds=1))
        users = [9_000_000 + n for n in range(3)]
        for user in users:  # new chats, while the cache holds the broadcast's rows
            await loop.world.contact_starts(OPEN, user)
        await loop.advance(timedelta(milliseconds=300))  # nine slots at 30/s
        for user in users:
            assert loop.texts(user) == GREETINGS
    finally:
        await _close(loop)


async def test_a_broadcast_longer_than_the_read_window_goes_out_whole(
    workspace: Workspace, clock: VirtualClock
) -> None:
    # a read of the queue holds at most 28 heads here: ten reads for the broadcast
    loop = await _open(workspace, clock, SIMULATION_LIMITS, batch=20)
    try:
        await loop.settled()
        await _broadcast(loop)
        await loop.world.contact_starts(OPEN, FIRST + AUDIENCE - 1)  # behind its bulk row
        await loop.world.contact_starts(OPEN, 4_242)  # a chat of its own
        await loop.advance(timedelta(seconds=1))
        assert await _gone(loop) == AUDIENCE
        assert loop.texts(FIRST + AUDIENCE - 1) == ["Скидк", *GREETINGS]  # chat order
        assert loop.texts(4_242) == GREETINGS
        waiting = [OutboxStatus.PENDING, OutboxStatus.SENDING]
        assert await loop.count(OutboxMessage.status.in_(waiting)) == 0
        assert loop.world.duplicate_sends == []
    finally:
        await _close(loop)
