"""The engine daemon: every project of a workspace, its bots, manager accounts, timers and
outbox, plus an HTTP endpoint (health, and the staff API when it is mounted).

Shutdown (SIGTERM/SIGINT) is graceful: intake stops first (connectors stop polling and
finish in-flight submits), then the timer and outbox loops are cancelled between
transactions. Everything durable is in the project databases, so a restart continues
exactly where the engine stopped; rows caught mid-send are marked uncertain on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from connectors.base import Connector
from db.models import Channel, ChannelKind, Secret, SecretPurpose
from db.project_database import ProjectDatabase
from db.workspace import Project
from engine.clock import Clock, SystemClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.service import WorkspaceService

log = logging.getLogger("voronka.engine")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what log collectors (journald, Loki) expect."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("project", "channel"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@dataclass
class ProjectRuntime:
    project: Project
    database: ProjectDatabase
    engine: ProjectEngine
    sender: OutboxSender
    connectors: dict[int, Connector] = field(default_factory=dict)
    failed_channels: dict[int, str] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DaemonSettings:
    bot_api_base: str | None = None
    """A local Bot API server (or a test fake); None = Telegram's."""
    telegram_api_id: int | None = None
    telegram_api_hash: str | None = None
    """Credentials of the Telegram app (my.telegram.org) used by manager accounts."""

    @classmethod
    def from_env(cls) -> DaemonSettings:
        api_id = os.environ.get("VORONKA_TELEGRAM_API_ID")
        return cls(
            bot_api_base=os.environ.get("VORONKA_BOT_API_URL") or None,
            telegram_api_id=int(api_id) if api_id and api_id.isdigit() else None,
            telegram_api_hash=os.environ.get("VORONKA_TELEGRAM_API_HASH") or None,
        )


