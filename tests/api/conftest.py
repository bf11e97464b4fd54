"""Fixtures of the engine API tests: the real app over a temp workspace with the demo
project, a second project, and staff users of every role.

The ``api`` fixture runs on the backend its test is parametrised with (default SQLite):
modules marked ``pytestmark = both_backends`` run every test twice, once with the demo
project's database on SQLite and once on PostgreSQL (``pg_server_url``: skipped locally
without a server, failing under CI=true). Every 2xx answer is recorded as (backend, method,
route template) in :data:`ROUTE_HITS`; ``test_route_coverage.py`` (run last) checks that
every route of the app got one on both backends.

The workspace (registry, users, tokens, SQLite projects) is built once per session and
copied for each test: scrypt hashing and migrations would otherwise dominate the suite.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.engine import make_url

from db.postgres import database_url_on_server
from db.registry import DatabaseKind, ProjectRecord
from db.secrets import SECRET_KEY_ENV
from db.staff import StaffDirectory, StaffRole, ensure_admin
from db.workspace import WORKSPACE_ENV, Project
from engine.api import create_app
from engine.demo_setup import DEMO_PROJECT_NAME, install_demo_project
from engine.service import WorkspaceService

PASSWORD = "correct horse battery"
LOGINS = ("admin", "editor", "viewer", "outsider")
OTHER_NAME = "Второй"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
both_backends = pytest.mark.parametrize("api", BACKENDS, indirect=True)
"""Mark a module (``pytestmark = both_backends``) to run each test on SQLite and PostgreSQL."""

WORKSPACE = "workspace"
"""The backend label of routes outside a project (the registry is always SQLite)."""

ROUTE_HITS: set[tuple[str, str, str]] = set()
"""(backend, method, route template) that answered 2xx during this session."""

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Asgi = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    service: WorkspaceService
    demo: Project
    other: Project
    tokens: dict[str, str] = field(default_factory=dict)
    backend: str = "sqlite"

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @property
    def p(self) -> str:
        """URL prefix of the demo project."""
        return f"/projects/{self.demo.slug}"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


def route_template(scope: Scope) -> str | None:
    """The path template of the route that handled ``scope`` (full, routers included)."""
    context = scope.get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def recording(app: FastAPI, service: WorkspaceService) -> Asgi:
    """``app`` wrapped to add (backend, method, template) of each 2xx answer to ROUTE_HITS."""
    kinds: dict[str, str] = {}

    async def backend(slug: str) -> str | None:
        if slug not in kinds:
            project = await service.workspace.find_project(slug)
            if project is None:
                return None
            kinds[slug] = project.database_kind.value
        return kinds[slug]

    async def wrapped(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await app(scope, receive, capture)
        template = route_template(scope)
        if scope["type"] != "http" or not 200 <= status < 300 or template is None:
            return
        slug = (scope.get("path_params") or {}).get("project")
        kind = WORKSPACE if slug is None else await backend(str(slug))
        if kind is not None:
            ROUTE_HITS.add((kind, scope["method"], template))

    return wrapped


async def _add_staff(service: WorkspaceService, other: Project) -> dict[str, str]:
    await ensure_admin(service.workspace, "admin", PASSWORD)
    staff = StaffDirectory(service.workspace)
    await staff.create_user("editor", PASSWORD, StaffRole.EDITOR)
    await staff.create_user("viewer", PASSWORD, StaffRole.VIEWER)
    # An editor of the other project only: no access to the demo project.
    await staff.create_user("outsider", PASSWORD, StaffRole.EDITOR, projects={other.id})
    tokens = {}
    for login in LOGINS:
        user = await staff.find_user(login)
        assert user is not None
        tokens[login], _ = await staff.issue_token(user.id, "test")
    return tokens


async def build_api(
    directory: Path, *, database_url: str | None = None, stats_interval: float = 0.05
) -> tuple[Api, WorkspaceService]:
    """Build a workspace from scratch (the ``api`` fixture copies a prebuilt one)."""
    service = await WorkspaceService.open(str(directory))
    demo = await install_demo_project(service.workspace)
    other = await service.workspace.create_project(OTHER_NAME, database_url=database_url)
    app = create_app(service, stats_interval=stats_interval)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    api = Api(app, client, service, demo, other)
    api.tokens = await _add_staff(service, other)
    return api, service


async def _build_template(directory: Path) -> None:
    """A workspace with the second project, the staff users (tokens in tokens.json) and, in
    ``directory/full``, the SQLite demo project too; ``directory/base`` lacks the demo."""
    service = await WorkspaceService.open(str(directory / "base"))
    try:
        other = await service.workspace.create_project(OTHER_NAME)
        tokens = await _add_staff(service, other)
    finally:
        await service.close()
    (directory / "tokens.json").write_text(json.dumps(tokens))
    shutil.copytree(directory / "base", directory / "full")
    service = await WorkspaceService.open(str(directory / "full"))
    try:
        await install_demo_project(service.workspace)
    finally:
        await service.close()


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("api-template")
    _in_thread(_build_template(directory))
    return directory


async def _drop_postgres_projects(service: WorkspaceService, api_state: Any) -> None:
    """Close every connection to the projects' databases, then drop those on PostgreSQL."""
    for engine in list(api_state._engines.values()):
        await engine.db.dispose()
    for database in service._databases.values():
        await database.dispose()
    service._databases.clear()
    for project in await service.workspace.list_projects():
        if project.database_kind is DatabaseKind.POSTGRESQL:
            await service.workspace.delete_project(project.slug)


