"""Group commit: events handed in together share one transaction.

A failing event rolls back alone (its caller gets the error, its update is not marked
processed, so a redelivery works), the others commit; a contact's events keep their order;
a duplicate in the same batch is recognised. Runs on SQLite and, when reachable, on
PostgreSQL. The failure is real: a database trigger refuses one contact's rows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from db.models import Contact, HistoryEvent, OutboxMessage, ProcessedUpdate, Run
from db.project_database import ProjectDatabase
from db.workspace import Workspace
from engine import events as ev
from engine.project_engine import ProjectEngine
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, running_engine

BAD_USER = 666_000


def one_message_funnel() -> FunnelDocument:
    return funnel(
        "Группа",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Привет": ("message", {"text": "Здравствуйте, {{first_name}}!"}),
        },
        [("Старт", "next", "Привет")],
        bot_role="open",
    )


async def refuse_contact(db: ProjectDatabase, user_id: int) -> None:
    """A trigger that makes any contact_channels row of that contact fail to insert."""
    async with db.sessions() as s, s.begin():
        if db.dialect == "sqlite":
            await s.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON contact_channels "
                    "WHEN NEW.contact_id = (SELECT id FROM contacts "
                    f"WHERE telegram_user_id = {user_id}) "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            await s.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.contact_id = (SELECT id FROM contacts "
                    f"WHERE telegram_user_id = {user_id}) THEN "
                    "RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            await s.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON contact_channels "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


async def allow_all(db: ProjectDatabase) -> None:
    async with db.sessions() as s, s.begin():
        await s.execute(
            text("DROP TRIGGER refuse" + ("" if db.dialect == "sqlite" else " ON contact_channels"))
        )


def start(engine: ProjectEngine, user_id: int, update_id: int) -> ev.Start:
    bot = engine.bot_by_role("open")
    assert bot is not None
    return ev.Start(
        channel=bot.ref,
        contact=ev.ContactIdentity(user_id=user_id, first_name=f"U{user_id}"),
        occurred_at=datetime.now(UTC),
        update_id=update_id,
        message_id=1,
    )


def message(engine: ProjectEngine, user_id: int, update_id: int, body: str) -> ev.ContactMessage:
    bot = engine.bot_by_role("open")
    assert bot is not None
    return ev.ContactMessage(
        channel=bot.ref,
        contact=ev.ContactIdentity(user_id=user_id, first_name=f"U{user_id}"),
        occurred_at=datetime.now(UTC),
        update_id=update_id,
        message_id=update_id,
        text=body,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, workspace: Workspace) -> Any:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    async with running_engine(workspace, [one_message_funnel()], database_url=url) as eng:
        yield eng


async def count(db: ProjectDatabase, model: Any, *where: Any) -> int:
    async with db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_one_bad_event_rolls_back_alone(engine: ProjectEngine) -> None:
    db = engine.db
    await refuse_contact(db, BAD_USER)
    users = [700_001, 700_002, BAD_USER, 700_003, 700_004]
    outcomes = await asyncio.gather(
        *(engine.handle(start(engine, u, 5000 + i)) for i, u in enumerate(users)),
        return_exceptions=True,
    )
    failed = [u for u, o in zip(users, outcomes, strict=True) if isinstance(o, BaseException)]
    assert failed == [BAD_USER], outcomes
    assert "injected failure" in str(outcomes[2])
    # the others committed: a run and an outbox row each
    assert await count(db, OutboxMessage) == 4
    assert await count(db, Run) == 4
    # nothing of the bad event is left: no run, no history of it, no processed update
    async with db.sessions() as s:
        bad = await s.scalar(select(Contact.id).where(Contact.telegram_user_id == BAD_USER))
    assert await count(db, HistoryEvent, HistoryEvent.contact_id == bad) == 0
    assert await count(db, ProcessedUpdate, ProcessedUpdate.update_id == 5002) == 0

    # redelivered once the fault is gone: handled exactly once
    await allow_all(db)
    result = await engine.handle(start(engine, BAD_USER, 5002))
    assert not result.duplicate and result.messages == 1
    assert (await engine.handle(start(engine, BAD_USER, 5002))).duplicate
    assert await count(db, OutboxMessage) == 5


async def test_contact_order_and_duplicates_in_one_batch(engine: ProjectEngine) -> None:
    db = engine.db
    await engine.handle(start(engine, 800_001, 1))  # the contact exists, a run finished
    texts = [f"сообщение {n}" for n in range(6)]
    events: list[ev.Event] = []
    for n, body in enumerate(texts):
        events.append(message(engine, 800_001, 100 + n, body))
        events.append(start(engine, 810_000 + n, 200 + n))  # other contacts in between
    events.append(message(engine, 800_001, 100, texts[0]))  # a redelivered update
    results = await asyncio.gather(*(engine.handle(e) for e in events))
    assert [r.duplicate for r in results] == [False] * 12 + [True]
    async with db.sessions() as s:
        contact = await s.scalar(select(Contact.id).where(Contact.telegram_user_id == 800_001))
        seen = (
            await s.scalars(
                select(HistoryEvent.details)
                .where(HistoryEvent.contact_id == contact, HistoryEvent.kind == "contact.message")
                .order_by(HistoryEvent.id)
            )
        ).all()
    assert [d["text"] for d in seen] == texts
    assert await count(db, OutboxMessage) == 7  # the first /start + six new contacts
