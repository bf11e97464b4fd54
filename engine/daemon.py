"""The engine daemon: every project of a workspace, its bots, manager accounts, timers and
outbox, plus an HTTP endpoint (health, and the staff API when it is mounted).

Shutdown (SIGTERM/SIGINT) is graceful: intake stops first (connectors stop polling and
finish in-flight submits), then the timer and outbox loops are cancelled between
transactions. Everything durable is in the project databases, so a restart continues
exactly where the engine stopped; rows caught mid-send are marked uncertain on start.

On PostgreSQL several daemons may serve one project (:mod:`engine.cluster`): each joins
the database as a cluster member; a channel's connector (its update intake and its sends)
runs only in the process holding that channel's intake advisory lock. The others keep the
channel on standby and try the lock every ``cluster_poll`` seconds, so when the owner dies
its session ends, the lock frees and a standby process takes the channel over. Timers and
outbox rows are claimed with ``FOR UPDATE SKIP LOCKED`` by every process.
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
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connectors.base import Connector, ConnectorState
from db.models import Channel, ChannelKind, Secret, SecretPurpose
from db.project_database import ProjectDatabase
from db.workspace import Project
from engine.admin_chat import AdminChatForwarder
from engine.clock import Clock, SystemClock
from engine.cluster import ClusterMember, intake_key
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter, RateLimits
from engine.service import WorkspaceService
from engine.stuck import STUCK_AFTER, StuckWatchdog

if TYPE_CHECKING:
    from connectors.telegram_user import ClientFactory

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
    member: ClusterMember | None = None
    standby: dict[int, Connector] = field(default_factory=dict)
    """Channels another process owns (PostgreSQL): started here when it is gone."""
    label_syncs: dict[int, Any] = field(default_factory=dict)
    """R15: per running manager account, its :class:`LabelSync` (tag labels in names)."""
    fingerprints: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    """What each channel was started with (see :meth:`EngineDaemon.reload_channels`)."""
    admin_chat: AdminChatForwarder | None = None
    """R9: copies new notifications to the project's Telegram admin chat, if one is set."""
    watchdog: StuckWatchdog | None = None
    """R5/R9: finds stuck contacts every minute and notifies the admins once per run."""


@dataclass(frozen=True)
class DaemonSettings:
    bot_api_base: str | None = None
    """A local Bot API server (or a test fake); None = Telegram's."""
    telegram_api_id: int | None = None
    telegram_api_hash: str | None = None
    """Credentials of the Telegram app (my.telegram.org) used by manager accounts."""
    cluster_poll: float = 2.0
    """PostgreSQL: seconds between intake takeover attempts, and the longest the timer
    and outbox loops sleep (work written by other processes wakes nobody here)."""
    labels_poll: float = 2.0
    """R15: seconds between looks for tag changes to show in manager contact names."""
    catch_up_max_age: timedelta | None = timedelta(hours=24)
    """A manager message older than this when it reaches the engine (replayed by a
    catch-up after a long downtime) fires no funnels; it is recorded and the admins are
    told. None: no limit."""
    notify_poll: float = 5.0
    """R9: seconds between looks for notifications to copy to the admin chat."""
    notify_interval: float = 3.0
    """R9: the least seconds between two messages to the admin chat (Telegram lets a
    group get about 20 messages a minute); notifications queued meanwhile share one."""
    stuck_every: float = 60.0
    """R5: seconds between two looks for stuck contacts."""
    channels_poll: float = 10.0
    """Seconds between looks for channel changes made elsewhere (another engine process on
    the same PostgreSQL, or the desktop on the same SQLite workspace): a changed, added,
    disabled or deleted channel is restarted or stopped here too."""
    stuck_after: timedelta = STUCK_AFTER
    """R5: a live run whose timer is overdue by more than this is stuck."""
    send_limits: RateLimits | None = None
    """The outbox sender's rate limits; None: Telegram's (≈30/s per bot, 1/s per chat,
    20/min per group). A local Bot API server or a test double may allow more."""

    @classmethod
    def from_env(cls) -> DaemonSettings:
        api_id = os.environ.get("VORONKA_TELEGRAM_API_ID")
        poll = os.environ.get("VORONKA_CLUSTER_POLL_S")
        max_age = os.environ.get("VORONKA_CATCH_UP_MAX_AGE_H", "").strip()
        stuck_after = os.environ.get("VORONKA_STUCK_AFTER_MIN", "").strip()
        return cls(
            bot_api_base=os.environ.get("VORONKA_BOT_API_URL") or None,
            telegram_api_id=int(api_id) if api_id and api_id.isdigit() else None,
            telegram_api_hash=os.environ.get("VORONKA_TELEGRAM_API_HASH") or None,
            cluster_poll=float(poll) if poll else 2.0,
            catch_up_max_age=(
                timedelta(hours=24)
                if not max_age
                else (timedelta(hours=float(max_age)) if float(max_age) > 0 else None)
            ),
            stuck_after=(timedelta(minutes=float(stuck_after)) if stuck_after else STUCK_AFTER),
        )