@dataclass(frozen=True)
class PgTemplate:
    """A migrated, seeded demo database on the PostgreSQL server, copied for each test
    (CREATE DATABASE … TEMPLATE takes a fraction of migrating and seeding anew)."""

    server_url: str
    database: str
    workspace: Path  # the base workspace plus the demo project on ``database``


async def _build_pg_template(base: Path, directory: Path, server_url: str) -> str:
    shutil.copytree(base, directory)
    service = await WorkspaceService.open(str(directory))
    try:
        demo = await install_demo_project(
            service.workspace, f"Демо {secrets.token_hex(4)}", database_url=server_url
        )
    finally:
        await service.close()
    database = make_url(demo.database_url).database
    assert database is not None
    return database


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    # A session fixture may be first requested inside a running event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def pg_template(api_template: Path, pg_server_url: str) -> Iterator[PgTemplate]:
    directory = api_template / "pg"
    database = _in_thread(_build_pg_template(api_template / "base", directory, pg_server_url))
    try:
        yield PgTemplate(pg_server_url, database, directory)
    finally:
        _in_thread(_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def _demo_copy(template: PgTemplate, service: WorkspaceService) -> Project:
    """Point the copied workspace's demo project at a fresh copy of the template database
    (a unique name: other test runs may use the same server at the same time)."""
    copy = f"{template.database}_{secrets.token_hex(4)}"
    await _admin(template.server_url, f'CREATE DATABASE "{copy}" TEMPLATE "{template.database}"')
    url = database_url_on_server(template.server_url, copy).render_as_string(hide_password=False)
    demo = next(
        p
        for p in await service.workspace.list_projects()
        if p.database_kind is DatabaseKind.POSTGRESQL
    )
    async with service.workspace.registry_engine.begin() as connection:
        await connection.execute(
            update(ProjectRecord).where(ProjectRecord.id == demo.id).values(database_location=url)
        )
    return await service.workspace.get_project(demo.slug)


@pytest.fixture
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, api_template: Path
) -> AsyncIterator[Api]:
    backend = getattr(request, "param", "sqlite")
    template: PgTemplate | None = None
    if backend == "postgresql":
        template = request.getfixturevalue("pg_template")
    directory = tmp_path / "ws"
    shutil.copytree(api_template / "full" if template is None else template.workspace, directory)
    service = await WorkspaceService.open(str(directory))
    app = create_app(service, stats_interval=0.05)
    try:
        other = await service.workspace.get_project(OTHER_NAME)
        if template is None:
            demo = await service.workspace.get_project(DEMO_PROJECT_NAME)
        else:
            demo = await _demo_copy(template, service)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=recording(app, service)), base_url="http://api"
        )
        tokens = json.loads((api_template / "tokens.json").read_text())
        built = Api(app, client, service, demo, other, tokens, backend)
        try:
            yield built
        finally:
            await client.aclose()
    finally:
        try:
            await _drop_postgres_projects(service, app.state.api)
        finally:
            await service.close()


# --- route coverage bookkeeping (see test_route_coverage.py) ---------------------------

API_DIR = Path(__file__).parent
DESELECTED: list[str] = []
FAILED: list[str] = []
COVERAGE_TEST = "test_route_coverage.py::test_every_route_has_a_functional_test_on_both_backends"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the route coverage check after every other test (under pytest-xdist every test
    of tests/api runs on one worker, in this order: see XDIST_GROUPS in tests/conftest.py)."""
    last = [item for item in items if item.nodeid.endswith(COVERAGE_TEST)]
    if last:
        items[:] = [item for item in items if item not in last] + last


def pytest_deselected(items: list[pytest.Item]) -> None:
    DESELECTED.extend(item.nodeid for item in items if Path(item.path).parent == API_DIR)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "tests/api/" in report.nodeid:
        FAILED.append(report.nodeid)
