"""Each project has its own SQLite file, in WAL mode, with the PRAGMAs on every connection."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import text

from db.connect import SQLITE_BUSY_TIMEOUT_MS
from db.models import Contact
from db.workspace import Workspace


async def test_each_project_gets_its_own_sqlite_file(workspace: Workspace) -> None:
    ema = await workspace.create_project("EMA")
    nadezhda = await workspace.create_project("Надежда")

    files = sorted(p.name for p in workspace.projects_dir.glob("*.sqlite3"))

    assert files == ["ema.sqlite3", "nadezhda.sqlite3"]
    assert ema.database_url.endswith("/projects/ema.sqlite3")
    assert nadezhda.database_url != ema.database_url
    assert (workspace.directory / "workspace.sqlite3").exists()


async def test_the_file_is_in_wal_mode(workspace: Workspace) -> None:
    await workspace.create_project("EMA")
    # Checked with the plain sqlite3 module: WAL is a property of the file, not of our engine.
    with sqlite3.connect(workspace.projects_dir / "ema.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_pragmas_are_set_on_every_pooled_connection(workspace: Workspace) -> None:
    db = await workspace.open_project_db(await workspace.create_project("EMA"))
    try:

        async def pragmas() -> tuple[object, ...]:
            async with db.engine.connect() as conn:
                values = []
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
                    values.append((await conn.execute(text(f"PRAGMA {name}"))).scalar_one())
                await asyncio.sleep(0.05)  # hold the connection so the others need their own
                return tuple(values)

        # Several connections at once, so the pool has to open more than one.
        results = await asyncio.gather(*(pragmas() for _ in range(4)))
    finally:
        await db.dispose()

    assert set(results) == {("wal", 1, SQLITE_BUSY_TIMEOUT_MS, 1)}  # synchronous 1 = NORMAL


async def test_a_transaction_reads_one_snapshot(workspace: Workspace) -> None:
    """Our BEGIN handling: the sqlite3 driver alone would not open a transaction before a
    SELECT, so a second read in the "same" transaction would see another writer's commit."""
    db = await workspace.open_project_db(await workspace.create_project("EMA"))
    count = text("SELECT count(*) FROM contacts")
    try:
        async with db.engine.connect() as reader, reader.begin():
            assert (await reader.execute(count)).scalar_one() == 0
            async with db.session() as writer, writer.begin():
                writer.add(Contact(telegram_user_id=1))
            assert (await reader.execute(count)).scalar_one() == 0
        async with db.engine.connect() as reader:
            assert (await reader.execute(count)).scalar_one() == 1
    finally:
        await db.dispose()