class EngineDaemon:
    def __init__(
        self,
        service: WorkspaceService,
        *,
        settings: DaemonSettings | None = None,
        clock: Clock | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        """``client_factory`` builds the Telethon clients of manager accounts (called as
        ``TelegramClient`` is); tests pass one wired to a fake Telegram."""
        self.service = service
        self.settings = settings or DaemonSettings.from_env()
        self.clock = clock or SystemClock()
        self.client_factory = client_factory
        self.projects: dict[str, ProjectRuntime] = {}
        self.started_at = time.time()

    async def start(self) -> None:
        # Staff operations (API, desktop panels, publish) use the running engines.
        self.service.engine_provider = self.engine_for
        self.service.on_channels_changed = self.reload_channels
        if self.client_factory is not None and self.service.telegram_client_factory is None:
            self.service.telegram_client_factory = self.client_factory
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
        if database.dialect == "postgresql":
            runtime.member = await ClusterMember.join(database)
        try:
            await self._start_channels(runtime)
        except BaseException:
            if runtime.member is not None:
                await runtime.member.close()
            raise
        runtime.sender = OutboxSender(
            engine,
            runtime.connectors,
            link_makers=runtime.standby,  # invite links of bots another process owns
            member=runtime.member,
            recover_every=max(1.0, self.settings.cluster_poll * 2),
            limiter=RateLimiter(self.settings.send_limits or RateLimits()),
        )
        uncertain = await runtime.sender.recover()
        if uncertain:
            log.warning(
                "%d message(s) were mid-send at the last stop: marked uncertain, not resent",
                uncertain,
                extra={"project": project.name},
            )
        idle: dict[str, timedelta] = {}
        if runtime.member is not None:
            idle = {"idle": timedelta(seconds=self.settings.cluster_poll)}
        runtime.admin_chat = AdminChatForwarder(
            engine,
            runtime.connectors,
            standby=runtime.standby,
            failed=runtime.failed_channels,
            interval=self.settings.notify_interval,
            poll=self.settings.notify_poll,
        )
        runtime.watchdog = StuckWatchdog(
            engine, every=self.settings.stuck_every, after=self.settings.stuck_after
        )
        runtime.tasks += [
            asyncio.create_task(engine.timer_loop(**idle), name=f"timers:{project.name}"),
            asyncio.create_task(runtime.sender.run_forever(**idle), name=f"outbox:{project.name}"),
            asyncio.create_task(self._broadcast_loop(runtime), name=f"broadcasts:{project.name}"),
            asyncio.create_task(runtime.admin_chat.run(), name=f"notify:{project.name}"),
            asyncio.create_task(runtime.watchdog.run(), name=f"stuck:{project.name}"),
            asyncio.create_task(self._channels_loop(runtime), name=f"channels:{project.name}"),
        ]
        if runtime.member is not None:
            runtime.tasks.append(
                asyncio.create_task(self._intake_loop(runtime), name=f"intake:{project.name}")
            )
        log.info(
            "project running with %d channel(s)%s",
            len(runtime.connectors),
            f", {len(runtime.standby)} on standby" if runtime.standby else "",
            extra={"project": project.name},
        )
        return runtime

    async def _load_channels(
        self, runtime: ProjectRuntime
    ) -> tuple[list[Channel], dict[tuple[int, Any], str]]:
        async with runtime.database.sessions() as session:
            channels = list((await session.scalars(select(Channel).order_by(Channel.id))).all())
            secrets = {
                (s.channel_id, s.purpose): s.ciphertext
                for s in (await session.scalars(select(Secret))).all()
            }
        return channels, secrets

    async def _start_channels(self, runtime: ProjectRuntime) -> None:
        channels, secrets = await self._load_channels(runtime)
        box = self.service.workspace.secret_box()
        for channel in channels:
            runtime.fingerprints[channel.id] = _fingerprint(channel, secrets)
            if channel.enabled:
                await self._start_channel(runtime, channel, secrets, box)

    async def _start_channel(
        self,
        runtime: ProjectRuntime,
        channel: Channel,
        secrets: dict[tuple[int, Any], str],
        box: Any,
    ) -> None:
        info = runtime.engine.channels[channel.id]
        if channel.kind == ChannelKind.MANAGER_ACCOUNT and channel.login_required_at:
            runtime.failed_channels[channel.id] = _needs_login(
                runtime, channel.name, channel.login_required_reason
            )
            return
        try:
            connector = self._connector(runtime, channel, info.ref, secrets, box)
        except Exception as exc:  # e.g. a secret that no longer decrypts
            connector = None
            runtime.failed_channels[channel.id] = str(exc)
            log.error(
                "channel could not start: %s",
                exc,
                extra={"project": runtime.project.name, "channel": channel.name},
            )
        if connector is None:
            runtime.failed_channels.setdefault(channel.id, "no credentials stored")
            return
        if runtime.member is not None and not await runtime.member.try_own(intake_key(channel.id)):
            runtime.standby[channel.id] = connector  # another process owns it
            return
        await self._start_connector(runtime, channel.id, connector)

    async def reload_channels(self, project: Project) -> None:
        """Staff added, changed, deleted, logged in or out a channel (engine.channels_admin):
        stop the connectors of channels that are gone, disabled or changed, and start the
        new and changed ones; the project's other channels keep running. A project that is
        not running here is left alone (it starts with its channels as they are)."""
        runtime = self.projects.get(project.name)
        if runtime is None:
            return
        if project.timezone != runtime.project.timezone:
            from zoneinfo import ZoneInfo

            runtime.engine.tz = ZoneInfo(project.timezone)
        runtime.project = project
        async with runtime.database.sessions() as session:
            await runtime.engine.reload(session)  # the engine's channel list and refs
        channels, secrets = await self._load_channels(runtime)
        now = {c.id: _fingerprint(c, secrets) for c in channels}
        changed = [
            channel_id
            for channel_id in {*runtime.fingerprints, *now}
            if runtime.fingerprints.get(channel_id) != now.get(channel_id)
        ]
        for channel_id in changed:
            await self._stop_channel(runtime, channel_id)
        runtime.fingerprints = now
        box = self.service.workspace.secret_box()
        for channel in channels:
            if channel.id in changed and channel.enabled:
                await self._start_channel(runtime, channel, secrets, box)
        if changed:
            log.info(
                "channels reloaded: %d changed, %d running",
                len(changed),
                len(runtime.connectors),
                extra={"project": project.name},
            )
            runtime.engine.outbox_wakeup.set()

    async def check_channels(self, runtime: ProjectRuntime) -> bool:
        """Reload the project's channels if they changed behind this process's back (it
        learns of its own API's changes at once, through ``on_channels_changed``). True if
        something changed."""
        channels, secrets = await self._load_channels(runtime)
        if {c.id: _fingerprint(c, secrets) for c in channels} == runtime.fingerprints:
            return False
        project = await self.service.workspace.find_project(runtime.project.name)
        await self.reload_channels(project or runtime.project)
        return True

    async def _channels_loop(self, runtime: ProjectRuntime) -> None:
        while True:
            await asyncio.sleep(self.settings.channels_poll)
            try:
                await self.check_channels(runtime)
            except Exception:
                log.exception(
                    "could not check the channels for changes",
                    extra={"project": runtime.project.name},
                )

    async def _stop_channel(self, runtime: ProjectRuntime, channel_id: int) -> None:
        owned = runtime.connectors.pop(channel_id, None)
        connector = owned or runtime.standby.pop(channel_id, None)
        runtime.failed_channels.pop(channel_id, None)
        if runtime.label_syncs.pop(channel_id, None) is not None:
            name = f"labels:{runtime.project.name}:{channel_id}"
            for task in [t for t in runtime.tasks if t.get_name() == name]:
                task.cancel()
                runtime.tasks.remove(task)
        if connector is not None:
            with contextlib.suppress(Exception):
                await connector.stop()
        if owned is not None and runtime.member is not None:
            with contextlib.suppress(Exception):
                await runtime.member.release(intake_key(channel_id))

    async def _start_connector(
        self, runtime: ProjectRuntime, channel_id: int, connector: Connector
    ) -> bool:
        name = runtime.engine.channels[channel_id].name
        try:
            await connector.start(runtime.engine)
        except Exception as exc:  # one bad channel never stops the others
            runtime.failed_channels[channel_id] = str(exc)
            log.error(
                "channel could not start: %s",
                exc,
                extra={"project": runtime.project.name, "channel": name},
            )
            if getattr(exc, "state", None) is ConnectorState.UNAUTHORIZED and _is_session_error(
                exc
            ):
                await self._session_ended(runtime, channel_id, str(exc))
                runtime.failed_channels[channel_id] = _needs_login(runtime, name, str(exc))
            if runtime.member is not None:  # let a healthier process try
                await runtime.member.release(intake_key(channel_id))
            return False
        runtime.failed_channels.pop(channel_id, None)
        runtime.connectors[channel_id] = connector
        me = getattr(connector, "me", None)
        if me is not None:  # a manager account: keep its Telegram user id (business routing)
            from connectors.telegram_user_store import remember_telegram_id

            try:
                await remember_telegram_id(runtime.engine, channel_id, me.id)
            except Exception as exc:  # e.g. the same Telegram account on two channels
                log.warning(
                    "could not store the account's Telegram user id %s: %s",
                    me.id,
                    exc,
                    extra={"project": runtime.project.name, "channel": name},
                )
            self._start_label_sync(runtime, channel_id, connector)
        return True

    def _start_label_sync(
        self, runtime: ProjectRuntime, channel_id: int, connector: Connector
    ) -> None:
        """R15: the account's contact names follow the contacts' tags (if the project has
        labels on). Runs where the account's connector runs (the intake owner)."""
        if channel_id in runtime.label_syncs:
            return
        from connectors.telegram_user_label_sync import LabelSync
        from connectors.telegram_user_labels import ContactLabeler, LabelSettings

        labeler = ContactLabeler(
            lambda: getattr(connector, "client", None),
            settings=LabelSettings(enabled=True),
            clock=self.clock,
            resolve=getattr(connector, "input_peer", None),
        )
        sync = LabelSync(runtime.engine, channel_id, labeler, poll=self.settings.labels_poll)
        runtime.label_syncs[channel_id] = sync
        runtime.tasks.append(
            asyncio.create_task(sync.run(), name=f"labels:{runtime.project.name}:{channel_id}")
        )

    async def _session_ended(self, runtime: ProjectRuntime, channel_id: int, reason: str) -> None:
        """Telegram ended a manager account's session: flag it as needing a login and tell
        the admins (once); the project's other channels keep running."""
        from connectors.telegram_user_store import mark_login_required

        try:
            await mark_login_required(runtime.engine, channel_id, reason)
        except Exception:
            log.exception(
                "could not record that a manager account needs a login",
                extra={"project": runtime.project.name},
            )

    async def _intake_loop(self, runtime: ProjectRuntime) -> None:
        """PostgreSQL: take over the channels whose owner process is gone. If this
        process's own cluster session is lost, its locks are gone too: it stops its
        channels and this task ends, so ``/health`` says degraded (restart the process)."""
        member = runtime.member
        assert member is not None
        while True:
            await asyncio.sleep(self.settings.cluster_poll)
            if not await member.check():
                log.error(
                    "lost the cluster session: intake stopped, restart this engine",
                    extra={"project": runtime.project.name},
                )
                for channel_id, connector in list(runtime.connectors.items()):
                    with contextlib.suppress(Exception):
                        await connector.stop()
                    runtime.failed_channels[channel_id] = "cluster session lost"
                runtime.connectors.clear()
                raise RuntimeError("the cluster session of this engine process was lost")
            for channel_id, connector in list(runtime.standby.items()):
                try:
                    owned = await member.try_own(intake_key(channel_id))
                except Exception:  # the session broke: check() says so next round
                    log.exception("intake lock attempt failed")
                    break
                if not owned:
                    continue
                del runtime.standby[channel_id]
                if await self._start_connector(runtime, channel_id, connector):
                    log.warning(
                        "took over the channel's intake",
                        extra={
                            "project": runtime.project.name,
                            "channel": runtime.engine.channels[channel_id].name,
                        },
                    )
                    runtime.engine.outbox_wakeup.set()

    def _connector(
        self,
        runtime: ProjectRuntime,
        channel: Channel,
        ref: Any,
        secrets: dict[tuple[int, Any], str],
        box: Any,
    ) -> Connector | None:
        if channel.kind == ChannelKind.BOT:
            token = secrets.get((channel.id, SecretPurpose.BOT_TOKEN))
            if token is None:
                return None
            from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
            from connectors.telegram_business import ProjectBusinessRouter
            from engine.media_store import project_root

            return TelegramBotConnector(
                TelegramBotConfig(
                    token=box.decrypt(token).get_secret_value(),
                    username=channel.username or "",
                    channel=ref,
                    api_base=self.settings.bot_api_base,
                    media_root=project_root(self.service.workspace.directory, runtime.project.slug),
                    business=ProjectBusinessRouter(runtime.engine, channel.id),
                )
            )
        session = secrets.get((channel.id, SecretPurpose.TELETHON_SESSION))
        if session is None:
            if channel.telegram_id is None:
                return None
            # Registered for Telegram Business only: sends go through the connected bot.
            from connectors.telegram_business import (
                BusinessAccountConnector,
                project_connection_lookup,
            )
            from engine.media_store import project_root

            return BusinessAccountConnector(
                ref,
                channel.telegram_id,
                {
                    channel_id: box.decrypt(token).get_secret_value()
                    for (channel_id, purpose), token in secrets.items()
                    if purpose == SecretPurpose.BOT_TOKEN
                },
                connection=project_connection_lookup(runtime.engine),
                api_base=self.settings.bot_api_base,
                media_root=project_root(self.service.workspace.directory, runtime.project.slug),
            )
        own_hash = secrets.get((channel.id, SecretPurpose.API_HASH))
        api_hash = box.decrypt(own_hash) if own_hash else self.settings.telegram_api_hash
        api_id = channel.api_id or self.settings.telegram_api_id
        if api_id is None or api_hash is None:
            missing = " and ".join(
                name
                for name, value in (("api_id", api_id), ("api_hash", api_hash))
                if value is None
            )
            raise ValueError(
                f"no Telegram app {missing} for this manager account: log it in again with "
                "--api-id/--api-hash or set VORONKA_TELEGRAM_API_ID/_HASH"
            )
        from connectors.telegram_user import ManagerAccountConnector
        from connectors.telegram_user_store import (
            ProjectOwnSends,
            ProjectStaleMessages,
            ProjectUpdateStateStore,
        )
        from engine.media_store import project_root

        channel_id = channel.id

        async def ended(reason: str) -> None:
            await self._session_ended(runtime, channel_id, reason)

        options: dict[str, Any] = {}
        if self.client_factory is not None:
            options["client_factory"] = self.client_factory
        return ManagerAccountConnector(
            ref,
            box.decrypt(session),
            api_id,
            api_hash,
            clock=self.clock,
            state_store=ProjectUpdateStateStore(runtime.engine, channel.id),
            on_unauthorized=ended,
            own_sends=ProjectOwnSends(runtime.engine, channel.id),
            media_root=project_root(self.service.workspace.directory, runtime.project.slug),
            stale_after=self.settings.catch_up_max_age,
            on_stale=ProjectStaleMessages(runtime.engine, channel.id),
            **options,
        )

    async def stop(self) -> None:
        for runtime in self.projects.values():
            if runtime.admin_chat is not None:  # a copy in flight is recorded first
                with contextlib.suppress(Exception):
                    await runtime.admin_chat.stop()
            for task in runtime.tasks:
                if task.get_name().startswith("intake:"):
                    task.cancel()
            for connector in [*runtime.connectors.values(), *runtime.standby.values()]:
                with contextlib.suppress(Exception):
                    await connector.stop()
        for runtime in self.projects.values():
            with contextlib.suppress(Exception):
                await runtime.sender.flush(max_rounds=3)
            # Sends of the flush may have reopened HTTP sessions: stop (idempotent) again.
            for connector in runtime.connectors.values():
                with contextlib.suppress(Exception):
                    await connector.stop()
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            if runtime.member is not None:
                await runtime.member.close()  # frees the intake locks for the others
        self.projects.clear()

    async def _broadcast_loop(self, runtime: ProjectRuntime, every: float = 30.0) -> None:
        """Start scheduled broadcasts when due and keep the progress of sending ones fresh
        (R17). Broadcasts are rare (a few a month), so a coarse poll is enough; the due
        time is in the database, so a restart loses nothing."""
        from engine.broadcasts import run_due_broadcasts

        while True:
            try:
                await run_due_broadcasts(runtime.engine)  # wakes the sender itself
            except Exception:
                log.exception("broadcast check failed", extra={"project": runtime.project.name})
            await asyncio.sleep(every)

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
                entry: dict[str, Any] = {
                    "state": str(h.state),
                    "last_event_at": h.last_event_at.isoformat() if h.last_event_at else None,
                    "last_error": h.last_error,
                }
                session_health = getattr(connector, "session_health", None)
                if callable(session_health):  # a manager account
                    entry["last_send_at"] = h.last_send_at.isoformat() if h.last_send_at else None
                    entry.update(session_health())
                    sync = runtime.label_syncs.get(channel_id)
                    if sync is not None:
                        entry["labels"] = sync.health()
                channels[runtime.engine.channels[channel_id].name] = entry
            for channel_id, reason in runtime.failed_channels.items():
                channels[runtime.engine.channels[channel_id].name] = {
                    "state": "not_started",
                    "last_error": reason,
                    **({"needs_login": True} if reason.startswith(_NEEDS_LOGIN) else {}),
                }
            for channel_id in runtime.standby:
                channels[runtime.engine.channels[channel_id].name] = {
                    "state": "standby",
                    "last_error": None,
                }
            projects[name] = {
                "channels": channels,
                "loops_alive": all(not t.done() for t in runtime.tasks),
            }
            if runtime.admin_chat is not None:
                projects[name]["notify_chat"] = runtime.admin_chat.health()
            if runtime.watchdog is not None:
                projects[name]["stuck"] = runtime.watchdog.health()
        healthy = all(p["loops_alive"] for p in projects.values())
        return {
            "status": "ok" if healthy else "degraded",
            "uptime_s": round(time.time() - self.started_at, 1),
            "projects": projects,
        }


_NEEDS_LOGIN = "needs a new login"


def _fingerprint(channel: Channel, secrets: dict[tuple[int, Any], str]) -> tuple[Any, ...]:
    """What a channel's connector is built from: a change means restarting it. A business
    account's connector sends through the project's bots, so their tokens count too."""
    own = sorted((str(p), c) for (cid, p), c in secrets.items() if cid == channel.id)
    if channel.kind == ChannelKind.MANAGER_ACCOUNT and not own:
        own = sorted(
            (str(cid), c) for (cid, p), c in secrets.items() if p == SecretPurpose.BOT_TOKEN
        )
    return (
        channel.enabled,
        channel.name,
        channel.role,
        channel.username,
        channel.telegram_id,
        channel.api_id,
        channel.login_required_at,
        tuple(own),
    )


def _needs_login(runtime: ProjectRuntime, name: str, reason: str | None) -> str:
    return (
        f"{_NEEDS_LOGIN} ({reason or 'Telegram ended the session'}): run main.py manager "
        f"login --project {runtime.project.name!r} --name {name!r}"
    )


def _is_session_error(exc: BaseException) -> bool:
    from connectors.telegram_user import SessionInvalidError, SessionRevokedError

    return isinstance(exc, (SessionRevokedError, SessionInvalidError))


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
