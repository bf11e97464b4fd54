"""Re-entry decided from a batch's bulk reads (``ContactHint``) matches the rules.

In a batch of several contacts, a returning contact's runs are not queried per event:
the batch reads which funnels each contact kept runs of (not rolled back) and its live
runs. These cases hand each returning contact's event in together with a newcomer's,
so the batch path decides: "once" refuses after a finished run, a rolled-back run does
not count, "not while active" refuses while a run waits and allows once it finished.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Contact, HistoryEvent, Run
from db.workspace import Workspace
from engine import flows
from engine.project_engine import HandleResult, ProjectEngine
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, running_engine
from tests.engine.test_group_commit import message, start


def once_funnel() -> FunnelDocument:
    return funnel(
        "Однажды",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Привет": ("message", {"text": "Один раз"}),
        },
        [("Старт", "next", "Привет")],
        bot_role="open",
        reentry="once",
    )


def waiting_funnel() -> FunnelDocument:
    return funnel(
        "Ждём",
        {
            "Слово": ("trigger.start", {"bot_role": "open", "payload": "anketa"}),
            "Вопрос": ("message", {"text": "Как вас зовут?"}),
            "Ответ": ("wait_reply", {}),
            "Спасибо": ("message", {"text": "Спасибо"}),
        },
        [("Слово", "next", "Вопрос"), ("Вопрос", "next", "Ответ"), ("Ответ", "other", "Спасибо")],
        bot_role="open",
        reentry="not_while_active",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, workspace: Workspace) -> Any:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    async with running_engine(
        workspace, [once_funnel(), waiting_funnel()], database_url=url
    ) as eng:
        yield eng


class Updates:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


async def with_newcomer(
    engine: ProjectEngine, event: Any, newcomer: int, nxt: Updates
) -> HandleResult:
    """Hand ``event`` in together with a newcomer's /start: one batch of two."""
    result, other = await asyncio.gather(
        engine.handle(event), engine.handle(start(engine, newcomer, nxt()))
    )
    assert other.messages == 1  # the newcomer got "Один раз"
    return result


async def refusals(engine: ProjectEngine, user_id: int, funnel_name: str) -> list[str]:
    async with engine.db.sessions() as s:
        contact = await s.scalar(select(Contact.id).where(Contact.telegram_user_id == user_id))
        rows = await s.scalars(
            select(HistoryEvent.details)
            .where(HistoryEvent.contact_id == contact, HistoryEvent.kind == "trigger.refused")
            .order_by(HistoryEvent.id)
        )
        return [d["policy"] for d in rows if d["funnel"] == funnel_name]


async def test_once_and_rolled_back_in_a_batch(engine: ProjectEngine) -> None:
    nxt = Updates()
    anna = 1001
    first = await engine.handle(start(engine, anna, nxt()))
    assert first.messages == 1
    again = await with_newcomer(engine, start(engine, anna, nxt()), 2001, nxt)
    assert again.messages == 0 and not again.started
    assert await refusals(engine, anna, "Однажды") == ["once"]

    await flows.rollback_apply(engine, first.started[0], actor="staff:olga", reason="ошибка")
    after = await with_newcomer(engine, start(engine, anna, nxt()), 2002, nxt)
    assert after.messages == 1 and len(after.started) == 1  # the rolled-back run does not count
    third = await with_newcomer(engine, start(engine, anna, nxt()), 2003, nxt)
    assert third.messages == 0 and await refusals(engine, anna, "Однажды") == ["once", "once"]


async def test_not_while_active_and_reply_in_a_batch(engine: ProjectEngine) -> None:
    nxt = Updates()
    boris = 1002

    def anketa() -> Any:
        event = start(engine, boris, nxt())
        return event.model_copy(update={"payload": "anketa"})

    asked = await with_newcomer(engine, anketa(), 3001, nxt)
    waiting = [r for r in asked.started]
    assert len(waiting) == 2  # "Однажды" (any /start) and "Ждём"
    # the same link again while "Ждём" waits for the reply: refused, nothing sent
    busy = await with_newcomer(engine, anketa(), 3002, nxt)
    assert busy.messages == 0 and not busy.started
    assert await refusals(engine, boris, "Ждём") == ["active"]
    # the reply resumes the waiting run (found among the batch's live runs)
    reply = await with_newcomer(engine, message(engine, boris, nxt(), "Борис"), 3003, nxt)
    assert reply.messages == 1 and not reply.started  # "Спасибо"
    async with engine.db.sessions() as s:
        runs = (await s.scalars(select(Run).where(Run.id.in_(waiting)))).all()
        assert {r.status.value for r in runs} == {"finished"}
    # finished: the link starts "Ждём" again
    again = await with_newcomer(engine, anketa(), 3004, nxt)
    assert again.messages == 1 and len(again.started) == 1
    assert await refusals(engine, boris, "Ждём") == ["active"]
