"""Fixtures of the db tests: a throw-away workspace and an open project database per backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.project_database import ProjectDatabase
from db.registry import DatabaseKind
from db.secrets import SECRET_KEY_ENV
from db.workspace import WORKSPACE_ENV, Workspace

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def unique_name(prefix: str = "Test") -> str:
    """A project name no other test (or earlier run on the same server) uses."""
    return f"{prefix} {uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


@pytest.fixture
async def workspace(workspace_dir: Path) -> AsyncIterator[Workspace]:
    """A fresh workspace; PostgreSQL databases its projects created are dropped afterwards."""
    ws = await Workspace.open(workspace_dir)
    try:
        yield ws
    finally:
        for project in await ws.list_projects():
            if project.database_kind is DatabaseKind.POSTGRESQL:
                await ws.delete_project(project.name)
        await ws.close()


@pytest.fixture(params=BACKENDS)
async def project_db(
    request: pytest.FixtureRequest, workspace: Workspace
) -> AsyncIterator[ProjectDatabase]:
    """An open, migrated project database on SQLite and on PostgreSQL."""
    server_url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await workspace.create_project(unique_name(), database_url=server_url)
    database = await workspace.open_project_db(project)
    try:
        yield database
    finally:
        await database.dispose()
