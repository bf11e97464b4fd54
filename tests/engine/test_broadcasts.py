"""Broadcasts (R17) through the real engine, outbox sender and simulated Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.models import Broadcast, BroadcastStatus, OutboxMessage, OutboxStatus, TagMatch
from db.workspace import Workspace
from engine import broadcasts as bc
from engine.clock import VirtualClock
from engine.simulation import Harness
from tests.engine.helpers import make_project

OPEN = "t_open_bot"
ANNA, BORIS, CHLOE, DAN = 2001, 2002, 2003, 2004
BIRTH, TELL = "написал дату рождения", "написал расскажи"
TEXT = "<b>Скидка</b> только сегодня"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def h(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(workspace, database_url=url)
    harness = await Harness.open(workspace, project, clock)
    w = harness.world
    # Anna: birth date + "расскажи"; Boris: only /start; Chloe: birth date, then blocks the
    # bot; Dan: birth date.
    await w.contact_starts(OPEN, ANNA)
    await w.contact_says(OPEN, ANNA, "12.03.1990")
    await w.contact_says(OPEN, ANNA, "расскажи")
    await w.contact_starts(OPEN, BORIS)
    await w.contact_starts(OPEN, CHLOE)
    await w.contact_says(OPEN, CHLOE, "01.01.1991")
    await w.contact_blocks(OPEN, CHLOE)
    await w.contact_starts(OPEN, DAN)
    await w.contact_says(OPEN, DAN, "02.02.1992")
    try:
        yield harness
    finally:
        await harness.close()


def _open_bot(h: Harness) -> int:
    return next(c.id for c in h.engine.channels.values() if c.username == OPEN)


async def _count(h: Harness, segment: bc.Segment) -> int:
    async with h.engine.db.sessions() as s:
        return await bc.preview_count(s, segment)


async def _create(h: Harness, segment: bc.Segment, **kw: object) -> int:
    async with h.engine.transaction() as s:
        b = await bc.create_broadcast(
            s,
            segment=segment,
            created_by="staff:test",
            now=h.clock.now(),
            **{"text": TEXT, **kw},  # type: ignore[arg-type]
        )
        return b.id


def _got(h: Harness, uid: int) -> int:
    return sum(1 for e in h.world.received(OPEN, uid) if e.text == TEXT)


async def test_segment_counts(h: Harness) -> None:
    bot = _open_bot(h)
    assert await _count(h, bc.Segment(bot)) == 3  # Chloe blocked the bot
    assert await _count(h, bc.Segment(bot, (BIRTH,))) == 2  # Anna, Dan
    assert await _count(h, bc.Segment(bot, (BIRTH,), (TELL,))) == 1  # Dan
    assert await _count(h, bc.Segment(bot, (), (TELL,))) == 2  # Boris, Dan
    assert await _count(h, bc.Segment(bot, (BIRTH, TELL), (), TagMatch.ALL)) == 1  # Anna
    assert await _count(h, bc.Segment(bot, (BIRTH, TELL), (), TagMatch.ANY)) == 2
    paid = next(c.id for c in h.engine.channels.values() if c.username == "t_paid_bot")
    assert await _count(h, bc.Segment(paid)) == 0


async def test_unknown_tag_or_channel_is_refused(h: Harness) -> None:
    bot = _open_bot(h)
    with pytest.raises(bc.BroadcastError, match="unknown tags: нет такого"):
        await _create(h, bc.Segment(bot, ("нет такого",)))
    manager = next(c.id for c in h.engine.channels.values() if not c.is_bot)
    with pytest.raises(bc.BroadcastError, match="not a bot"):
        await _create(h, bc.Segment(manager))


async def test_send_delivers_exactly_one_message_per_recipient(h: Harness) -> None:
    bid = await _create(h, bc.Segment(_open_bot(h), (), (TELL,)))
    started = await bc.send_now(h.engine, bid)
    assert started.status is BroadcastStatus.SENDING and started.total == 2
    # a retried request / restart: nothing is queued twice
    await bc.send_now(h.engine, bid)
    async with h.engine.transaction() as s:
        b = await s.get(Broadcast, bid)
        assert b is not None
        b.status = BroadcastStatus.SCHEDULED  # as if the first start was never recorded
        b.scheduled_at = h.clock.now()
    assert await bc.run_due_broadcasts(h.engine) == [bid]
    await h.settle()
    assert [_got(h, u) for u in (ANNA, BORIS, CHLOE, DAN)] == [0, 1, 0, 1]
    assert h.world.duplicate_sends == []
    async with h.engine.transaction() as s:
        b = await s.get(Broadcast, bid)
        assert b is not None
        p = await bc.refresh_progress(s, b, now=h.clock.now())
        assert (p.total, p.sent, p.pending, p.failed) == (2, 2, 0, 0)
        assert (b.status, b.total, b.sent, b.failed) == (BroadcastStatus.DONE, 2, 2, 0)


async def test_cancel_stops_pending_rows(h: Harness) -> None:
    bid = await _create(h, bc.Segment(_open_bot(h)))
    await bc.send_now(h.engine, bid)
    cancelled = await bc.cancel(h.engine, bid, actor="staff:test")
    assert cancelled.status is BroadcastStatus.CANCELLED
    await h.settle()
    assert [_got(h, u) for u in (ANNA, BORIS, CHLOE, DAN)] == [0, 0, 0, 0]
    async with h.engine.db.sessions() as s:
        p = await bc.progress(s, bid)
        assert (p.total, p.cancelled, p.sent) == (3, 3, 0)
        statuses = set(
            await s.scalars(
                select(OutboxMessage.status).where(
                    OutboxMessage.idempotency_key.like(f"broadcast:{bid}:%")
                )
            )
        )
        assert statuses == {OutboxStatus.FAILED}
    with pytest.raises(bc.BroadcastStateError):
        await bc.send_now(h.engine, bid)


async def test_scheduled_broadcast_starts_when_due(h: Harness) -> None:
    at = h.clock.now() + timedelta(hours=2)
    bid = await _create(h, bc.Segment(_open_bot(h), (BIRTH,)), scheduled_at=at)
    assert await bc.run_due_broadcasts(h.engine) == []
    async with h.engine.db.sessions() as s:
        assert await bc.next_scheduled(s) == at
    h.clock.set(at)
    assert await bc.run_due_broadcasts(h.engine) == [bid]
    assert await bc.run_due_broadcasts(h.engine) == []
    await h.settle()
    assert [_got(h, u) for u in (ANNA, BORIS, CHLOE, DAN)] == [1, 0, 0, 1]
    # the timer's next call also notices the broadcast is finished
    assert await bc.run_due_broadcasts(h.engine) == []
    async with h.engine.db.sessions() as s:
        b = await s.get(Broadcast, bid)
        assert b is not None
        assert (b.status, b.total, b.sent, b.failed) == (BroadcastStatus.DONE, 2, 2, 0)
    async with h.engine.db.sessions() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.idempotency_key.like(f"broadcast:{bid}:%"))
        )
        assert n == 2


async def test_media_reach_the_recipients_and_bad_items_are_named(h: Harness) -> None:
    photo = {"kind": "photo", "source": "media/" + "a" * 64 + "/Прайс.png"}  # the media store
    doc = {"kind": "document", "source": "https://example.org/price.pdf"}
    bid = await _create(h, bc.Segment(_open_bot(h), (), (TELL,)), media=[photo, doc])
    await bc.send_now(h.engine, bid)
    await h.settle()
    for uid in (BORIS, DAN):
        [got] = [e for e in h.world.received(OPEN, uid) if e.text == TEXT]
        assert [(m.kind, m.source) for m in got.media] == [
            ("photo", photo["source"]),
            ("document", doc["source"]),
        ]
    assert _got(h, ANNA) == 0
    with pytest.raises(bc.BroadcastError, match=r"bad media\[1\]\.kind"):
        await _create(h, bc.Segment(_open_bot(h)), media=[photo, {"kind": "x", "source": "a"}])
    with pytest.raises(bc.BroadcastError, match="caption"):
        await _create(h, bc.Segment(_open_bot(h)), media=[photo], text="я" * 1025)
