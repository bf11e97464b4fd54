"""A batch of events costs a fixed number of statements, whatever its size.

Group commit only pays when nothing is sent per event: the batch's dedup rows go in one
statement, its new runs and channel rows in one flush, its history and outbox rows in one
executemany per table, and no SAVEPOINT is taken unless an event fails. Counted with
SQLAlchemy's ``before_cursor_execute`` on SQLite and PostgreSQL; also checks that run ids
allocated before the INSERT are unique and that every event was handled once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select

from db.models import OutboxMessage, Run
from db.workspace import Workspace
from engine.project_engine import EVENT_BATCH, ProjectEngine
from tests.engine.helpers import running_engine
from tests.engine.test_group_commit import one_message_funnel, start


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, workspace: Workspace) -> Any:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    async with running_engine(workspace, [one_message_funnel()], database_url=url) as eng:
        yield eng


async def statements_for(engine: ProjectEngine, first_user: int, count: int) -> list[str]:
    """The statements one batch of ``count`` new contacts' /start sends."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper() + " " + statement[:60])

    db = engine.db
    targets = {db.engine.sync_engine, (db.writer_engine or db.engine).sync_engine}
    for target in targets:
        event.listen(target, "before_cursor_execute", record)
    try:
        # handed in together while nothing runs: the lane takes them as one batch
        results = await asyncio.gather(
            *(engine.handle(start(engine, first_user + i, first_user + i)) for i in range(count))
        )
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", record)
    assert all(r.messages == 1 and not r.duplicate for r in results)
    return seen


async def test_batch_statements_do_not_grow_with_its_size(engine: ProjectEngine) -> None:
    await engine.handle(start(engine, 1, 1))  # warm: index loaded, schema known
    small = await statements_for(engine, 10_000, 4)
    large = await statements_for(engine, 20_000, EVENT_BATCH)
    assert len(large) == len(small), (small, large)
    assert not [s for s in large if "SAVEPOINT" in s.upper()], large
    async with engine.db.sessions() as s:
        runs = (await s.scalars(select(Run.id))).all()
        outbox = await s.scalar(select(func.count()).select_from(OutboxMessage))
    assert len(runs) == len(set(runs)) == 1 + 4 + EVENT_BATCH
    assert outbox == 1 + 4 + EVENT_BATCH
