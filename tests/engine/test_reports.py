"""Reports (R16) over data made by the real engine (simulated Telegram), plus purchases
inserted directly; day boundaries in the project's time zone (Europe/Moscow, UTC+3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from db.models import Contact, OutboxMessage, OutboxStatus, Product, Purchase, Run
from db.models.runs import LIVE_RUN_STATUSES
from db.workspace import Workspace
from engine import broadcasts as bc
from engine import reports
from engine.clock import VirtualClock
from engine.simulation import Harness
from tests.engine.conftest import START
from tests.engine.helpers import make_project

OPEN = "t_open_bot"
ANNA, BORIS, DAN = 3001, 3002, 3004
BIRTH, ANALYSIS, TELL = "написал дату рождения", "получил анализ", "написал расскажи"
STAGES = [BIRTH, ANALYSIS, TELL]
D6, D7, D8 = date(2024, 5, 6), date(2024, 5, 7), date(2024, 5, 8)


def msk(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=3)


async def _buy(h: Harness, user_id: int, at: datetime) -> None:
    async with h.engine.transaction() as s:
        contact = (
            await s.scalars(select(Contact).where(Contact.telegram_user_id == user_id))
        ).one()
        product = await s.scalar(select(Product).where(Product.name == "Курс"))
        if product is None:
            product = Product(name="Курс")
            s.add(product)
            await s.flush()
        s.add(
            Purchase(
                contact_id=contact.id,
                product_id=product.id,
                amount=Decimal("990"),
                currency="RUB",
                recorded_at=at,
            )
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def h(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(workspace, database_url=url)
    harness = await Harness.open(workspace, project, clock)
    w = harness.world
    assert clock.now() == START == msk(D6, 10)
    # 6 May: Anna goes to "tell me"; Boris only starts.
    await w.contact_starts(OPEN, ANNA)
    await w.contact_says(OPEN, ANNA, "12.03.1990")
    await w.contact_says(OPEN, ANNA, "расскажи")
    await w.contact_starts(OPEN, BORIS)
    # 7 May 00:30 Moscow is still 6 May in UTC: Dan belongs to 7 May.
    clock.set(msk(D7, 0, 30))
    await w.contact_starts(OPEN, DAN)
    await w.contact_says(OPEN, DAN, "02.02.1992")
    clock.set(msk(D7, 12))
    await w.contact_blocks(OPEN, BORIS)
    await _buy(harness, DAN, msk(D7, 13))
    await _buy(harness, DAN, msk(D7, 14))
    await _buy(harness, ANNA, msk(D7, 15))
    await _buy(harness, ANNA, msk(D8, 0, 10))  # 7 May 21:10 UTC
    try:
        yield harness
    finally:
        await harness.close()


async def test_daily_key_table(h: Harness) -> None:
    async with h.engine.db.sessions() as s:
        r = await reports.daily_report(s, D6, D8, h.engine.tz, STAGES)
    assert r.stages == STAGES
    got = [
        (
            d.day,
            d.entered,
            d.active,
            d.inactive_day,
            d.inactive_total,
            [d.stages[n] for n in STAGES],
            d.bought_new,
            d.bought_total,
            d.purchases,
        )
        for d in r.days
    ]
    assert got == [
        ("2024-05-06", 2, 2, 0, 0, [1, 1, 1], 0, 0, 0),
        ("2024-05-07", 1, 2, 1, 1, [1, 1, 0], 1, 2, 3),
        ("2024-05-08", 0, 2, 0, 1, [0, 0, 0], 0, 1, 1),
    ]
    t = r.totals
    assert (t.entered, t.active, t.inactive_day, t.inactive_total) == (3, 2, 1, 1)
    assert (t.stages, t.bought_new, t.bought_total, t.purchases) == (
        {BIRTH: 2, ANALYSIS: 2, TELL: 1},
        1,
        3,
        4,
    )
    # a later range starts from what existed before it
    async with h.engine.db.sessions() as s:
        later = await reports.daily_report(s, D8, D8, h.engine.tz, [])
    assert (later.days[0].active, later.days[0].inactive_total) == (2, 1)
    headers, rows = reports.daily_table(r)
    assert headers[:5] == ["День", "Вошли", "Активные", "Отписались за день", "Неактивные всего"]
    assert headers[5:8] == STAGES and rows[-1][0] == "Итого" and len(rows) == 4


async def test_default_stages_are_the_key_tags(h: Harness) -> None:
    async with h.engine.db.sessions() as s:
        names = await reports.key_stage_names(s)
        r = await reports.daily_report(s, D6, D6, h.engine.tz)
    assert r.stages == names


async def test_messages_per_day_and_node(h: Harness) -> None:
    tz = h.engine.tz
    # a broadcast on 8 May to the two subscribers
    bot = next(c.id for c in h.engine.channels.values() if c.username == OPEN)
    h.clock.set(msk(D8, 11))
    async with h.engine.transaction() as s:
        b = await bc.create_broadcast(
            s, text="Новости", segment=bc.Segment(bot), created_by="t", now=h.clock.now()
        )
    await bc.send_now(h.engine, b.id)
    await h.settle()
    async with h.engine.db.sessions() as s:
        rows = await reports.messages_report(s, D6, D8, tz)
        for day in (D6, D7, D8):
            expected = await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.sent_at >= reports.local_midnight(day, tz),
                    OutboxMessage.sent_at < reports.local_midnight(day + timedelta(days=1), tz),
                )
            )
            assert sum(r.sent for r in rows if r.day == day.isoformat()) == expected
    d6 = [r for r in rows if r.day == "2024-05-06"]
    assert d6 and all(r.funnel_id is not None and r.node for r in d6)
    assert sum(r.sent for r in d6) > 0 and sum(r.entered for r in d6) > 0
    assert [(r.funnel, r.sent) for r in rows if r.funnel_id is None] == [("Рассылки", 2)]


async def test_audience_per_day_and_week(h: Harness) -> None:
    async with h.engine.db.sessions() as s:
        days = await reports.audience_report(s, D6, D8, h.engine.tz, "day")
        weeks = await reports.audience_report(s, D6, D8, h.engine.tz, "week")
    assert [(r.period, r.new, r.unsubscribed, r.blocked) for r in days] == [
        ("2024-05-06", 2, 0, 0),
        ("2024-05-07", 1, 0, 1),
        ("2024-05-08", 0, 0, 0),
    ]
    assert [(r.period, r.start, r.new, r.blocked) for r in weeks] == [("2024-W19", D6, 3, 1)]


async def test_people_per_bot_and_funnel_part(h: Harness) -> None:
    async with h.engine.db.sessions() as s:
        now = await reports.audience_now(s)
        live = await s.scalar(
            select(func.count()).select_from(Run).where(Run.status.in_(LIVE_RUN_STATUSES))
        )
    by_name = {b.username: b for b in now.bots}
    assert (by_name[OPEN].subscribed, by_name[OPEN].blocked, by_name[OPEN].total) == (2, 1, 3)
    assert by_name["t_paid_bot"].total == 0
    assert sum(f.contacts for f in now.funnels) == live
    assert all(n.node for f in now.funnels for n in f.nodes)


def test_periods_follow_the_time_zone() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # 31 March 2024: the clocks go forward, the day has 23 hours
    (p,) = reports.periods(date(2024, 3, 31), date(2024, 3, 31), berlin)
    assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == timedelta(hours=23)
    with pytest.raises(reports.ReportRangeError):
        reports.periods(D8, D6, berlin)
    with pytest.raises(reports.ReportRangeError):
        reports.periods(D6, D6 + timedelta(days=reports.MAX_DAYS), berlin)
