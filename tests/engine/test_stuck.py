"""R5/R9: stuck contacts are found and the admins are told once per run and reason.

The real engine runs small robots on a virtual clock against the simulated Telegram; the
watchdog (:func:`engine.stuck.check_stuck`) is called directly at chosen moments, as the
daemon calls it every minute. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from connectors.base import SendErrorKind
from db.models import HistoryEvent, Notification, NotificationKind, Run, RunStatus
from db.workspace import Workspace
from engine import flows
from engine.clock import VirtualClock
from engine.events import ContactIdentity
from engine.simulation import Harness
from engine.stuck import StuckReason, check_stuck, find_stuck
from tests.engine.conftest import START
from tests.engine.helpers import funnel, make_project

ANNA = ContactIdentity(user_id=7001, first_name="Анна", last_name="Смирнова", username="anna_s")
BORIS = ContactIdentity(user_id=7002, first_name="Борис")
OPEN = "t_open_bot"


def waiting_robot() -> object:
    return funnel(
        "Ожидание",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Привет": ("message", {"text": "Привет! Через час напишу ещё."}),
            "Пауза": ("delay", {"duration": {"seconds": 3600}}),
            "Через час": ("message", {"text": "Прошёл час"}),
            "Конец": ("end", {}),
        },
        [
            ("Старт", "next", "Привет"),
            ("Привет", "next", "Пауза"),
            ("Пауза", "next", "Через час"),
            ("Через час", "next", "Конец"),
        ],
    )


def broken_robot() -> object:
    return funnel(
        "Сломанная",
        {
            "Слово": ("trigger.contact_keyword", {"phrases": ["сломай"]}),
            "Переход": ("goto_funnel", {"funnel": "Нет такой"}),
        },
        [("Слово", "next", "Переход")],
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def harness(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(
        workspace,
        [waiting_robot(), broken_robot()],  # type: ignore[list-item]
        database_url=url,
    )
    opened = await Harness.open(workspace, project, clock)
    try:
        yield opened
    finally:
        await opened.close()


async def stuck_notifications(h: Harness) -> list[Notification]:
    async with h.engine.db.sessions() as s:
        found = await s.scalars(
            select(Notification)
            .where(Notification.kind == NotificationKind.STUCK_CONTACT)
            .order_by(Notification.id)
        )
        return list(found)


async def test_an_overdue_timer_raises_one_notification(harness: Harness) -> None:
    h = harness
    await h.world.contact_starts(OPEN, ANNA)
    await h.settle()
    [run] = await h.runs_of(await h.contact_id(ANNA.user_id) or 0)
    assert run.node == "Пауза" and run.status == "waiting"
    due = START + timedelta(hours=1)

    # The timer loop is not run here: the timer stays overdue, as if timers stalled.
    round_ = await check_stuck(h.engine, now=due + timedelta(minutes=10))
    assert round_.stuck == [] and round_.raised == []  # 10 minutes late is not stuck yet

    round_ = await check_stuck(h.engine, now=due + timedelta(minutes=20))
    [stuck] = round_.stuck
    assert (stuck.run_id, stuck.reason, stuck.node, stuck.funnel) == (
        run.id, StuckReason.TIMER_OVERDUE, "Пауза", "Ожидание",
    )  # fmt: skip
    assert stuck.since == due and stuck.who == "Анна Смирнова (@anna_s)"
    [note] = await stuck_notifications(h)
    assert round_.raised == [note.id]
    assert note.run_id == run.id and note.resolved_at is None
    assert note.details["reason"] == "timer_overdue" and note.details["run_id"] == run.id
    assert "«Пауза»" in note.text and "«Ожидание»" in note.text and "Анна" in note.text
    assert "06.05.2024 11:00" in note.text  # the due time in the project's time zone
    async with h.engine.db.sessions() as s:
        told = await s.scalars(
            select(HistoryEvent.details).where(
                HistoryEvent.kind == "notification", HistoryEvent.run_id == run.id
            )
        )
        assert [d["notification"] for d in told] == ["stuck_contact"]

    # A second pass (and a third) finds the same run: no second notification.
    for minutes in (21, 40):
        again = await check_stuck(h.engine, now=due + timedelta(minutes=minutes))
        assert [s.run_id for s in again.stuck] == [run.id] and again.raised == []
    assert len(await stuck_notifications(h)) == 1

    # Just after a start the timer loop is still catching up: overdue timers are not
    # looked at (and the notification raised before stays as it is).
    fresh = await check_stuck(
        h.engine, now=due + timedelta(minutes=41), started_at=due + timedelta(minutes=35)
    )
    assert fresh.stuck == [] and fresh.raised == fresh.resolved == []

    # The timer finally fires: the contact moves on and the watchdog resolves its note.
    h.clock.set(due + timedelta(minutes=42))
    await h.settle()
    [moved_on] = await h.runs_of(await h.contact_id(ANNA.user_id) or 0)
    assert moved_on.status == "finished"
    after = await check_stuck(h.engine, now=due + timedelta(minutes=43))
    assert after.stuck == [] and after.resolved == [note.id]
    [note] = await stuck_notifications(h)
    assert note.resolved_by == "watchdog"


async def test_a_failed_run_is_listed_and_notified_once(harness: Harness) -> None:
    h = harness
    await h.world.contact_starts(OPEN, BORIS)  # a live run besides, not stuck
    await h.world.contact_says(OPEN, BORIS, "сломай")
    await h.settle()
    contact_id = await h.contact_id(BORIS.user_id)
    assert contact_id is not None
    failed = [r for r in await h.runs_of(contact_id) if r.status == "failed"]
    assert [r.funnel for r in failed] == ["Сломанная"]

    async with h.engine.db.sessions() as s:
        [stuck] = await find_stuck(s, h.clock.now())
    assert (stuck.run_id, stuck.reason, stuck.node, stuck.status) == (
        failed[0].id, StuckReason.RUN_FAILED, "Переход", "failed",
    )  # fmt: skip
    assert "Нет такой" in stuck.detail and stuck.contact_id == contact_id
    assert stuck.to_dict()["reason"] == "run_failed"

    first = await check_stuck(h.engine)
    assert len(first.raised) == 1
    assert (await check_stuck(h.engine)).raised == []
    [note] = await stuck_notifications(h)
    assert "остановился с ошибкой" in note.text and "Нет такой" in note.text

    # Resolved by staff while the run is still failed: the same failure is not told again.
    async with h.engine.db.sessions() as s, s.begin():
        await s.execute(
            update(Notification)
            .where(Notification.id == note.id)
            .values(resolved_at=h.clock.now(), resolved_by="staff:olga")
        )
    assert (await check_stuck(h.engine)).raised == []

    # Staff move the contact back onto the broken step: the run fails again there.
    h.clock.set(h.clock.now() + timedelta(minutes=5))
    await flows.move_run(h.engine, failed[0].id, "Переход", actor="olga")
    async with h.engine.db.sessions() as s:
        status = await s.scalar(select(Run.status).where(Run.id == failed[0].id))
    assert status is RunStatus.FAILED  # the same step fails again: a new occurrence…
    async with h.engine.db.sessions() as s:
        [again] = await find_stuck(s, h.clock.now())
    assert again.run_id == failed[0].id and again.mark != stuck.mark
    second = await check_stuck(h.engine)
    assert len(second.raised) == 1  # …which is told once more


async def test_a_restarted_failed_run_is_no_longer_stuck(harness: Harness) -> None:
    h = harness
    await h.world.contact_says(OPEN, BORIS, "сломай")
    await h.settle()
    contact_id = await h.contact_id(BORIS.user_id)
    [failed] = await h.runs_of(contact_id or 0)
    await check_stuck(h.engine)
    new_run = await flows.restart_run(h.engine, failed.id, actor="olga")
    assert new_run is not None and new_run != failed.id
    async with h.engine.db.sessions() as s:
        now_stuck = await find_stuck(s, h.clock.now())
    assert [s.run_id for s in now_stuck] == [new_run]  # it failed again, the old one is gone
    round_ = await check_stuck(h.engine)
    assert len(round_.raised) == 1 and len(round_.resolved) == 1


async def test_a_message_that_did_not_arrive_leaves_the_contact_stuck(harness: Harness) -> None:
    h = harness
    h.world.fail_next(OPEN, SendErrorKind.BAD_REQUEST, description="Bad Request: wrong markup")
    await h.world.contact_starts(OPEN, ANNA)
    await h.settle()
    h.world.fail_next(OPEN, SendErrorKind.BLOCKED, description="Forbidden: bot was blocked")
    await h.world.contact_starts(OPEN, BORIS)
    await h.settle()
    anna = await h.contact_id(ANNA.user_id)

    async with h.engine.db.sessions() as s:
        [stuck] = await find_stuck(s, h.clock.now())  # Борис blocked the bot: not stuck
    assert stuck.reason is StuckReason.SEND_FAILED and stuck.contact_id == anna
    assert stuck.node == "Пауза" and "wrong markup" in stuck.detail
    assert stuck.outbox_id is not None and stuck.mark == f"outbox:{stuck.outbox_id}"
    round_ = await check_stuck(h.engine)
    [note] = await stuck_notifications(h)
    assert round_.raised == [note.id] and note.details["outbox_id"] == stuck.outbox_id
    assert "не дошло" in note.text
    assert (await check_stuck(h.engine)).raised == []

    # Staff move Анна on and the next message arrives: not stuck any more.
    await flows.move_run(h.engine, stuck.run_id, "Через час", actor="olga")
    await h.settle()
    after = await check_stuck(h.engine)
    assert after.stuck == [] and after.resolved == [note.id]
