"""Fixtures of the engine API tests: the real app over a temp workspace with the demo
project, a second project, and staff users of every role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from db.secrets import SECRET_KEY_ENV
from db.staff import StaffDirectory, StaffRole, ensure_admin
from db.workspace import WORKSPACE_ENV, Project
from engine.api import create_app
from engine.demo_setup import install_demo_project
from engine.service import WorkspaceService

PASSWORD = "correct horse battery"


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    service: WorkspaceService
    demo: Project
    other: Project
    tokens: dict[str, str] = field(default_factory=dict)

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


async def build_api(
    directory: Path, *, database_url: str | None = None, stats_interval: float = 0.05
) -> tuple[Api, WorkspaceService]:
    service = await WorkspaceService.open(str(directory))
    demo = await install_demo_project(service.workspace)
    other = await service.workspace.create_project("Второй", database_url=database_url)
    app = create_app(service, stats_interval=stats_interval)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    api = Api(app, client, service, demo, other)
    await ensure_admin(service.workspace, "admin", PASSWORD)
    staff = StaffDirectory(service.workspace)
    await staff.create_user("editor", PASSWORD, StaffRole.EDITOR)
    await staff.create_user("viewer", PASSWORD, StaffRole.VIEWER)
    # An editor of the other project only: no access to the demo project.
    await staff.create_user("outsider", PASSWORD, StaffRole.EDITOR, projects={other.id})
    for login in ("admin", "editor", "viewer", "outsider"):
        user = await staff.find_user(login)
        assert user is not None
        api.tokens[login], _ = await staff.issue_token(user.id, "test")
    return api, service


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    built, service = await build_api(tmp_path / "ws")
    try:
        yield built
    finally:
        await built.client.aclose()
        await service.close()
