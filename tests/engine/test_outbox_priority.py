"""Funnel messages before broadcast rows in the same bot (issue #6), without starving the
broadcast. Real engine, broadcast code and outbox sender under Telegram's default limits
(30 msg/s per bot, 1/s per chat with a burst of 3) on a virtual clock; the simulated
Telegram answers "bot can't initiate conversation" to the broadcast's recipients it never
saw, which is still one send slot each — what matters here is the order of the slots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.models import OutboxMessage, OutboxStatus
from db.workspace import Workspace
from engine import broadcasts as bc
from engine.clock import VirtualClock
from engine.ratelimit import RateLimits
from engine.simulation import Harness
from tests.engine.helpers import broadcast_draft, make_project

OPEN = "t_open_bot"
AUDIENCE = 400  # ten seconds of the bot's slots
FIRST = 8_000_000
LATE = 9_000_001  # starts the funnel while the broadcast is being sent


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def h(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(workspace, database_url=url)
    harness = await Harness.open(workspace, project, clock, limits=RateLimits())
    try:
        yield harness
    finally:
        await harness.close()


async def _broadcast_to_many(h: Harness) -> int:
    now = h.clock.now()
    b = await broadcast_draft(h.engine, OPEN, FIRST, AUDIENCE, now)
    async with h.engine.transaction() as s:
        await bc.start_broadcast(s, b.id, project=h.engine.project, now=now)
    return int(b.id)


async def _gone(h: Harness, *, bulk: bool) -> int:
    """Rows the sender has dealt with (not pending), broadcast or funnel ones."""
    async with h.engine.db.sessions() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status != OutboxStatus.PENDING, OutboxMessage.bulk.is_(bulk))
        )
        return int(found or 0)


async def test_funnel_message_overtakes_a_queued_broadcast(h: Harness) -> None:
    await _broadcast_to_many(h)
    await h.advance(timedelta(seconds=1))  # the bot's burst is spent on the broadcast
    assert 30 <= await _gone(h, bulk=True) <= 70

    await h.world.contact_starts(OPEN, LATE)  # two greetings queued behind 330+ rows
    await h.advance(timedelta(milliseconds=100))  # three send slots at 30/s
    assert len(h.world.received(OPEN, LATE)) == 2
    assert await _gone(h, bulk=False) == 2


@pytest.mark.parametrize("h", ["sqlite"], indirect=True)
async def test_busy_funnels_do_not_starve_the_broadcast(h: Harness) -> None:
    await _broadcast_to_many(h)
    await h.advance(timedelta(seconds=1))
    for n in range(20):  # 40 funnel messages wait at once: more than a second of slots
        await h.world.contact_starts(OPEN, LATE + n)
    bulk_before = await _gone(h, bulk=True)
    await h.advance(timedelta(seconds=1))
    funnel = await _gone(h, bulk=False)
    bulk = await _gone(h, bulk=True) - bulk_before
    # 30 slots: transactional first, but every fifth to the broadcast
    assert funnel >= 20 and bulk >= 5, (funnel, bulk)
    await h.advance(timedelta(seconds=1))
    assert await _gone(h, bulk=False) == 40  # every funnel message out within two seconds
