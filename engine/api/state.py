"""What every route needs: the workspace service, staff directory, login limiter, engines."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request

from db.staff import StaffDirectory
from db.workspace import Project
from engine.project_engine import ProjectEngine
from engine.service import WorkspaceService

EngineProvider = Callable[[Project], Awaitable[ProjectEngine]]
"""The running ProjectEngine of a project. The daemon passes its own (so staff actions share
the engine's locks and wake its timers); without one the API builds engines itself."""


class LoginLimiter:
    """At most ``max_failures`` failed logins per (login, client address) in ``window``
    seconds; beyond that, logins are refused until the oldest failure ages out."""

    def __init__(self, max_failures: int = 5, window: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            self._failures.pop(key, None)
        return stamps

    def retry_after(self, login: str, client: str) -> int | None:
        """Seconds to wait before trying again, or None if a try is allowed now."""
        now = time.monotonic()
        stamps = self._recent((login.strip().casefold(), client), now)
        if len(stamps) < self.max_failures:
            return None
        return max(1, int(stamps[0] + self.window - now + 0.999))

    def failed(self, login: str, client: str) -> None:
        key = (login.strip().casefold(), client)
        self._recent(key, time.monotonic())
        if len(self._failures) > 10_000:  # bound memory under a spray of logins
            self._failures.clear()
        self._failures.setdefault(key, deque()).append(time.monotonic())

    def succeeded(self, login: str, client: str) -> None:
        self._failures.pop((login.strip().casefold(), client), None)


@dataclass
class ApiState:
    service: WorkspaceService
    staff: StaffDirectory
    limiter: LoginLimiter
    engine_provider: EngineProvider | None = None
    stats_interval: float = 1.0
    session_ttl: timedelta = timedelta(hours=12)
    _engines: dict[int, ProjectEngine] = field(default_factory=dict)
    _engine_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def engine(self, project: Project) -> ProjectEngine:
        if self.engine_provider is not None:
            return await self.engine_provider(project)
        async with self._engine_lock:
            engine = self._engines.get(project.id)
            if engine is None:
                database = await self.service.database(project)
                engine = ProjectEngine(database, project=project.name, timezone=project.timezone)
                await engine.start()
                self._engines[project.id] = engine
            return engine


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state
