"""Fixtures of the engine runtime tests: a demo project driven through the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from db.secrets import SECRET_KEY_ENV
from db.workspace import WORKSPACE_ENV, Workspace
from engine.clock import VirtualClock
from engine.demo_setup import install_demo_project
from engine.simulation import Harness

# Monday 2024-05-06 10:00 Moscow time
START = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    ws = await Workspace.open(tmp_path / "ws")
    try:
        yield ws
    finally:
        for project in await ws.list_projects():
            if project.database_kind.value == "postgresql":
                await ws.delete_project(project.name)
        await ws.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def demo(workspace: Workspace, clock: VirtualClock) -> AsyncIterator[Harness]:
    project = await install_demo_project(workspace)
    harness = await Harness.open(workspace, project, clock)
    try:
        yield harness
    finally:
        await harness.close()
