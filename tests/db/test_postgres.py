"""Projects on a PostgreSQL server: each gets its own database, migrated on creation."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from db import postgres
from db.errors import DatabaseExistsError, DatabaseServerError
from db.migrate import head_revision
from db.models import Contact
from db.naming import slugify
from db.registry import DatabaseKind
from db.workspace import Workspace

from .conftest import unique_name


@pytest.mark.postgres
async def test_a_project_gets_its_own_database(workspace: Workspace, pg_server_url: str) -> None:
    project = await workspace.create_project(unique_name("Надежда"), database_url=pg_server_url)
    database = postgres.project_database_name(project.slug)

    assert project.database_kind is DatabaseKind.POSTGRESQL
    assert project.database_url.startswith("postgresql+asyncpg://")
    assert project.database_url.endswith(f"/{database}")
    assert project.slug.startswith("nadezhda-")
    assert await postgres.database_exists(pg_server_url, database)
    assert not list(workspace.projects_dir.iterdir())  # no SQLite file

    async with await workspace.open_project_db(project.name) as db:
        assert db.dialect == "postgresql"
        async with db.session() as session, session.begin():
            session.add(Contact(telegram_user_id=9_876_543_210, first_name="Надежда"))
        async with db.session() as session:
            contact = await session.scalar(select(Contact))
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    assert contact is not None and contact.telegram_user_id == 9_876_543_210
    assert revision == head_revision()

    await workspace.delete_project(project.name)
    assert not await postgres.database_exists(pg_server_url, database)


@pytest.mark.postgres
async def test_an_existing_database_is_a_clear_error(
    workspace: Workspace, pg_server_url: str
) -> None:
    name = unique_name("Clash")
    database = postgres.project_database_name(slugify(name))
    await postgres.create_database(pg_server_url, database)
    try:
        with pytest.raises(DatabaseExistsError, match=database):
            await workspace.create_project(name, database_url=pg_server_url)
        assert await workspace.list_projects() == []
    finally:
        await postgres.drop_database(pg_server_url, database)


async def test_unreachable_server_is_a_clear_error(workspace: Workspace) -> None:
    """Needs no server: nothing listens on port 1."""
    with pytest.raises(DatabaseServerError, match="cannot connect"):
        await workspace.create_project(
            "EMA", database_url="postgresql://postgres@127.0.0.1:1/postgres"
        )
    assert await workspace.list_projects() == []
