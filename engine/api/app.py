"""The FastAPI application of the engine API.

Serve it with uvicorn from the daemon, sharing the daemon's running engines::

    service = await WorkspaceService.open(directory)
    await ensure_admin(service.workspace, login, password)
    app = create_app(service, engines=daemon.engine_for)  # async (Project) -> ProjectEngine
    server = uvicorn.Server(uvicorn.Config(app, host="0.0.0.0", port=8765,
                                           proxy_headers=True, log_level="info"))
    await server.serve()  # in the daemon's event loop, next to the bots

Every route but ``GET /health`` and ``POST /auth/login`` needs ``Authorization: Bearer``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from db.errors import (
    InvalidProjectNameError,
    InvalidTimezoneError,
    ProjectExistsError,
    ProjectNotFoundError,
    UnsupportedDatabaseUrlError,
    WorkspaceError,
)
from db.staff import StaffDirectory, StaffError, StaffUserExistsError, StaffUserNotFoundError
from engine.api.routes import auth, channels, funnels, media, projects
from engine.api.state import ApiState, EngineProvider, LoginLimiter
from engine.funnel_copy import CopyRefusedError
from engine.funnel_store import (
    FunnelNameTakenError,
    FunnelNotFoundError,
    FunnelStoreError,
    PublishRefusedError,
    StaleDraftError,
)
from engine.service import WorkspaceService
from graph.loading import FunnelLoadError

API_VERSION = "1"


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StaleDraftError):
            return _error(
                409, str(exc), expected_revision=exc.expected, current_revision=exc.actual
            )
        if isinstance(exc, PublishRefusedError):
            return _error(422, str(exc), problems=[p.to_dict() for p in exc.problems])
        if isinstance(exc, CopyRefusedError):
            return _error(422, str(exc), plan=exc.plan.model_dump(mode="json"))
        if isinstance(exc, FunnelLoadError):
            return _error(
                422,
                "not a funnel document: " + str(exc),
                problems=[p.to_dict() for p in exc.problems],
            )
        if isinstance(exc, FunnelNotFoundError | ProjectNotFoundError | StaffUserNotFoundError):
            return _error(404, str(exc))
        if isinstance(exc, FunnelNameTakenError | ProjectExistsError | StaffUserExistsError):
            return _error(409, str(exc))
        if isinstance(
            exc,
            StaffError
            | InvalidProjectNameError
            | InvalidTimezoneError
            | UnsupportedDatabaseUrlError
            | FunnelStoreError,
        ):
            return _error(422, str(exc))
        if isinstance(exc, WorkspaceError):  # e.g. the PostgreSQL server is unreachable
            return _error(503, str(exc))
        raise exc

    for exc_type in (FunnelLoadError, FunnelStoreError, WorkspaceError):
        app.add_exception_handler(exc_type, handle)
    try:
        from engine.flows import StaffActionError

        async def staff_action(request: Request, exc: Exception) -> JSONResponse:
            return _error(422, str(exc))

        app.add_exception_handler(StaffActionError, staff_action)
    except ImportError:  # pragma: no cover - the runtime is always there in releases
        pass


def create_app(
    service: WorkspaceService,
    *,
    engines: EngineProvider | None = None,
    stats_interval: float = 1.0,
    login_limiter: LoginLimiter | None = None,
    session_ttl: timedelta = timedelta(hours=12),
) -> FastAPI:
    """The engine API over ``service``'s workspace.

    ``engines`` gives the running ProjectEngine of a project (staff actions on contacts go
    through it); without it the API opens its own engines over the service's databases.
    ``stats_interval`` is how often the stats stream polls (seconds).
    """
    app = FastAPI(
        title="Voronka engine API",
        version=API_VERSION,
        description=(
            "Staff operations of a Voronka engine: projects, funnels, live stats, contacts, "
            "notifications, purchases, reports (daily key table, messages, audience, bots; "
            "CSV/XLSX export) and broadcasts. Authenticate with POST /auth/login and "
            "send `Authorization: Bearer <token>`."
        ),
    )
    app.state.api = ApiState(
        service=service,
        staff=StaffDirectory(service.workspace),
        limiter=login_limiter or LoginLimiter(),
        engine_provider=engines,
        stats_interval=stats_interval,
        session_ttl=session_ttl,
    )
    _install_error_handlers(app)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness (no authentication)."""
        return {"status": "ok", "api_version": API_VERSION}

    app.include_router(auth.router)
    app.include_router(auth.users)
    app.include_router(projects.router)
    channels.install(app)
    app.include_router(funnels.router)
    app.include_router(media.router)
    for module in _optional_routers():
        app.include_router(module.router)
    return app


def _optional_routers() -> list[Any]:
    from engine.api.routes import broadcasts, contacts, records, reports, stats

    return [stats, contacts, records, reports, broadcasts]
