"""The demo funnels end to end: open bot, the manager's paid flow, the paid bot (R1, R6, R8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.models import (
    ContactTag,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    PersonalLink,
    Purchase,
    Run,
    RunStatus,
    Tag,
)
from db.workspace import Workspace
from engine.clock import VirtualClock
from engine.flows import rollback_apply, rollback_preview
from engine.simulation import Harness
from tests.engine.conftest import START
from tests.engine.helpers import make_project

OPEN, PAID, MGR = "t_open_bot", "t_paid_bot", "Менеджер"
ANNA, BORIS = 1001, 1002


async def _tags(h: Harness, user_id: int) -> set[str]:
    from db.models import Contact

    async with h.engine.db.sessions() as s:
        rows = await s.scalars(
            select(Tag.name)
            .join(ContactTag, ContactTag.tag_id == Tag.id)
            .join(Contact, Contact.id == ContactTag.contact_id)
            .where(Contact.telegram_user_id == user_id)
        )
        return set(rows)


async def _notes(h: Harness, kind: NotificationKind) -> int:
    async with h.engine.db.sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(Notification).where(Notification.kind == kind)
            )
            or 0
        )


async def _open_to_offer(h: Harness) -> None:
    w = h.world
    await w.contact_starts(OPEN, ANNA)
    await w.contact_says(OPEN, ANNA, "12.03.1990")
    await w.contact_says(OPEN, ANNA, "расскажи")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def h(request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock):
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(workspace, database_url=url)
    harness = await Harness.open(workspace, project, clock)
    try:
        yield harness
    finally:
        await harness.close()


async def test_paid_flow_end_to_end(h: Harness) -> None:
    w = h.world
    await _open_to_offer(h)
    texts = [e.text for e in w.received(OPEN, ANNA)]
    assert "12.03.1990" in texts[2] and "Таро" in texts[3]
    assert await _tags(h, ANNA) == {"написал дату рождения", "получил анализ", "написал расскажи"}

    await h.advance(timedelta(hours=3))
    await w.manager_says(MGR, ANNA, "Оплату за Таро получила!!")
    # the open-bot run is stopped at once (its follow-up timer included)
    async with h.engine.db.sessions() as s:
        runs = (await s.scalars(select(Run).order_by(Run.id))).all()
    assert runs[0].status is RunStatus.STOPPED and runs[0].stopped_by_run_id == runs[1].id
    assert runs[1].status is RunStatus.WAITING and runs[1].awaiting.startswith("arrival:")
    got = w.received(MGR, ANNA)
    assert len(got) == 1 and "https://t.me/t_paid_bot?start=pl-" in got[0].text
    assert await _notes(h, NotificationKind.ADMIN_MESSAGE) == 1
    link = next(line for line in got[0].text.splitlines() if line.startswith("https://"))

    # a forwarded link gives Boris nothing, admins hear about it
    await w.opens_link(BORIS, link)
    assert w.received(PAID, BORIS) == []
    assert await _notes(h, NotificationKind.FOREIGN_LINK_USE) == 1

    h.clock.advance(timedelta(hours=2))
    arrival_time = h.clock.now()
    await w.opens_link(ANNA, link)
    paid = w.received(PAID, ANNA)
    assert paid[0].button_texts() == ["Начать расклад"] and paid[0].protect_content
    async with h.engine.db.sessions() as s:
        purchase = (await s.scalars(select(Purchase))).one()
        assert purchase.recorded_at == arrival_time  # at arrival, not at the trigger (R6)
        paid_run = await s.get(Run, 2)
        assert paid_run is not None and paid_run.status is RunStatus.FINISHED
    assert {"купил", "купил Таро"} <= await _tags(h, ANNA)

    await w.press_button(PAID, ANNA, "Начать расклад")
    await w.press_button(PAID, ANNA, "Дальше")
    assert len(w.received(PAID, ANNA)) == 3

    # the same phrase again: nothing sent, "already fired" for the admins
    await w.manager_says(MGR, ANNA, "оплата за Таро получена")
    assert len(w.received(MGR, ANNA)) == 1
    assert await _notes(h, NotificationKind.ALREADY_FIRED) == 1

    opened = len(w.received(OPEN, ANNA))
    await h.advance(timedelta(days=6))
    assert len(w.received(OPEN, ANNA)) == opened  # the open bot sends nothing more (R6)
    assert (
        "Пояснения" in w.received(PAID, ANNA)[3].text
        or "Доброе утро" in w.received(PAID, ANNA)[3].text
    )
    assert w.duplicate_sends == []


async def test_lost_receipt_reminders(h: Harness) -> None:
    w = h.world
    await _open_to_offer(h)
    await w.manager_says(MGR, ANNA, "оплату за Таро получила")
    await h.advance(timedelta(hours=12))
    got = w.received(MGR, ANNA)
    assert len(got) == 2 and got[1].text.startswith("Напоминаю")
    await h.advance(timedelta(days=1))
    assert await _notes(h, NotificationKind.LOST_RECEIPT) == 1


async def test_rollback_resumes_stopped_runs_and_revokes(h: Harness) -> None:
    w = h.world
    await _open_to_offer(h)
    await w.manager_says(MGR, ANNA, "оплату за Таро получила")
    plan = await rollback_preview(h.engine, 2)
    assert [r["run_id"] for r in plan.resume_runs] == [1] and len(plan.revoke_links) == 1
    applied = await rollback_apply(h.engine, 2, actor="olga", reason="не тот продукт")
    assert applied.applied
    async with h.engine.db.sessions() as s:
        run1 = await s.get(Run, 1)
        run2 = await s.get(Run, 2)
        link = (await s.scalars(select(PersonalLink))).one()
    assert run1 is not None and run1.status is RunStatus.WAITING
    assert run2 is not None and run2.status is RunStatus.STOPPED
    assert link.revoked_at is not None
    # the resumed open-bot run continues with its follow-up the next day
    before = len(w.received(OPEN, ANNA))
    await h.advance(timedelta(days=1, hours=1))
    assert len(w.received(OPEN, ANNA)) == before + 1
    # the revoked link does nothing; the paid flow may be fired again (the mistake is undone)
    link_text = w.received(MGR, ANNA)[0].text.splitlines()[1]
    await w.opens_link(ANNA, link_text)
    assert w.received(PAID, ANNA) == []
    await w.manager_says(MGR, ANNA, "оплату за Таро получила")
    assert len(w.received(MGR, ANNA)) == 2


async def test_duplicate_update_is_handled_once(h: Harness) -> None:
    event = await h.world.contact_starts(OPEN, ANNA)
    first = len(h.world.received(OPEN, ANNA))
    result = await h.engine.handle(event)
    assert result.duplicate
    await h.settle()
    assert len(h.world.received(OPEN, ANNA)) == first
    async with h.engine.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == first
        assert (
            await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status != OutboxStatus.SENT)
            )
            == 0
        )


async def test_stale_timer_is_a_noop(h: Harness) -> None:
    from engine.events import TimerDue

    w = h.world
    await w.contact_starts(OPEN, ANNA)  # waits for the birth date (timer 1 day)
    async with h.engine.db.sessions() as s:
        run = await s.get(Run, 1)
        assert run is not None
        seen = run.lock_version
    await w.contact_says(OPEN, ANNA, "12.03.1990")  # the reply wins the race
    h.clock.advance(timedelta(days=1))
    stale = TimerDue(
        channel=h.engine.channels[1].ref,
        contact=w._contact(ANNA),
        occurred_at=h.clock.now(),
        run_id="1",
        expected_version=seen,
    )
    result = await h.engine.handle(stale)
    assert result.ignored == "stale timer"


def test_start_constant() -> None:
    assert START.tzinfo is not None
