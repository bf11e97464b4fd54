"""The engine's inline SQLite writer (db/connect.py ``create_sqlite_writer_engine``).

Its statements run on the event loop's thread; only ``BEGIN IMMEDIATE`` may wait — for a
write lock held by another connection — and that wait happens in a worker thread, so the
loop keeps running. Once the other writer commits, the transaction goes through.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from db.connect import sqlite_url
from db.project_database import ProjectDatabase


async def test_waiting_for_the_write_lock_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    db = await ProjectDatabase.open(sqlite_url(path))
    try:
        assert db.writer_engine is not None
        async with db.writer_sessions() as s, s.begin():
            await s.execute(text("CREATE TABLE t (x INTEGER)"))

        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        other.execute("INSERT INTO t VALUES (1)")

        async def write() -> None:
            async with db.writer_sessions() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (2)"))

        task = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the writer waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not task.done()
        other.execute("COMMIT")
        await asyncio.wait_for(task, timeout=10)
        other.close()

        async with db.sessions() as s:
            values = (await s.scalars(text("SELECT x FROM t ORDER BY x"))).all()
        assert values == [1, 2]
    finally:
        await db.dispose()


async def test_in_memory_database_has_no_second_engine() -> None:
    db = await ProjectDatabase.open("sqlite+aiosqlite:///:memory:", migrate=False)
    try:
        assert db.writer_engine is None and db.writer_sessions is db.sessions
    finally:
        await db.dispose()
