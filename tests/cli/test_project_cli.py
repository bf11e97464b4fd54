"""``main.py project``: one database per project (R13), clear errors for bad names."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from tests.cli.conftest import CliResult


def test_create_makes_the_projects_own_sqlite_database(cli, workspace_dir: Path) -> None:
    result: CliResult = cli("project", "create", "EMA")
    assert result.code == 0, result.err
    database = workspace_dir / "projects" / "ema.sqlite3"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
        (mode,) = conn.execute("pragma journal_mode").fetchone()
    assert {"contacts", "runs", "outbox", "contact_tags"} <= tables
    assert mode == "wal"

    listing = cli("project", "list")
    assert "EMA" in listing.out and str(database) in listing.out


def test_two_projects_have_two_databases(cli, workspace_dir: Path) -> None:
    assert cli("project", "create", "EMA").code == 0
    assert cli("project", "create", "Надежда").code == 0
    files = sorted(p.name for p in (workspace_dir / "projects").glob("*.sqlite3"))
    assert files == ["ema.sqlite3", "nadezhda.sqlite3"]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("EMA", "already exists"), ("ema", "already exists"), ("a/b", "'/'"), ("", "empty")],
)
def test_duplicate_or_invalid_name_is_a_clear_error(cli, name: str, fragment: str) -> None:
    assert cli("project", "create", "EMA").code == 0
    result = cli("project", "create", name)
    assert result.code == 2
    assert fragment in result.err.lower()
    assert "Traceback" not in result.err


@pytest.mark.postgres
def test_create_on_postgresql_makes_a_new_database(cli, pg_server_url: str) -> None:
    import uuid

    name = f"Pg {uuid.uuid4().hex[:8]}"
    result = cli("project", "create", name, "--database-url", pg_server_url)
    assert result.code == 0, result.err
    database = "voronka_" + name.lower().replace(" ", "_")
    listing = cli("project", "list")
    assert database in listing.out and "EMA" not in listing.out

    async def tables_and_drop() -> set[str]:
        conn = await asyncpg.connect(pg_server_url.rsplit("/", 1)[0] + "/" + database)
        try:
            rows = await conn.fetch("select tablename from pg_tables where schemaname='public'")
        finally:
            await conn.close()
        admin = await asyncpg.connect(pg_server_url)
        try:
            await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        finally:
            await admin.close()
        return {r["tablename"] for r in rows}

    assert {"contacts", "runs", "outbox"} <= asyncio.run(tables_and_drop())
