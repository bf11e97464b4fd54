"""A PostgreSQL project URL with a password is never stored in clear in the registry.

New projects store it encrypted with the workspace's key; a registry written by an older
version (password in clear) is sealed when the workspace is opened. The project still
opens and is dropped with its database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from db import postgres
from db.registry import ProjectRecord
from db.workspace import SEALED_PREFIX, Workspace

from .conftest import unique_name

PASSWORD = "s3cret-Parol-42"


def with_password(server_url: str) -> str:
    # the test server trusts local connections, so any password is accepted
    return make_url(server_url).set(password=PASSWORD).render_as_string(hide_password=False)


def registry_bytes(workspace: Workspace) -> bytes:
    return b"".join(
        p.read_bytes() for p in Path(workspace.directory).glob("workspace.sqlite3*") if p.is_file()
    )


@pytest.mark.postgres
async def test_password_sealed_and_project_usable(tmp_path: Path, pg_server_url: str) -> None:
    workspace = await Workspace.open(tmp_path / "ws")
    try:
        project = await workspace.create_project(
            unique_name("Тайна"), database_url=with_password(pg_server_url)
        )
        assert make_url(project.database_url).password == PASSWORD
        assert PASSWORD.encode() not in registry_bytes(workspace)
        async with await workspace.open_project_db(project.name) as db:
            assert db.dialect == "postgresql"

        # as an older version left it: the URL in clear — sealed at the next open
        async with workspace._sessions() as session, session.begin():
            await session.execute(
                update(ProjectRecord)
                .where(ProjectRecord.id == project.id)
                .values(database_location=project.database_url)
            )
        assert PASSWORD.encode() in registry_bytes(workspace)
        await workspace.close()
        workspace = await Workspace.open(tmp_path / "ws")
        async with workspace._sessions() as session:
            stored = await session.get(ProjectRecord, project.id)
        assert stored is not None and stored.database_location.startswith(SEALED_PREFIX)
        assert PASSWORD.encode() not in registry_bytes(workspace)  # no copy left behind
        reopened = await workspace.get_project(project.name)
        assert reopened.database_url == project.database_url

        await workspace.delete_project(project.name)
        name = make_url(project.database_url).database or ""
        assert not await postgres.database_exists(pg_server_url, name)
    finally:
        await workspace.close()


@pytest.mark.postgres
async def test_url_without_password_stays_readable(tmp_path: Path, pg_server_url: str) -> None:
    workspace = await Workspace.open(tmp_path / "ws")
    try:
        project = await workspace.create_project(unique_name("Открыто"), database_url=pg_server_url)
        async with workspace._sessions() as session:
            stored = await session.get(ProjectRecord, project.id)
        assert stored is not None and stored.database_location == project.database_url
        assert not (Path(workspace.directory) / "secret.key").exists()  # no key needed
        await workspace.delete_project(project.name)
    finally:
        await workspace.close()