class EngineDaemon:
    def __init__(
        self,
        service: WorkspaceService,
        *,
        settings: DaemonSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.service = service
        self.settings = settings or DaemonSettings.from_env()
        self.clock = clock or SystemClock()
        self.projects: dict[str, ProjectRuntime] = {}
        self.started_at = time.time()

    async def start(self) -> None:
        for project in await self.service.list_projects():
            try:
                self.projects[project.name] = await self._start_project(project)
            except Exception:
                log.exception("project could not start", extra={"project": project.name})

    async def _start_project(self, project: Project) -> ProjectRuntime:
        database = await self.service.database(project)
        engine = ProjectEngine(
            database, project=project.name, timezone=project.timezone, clock=self.clock
        )
        await engine.start()
        runtime = ProjectRuntime(project, database, engine, OutboxSender(engine, {}))
        box = self.service.workspace.secret_box()
        async with database.sessions() as session:
            channels = (await session.scalars(select(Channel).where(Channel.enabled))).all()
            secrets = {
                (s.channel_id, s.purpose): s.ciphertext
                for s in (await session.scalars(select(Secret))).all()
            }
        for channel in channels:
            info = engine.channels[channel.id]
            try:
                connector = self._connector(channel, info.ref, secrets, box)
                if connector is None:
                    runtime.failed_channels[channel.id] = "no credentials stored"
                    continue
                await connector.start(engine)
            except Exception as exc:  # one bad channel never stops the others
                runtime.failed_channels[channel.id] = str(exc)
                log.error(
                    "channel could not start: %s",
                    exc,
                    extra={"project": project.name, "channel": channel.name},
                )
                continue
            runtime.connectors[channel.id] = connector
        runtime.sender = OutboxSender(engine, runtime.connectors)
        uncertain = await runtime.sender.recover()
        if uncertain:
            log.warning(
                "%d message(s) were mid-send at the last stop: marked uncertain, not resent",
                uncertain,
                extra={"project": project.name},
            )
        runtime.tasks = [
            asyncio.create_task(engine.timer_loop(), name=f"timers:{project.name}"),
            asyncio.create_task(runtime.sender.run_forever(), name=f"outbox:{project.name}"),
        ]
        log.info(
            "project running with %d channel(s)",
            len(runtime.connectors),
            extra={"project": project.name},
        )
        return runtime

    def _connector(
        self, channel: Channel, ref: Any, secrets: dict[tuple[int, Any], str], box: Any
    ) -> Connector | None:
        if channel.kind == ChannelKind.BOT:
            token = secrets.get((channel.id, SecretPurpose.BOT_TOKEN))
            if token is None:
                return None
            from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector

            return TelegramBotConnector(
                TelegramBotConfig(
                    token=box.decrypt(token).get_secret_value(),
                    username=channel.username or "",
                    channel=ref,
                    api_base=self.settings.bot_api_base,
                )
            )
        session = secrets.get((channel.id, SecretPurpose.TELETHON_SESSION))
        own_hash = secrets.get((channel.id, SecretPurpose.API_HASH))
        api_hash = box.decrypt(own_hash) if own_hash else self.settings.telegram_api_hash
        if session is None or self.settings.telegram_api_id is None or api_hash is None:
            return None
        from connectors.telegram_user import ManagerAccountConnector

        return ManagerAccountConnector(
            ref,
            box.decrypt(session),
            self.settings.telegram_api_id,
            api_hash,
            clock=self.clock,
        )

    async def stop(self) -> None:
        for runtime in self.projects.values():
            for connector in runtime.connectors.values():
                with contextlib.suppress(Exception):
                    await connector.stop()
        for runtime in self.projects.values():
            with contextlib.suppress(Exception):
                await runtime.sender.flush(max_rounds=3)
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
        self.projects.clear()

    async def engine_for(self, project: Project) -> ProjectEngine:
        """The running engine of a project (the API's staff actions go through it, so they
        share its write lock and wake its timers)."""
        runtime = self.projects.get(project.name)
        if runtime is None:
            runtime = self.projects[project.name] = await self._start_project(project)
        return runtime.engine

    def health(self) -> dict[str, Any]:
        projects = {}
        for name, runtime in self.projects.items():
            channels = {}
            for channel_id, connector in runtime.connectors.items():
                h = connector.health()
                channels[runtime.engine.channels[channel_id].name] = {
                    "state": str(h.state),
                    "last_event_at": h.last_event_at.isoformat() if h.last_event_at else None,
                    "last_error": h.last_error,
                }
            for channel_id, reason in runtime.failed_channels.items():
                channels[runtime.engine.channels[channel_id].name] = {
                    "state": "not_started",
                    "last_error": reason,
                }
            projects[name] = {
                "channels": channels,
                "loops_alive": all(not t.done() for t in runtime.tasks),
            }
        healthy = all(p["loops_alive"] for p in projects.values())
        return {
            "status": "ok" if healthy else "degraded",
            "uptime_s": round(time.time() - self.started_at, 1),
            "projects": projects,
        }


def health_app(daemon: EngineDaemon) -> Any:
    """The daemon's HTTP app: ``GET /health`` (no auth), and the staff API if available."""
    from fastapi import FastAPI

    app: Any = None
    with contextlib.suppress(ImportError):
        from engine.api import create_app

        app = create_app(daemon.service, engines=daemon.engine_for)
    if app is None:
        app = FastAPI(title="Voronka engine")
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/health"]

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        return daemon.health()

    return app


class _QuietServer:
    """uvicorn's Server without its own signal handling (the daemon owns the signals)."""

    @staticmethod
    def create(app: Any, host: str, port: int) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


async def serve(workspace_dir: str | None, host: str, port: int) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit code."""
    service = await WorkspaceService.open(workspace_dir)
    daemon = EngineDaemon(service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.start()
    server = _QuietServer.create(health_app(daemon), host, port)
    server_task = asyncio.create_task(server.serve())
    log.info("engine running: %d project(s), http://%s:%d/health", len(daemon.projects), host, port)
    await stop.wait()
    log.info("stopping: finishing in-flight work")
    server.should_exit = True
    await daemon.stop()
    await server_task
    await service.close()
    log.info("stopped")
    return 0
