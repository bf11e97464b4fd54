"""Alembic migrations run on open, are idempotent, and match the models exactly."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from db.migrate import current_revision, head_revision, schema_differences
from db.models import Base, Contact
from db.project_database import ProjectDatabase
from db.workspace import Workspace


async def _revision(db: ProjectDatabase) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(current_revision)


async def _tables(db: ProjectDatabase) -> set[str]:
    def names(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    async with db.engine.connect() as conn:
        return await conn.run_sync(names)


def test_there_is_a_head_revision() -> None:
    assert head_revision() == "0010"


async def test_migrations_are_applied_on_open(project_db: ProjectDatabase) -> None:
    assert await _revision(project_db) == head_revision()
    assert await _tables(project_db) == set(Base.metadata.tables) | {"alembic_version"}


async def test_reopening_is_idempotent_and_keeps_data(workspace: Workspace) -> None:
    project = await workspace.create_project("EMA")
    async with (
        await workspace.open_project_db(project) as db,
        db.session() as session,
        session.begin(),
    ):
        session.add(Contact(telegram_user_id=42, first_name="Анна"))

    for _ in range(2):
        async with await workspace.open_project_db(project) as db:
            assert await _revision(db) == head_revision()
            async with db.session() as session:
                names = (await session.scalars(select(Contact.first_name))).all()
            assert names == ["Анна"]
            async with db.engine.connect() as conn:
                rows = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
            assert rows == 1


async def test_models_match_the_migrations(project_db: ProjectDatabase) -> None:
    """Autogenerate finds nothing to do: every model change comes with a migration.

    On failure, generate one: ``.venv/bin/python -m db.migrate revision -m "what changed"``.
    """
    async with project_db.engine.connect() as conn:
        diff = await conn.run_sync(schema_differences)
    assert diff == []


def test_check_command_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    from db.migrate import main

    assert main(["check"]) == 0
    assert capsys.readouterr().out == ""
