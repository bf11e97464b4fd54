"""The engine's operations for staff tools, in one facade.

The desktop's embedded mode calls this directly; the HTTP API exposes the same operations
to remote desktops. Every method opens its own transaction and returns plain data
(dataclasses, funnel documents), never ORM objects bound to a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from db.models import Funnel, FunnelVersion
from db.project_database import ProjectDatabase
from db.workspace import Project, Workspace
from engine.catalog import project_catalog
from engine.channels_admin import ChannelsAdmin
from engine.funnel_copy import CopyOutcome, copy_to_project, duplicate_within_project
from engine.funnel_store import (
    FunnelNotFoundError,
    PublishResult,
    create_funnel,
    draft_document,
    get_funnel,
    publish_funnel,
    save_draft,
)
from graph.copying import CopyPlan
from graph.document import FunnelDocument
from graph.problems import Problem
from graph.project_catalog import ProjectCatalog
from graph.validation import validate_funnel


@dataclass(frozen=True)
class FunnelSummary:
    id: int
    name: str
    folder: str
    draft_revision: int
    published_version: int | None
    updated_at: datetime


@dataclass(frozen=True)
class FunnelDraft:
    id: int
    document: FunnelDocument
    revision: int
    published_version: int | None


@dataclass(frozen=True)
class VersionInfo:
    """One published version of a funnel."""

    version: int
    published_at: datetime
    published_by: str | None


@dataclass(frozen=True)
class NodeContact:
    """A contact whose run is on a node now (active or waiting), for the badge's list."""

    contact_id: int
    telegram_user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    run_id: int
    status: str
    since: datetime
    version: int

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class PublishOutcome:
    version: int
    warnings: list[Problem]
    contacts_on_removed_nodes: int


# --- staff panels: contacts, notifications, purchases (plain JSON-shaped dicts, the same
# shapes as the HTTP API returns, so the desktop treats embedded and remote alike) ---------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class _PanelOperations:
    """Mixed into :class:`WorkspaceService` below (kept apart to leave the class above as it
    was). Staff actions go through ``engine.flows`` on a :class:`ProjectEngine` of the
    project: ``engine_provider`` (the running daemon's engine) or one built on demand."""

    engine_provider: object | None = None

    async def project_engine(self, project: str):  # type: ignore[no-untyped-def]
        from engine.project_engine import ProjectEngine

        self_: Any = self
        record = await self_.workspace.get_project(project)
        provider = getattr(self, "engine_provider", None)
        if provider is not None:
            return await provider(record)  # type: ignore[operator]
        engines: dict[int, ProjectEngine] = self.__dict__.setdefault("_panel_engines", {})
        engine = engines.get(record.id)
        if engine is None:
            engine = ProjectEngine(
                await self_.database(record), project=record.name, timezone=record.timezone
            )
            await engine.start()
            engines[record.id] = engine
        else:
            async with engine.db.sessions() as session:  # published versions since
                await engine.reload(session)
        return engine

    async def search_contacts(
        self, project: str, q: str = "", tag: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Contacts by Telegram id, @username, name (any part) and/or a tag, newest first."""
        from db.models import Contact, ContactTag, Tag
        from engine.contact_search import contact_search_condition

        db = await self.database(project)  # type: ignore[attr-defined]
        query = select(Contact).order_by(Contact.id.desc()).limit(limit)
        condition = contact_search_condition(q or "", db.dialect)
        if condition is not None:
            query = query.where(condition)
        if tag and tag.strip():
            query = query.where(
                Contact.id.in_(
                    select(ContactTag.contact_id).join(Tag).where(Tag.name == tag.strip())
                )
            )
        async with db.sessions() as session:
            contacts = (await session.scalars(query)).all()
            rows = (
                await session.execute(
                    select(ContactTag.contact_id, Tag.name)
                    .join(Tag)
                    .where(ContactTag.contact_id.in_([c.id for c in contacts]))
                    .order_by(Tag.name)
                )
            ).all()
        tags: dict[int, list[str]] = {}
        for contact_id, name in rows:
            tags.setdefault(contact_id, []).append(name)
        return [
            {
                "id": c.id,
                "telegram_user_id": c.telegram_user_id,
                "username": c.username,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "created_at": _iso(c.created_at),
                "tags": tags.get(c.id, []),
            }
            for c in contacts
        ]

    async def contact_card(self, project: str, contact_id: int) -> dict[str, Any]:
        """The contact card (the API's shape) plus ``funnel`` and ``node`` titles per run."""
        from db.models import (
            Contact,
            ContactTag,
            HistoryEvent,
            Product,
            Purchase,
            Run,
            Tag,
            Variable,
        )

        engine = await self.project_engine(project)
        async with engine.db.sessions() as s:
            contact = await s.get(Contact, contact_id)
            if contact is None:
                raise FunnelNotFoundError(f"no contact {contact_id}")
            tags = (
                await s.execute(
                    select(ContactTag, Tag)
                    .join(Tag)
                    .where(ContactTag.contact_id == contact_id)
                    .order_by(ContactTag.added_at)
                )
            ).all()
            variables = (
                await s.scalars(
                    select(Variable)
                    .where(Variable.contact_id == contact_id)
                    .order_by(Variable.name)
                )
            ).all()
            runs = (
                await s.execute(
                    select(Run, FunnelVersion.funnel_id, FunnelVersion.version)
                    .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                    .where(Run.contact_id == contact_id)
                    .order_by(Run.id.desc())
                )
            ).all()
            run_rows: list[dict[str, Any]] = []
            for r, funnel_id, version in runs:
                compiled = await engine.compiled(s, r.funnel_version_id)
                run_rows.append(
                    {
                        "id": r.id,
                        "funnel_id": funnel_id,
                        "funnel": compiled.name,
                        "version": version,
                        "node_id": r.node_id,
                        "node": compiled.title(r.node_id) if r.node_id else "",
                        "status": str(r.status),
                        "awaiting": r.awaiting,
                        "due_at": _iso(r.due_at),
                        "started_at": _iso(r.started_at),
                        "finished_at": _iso(r.finished_at),
                        "stopped_at": _iso(r.stopped_at),
                        "error": r.error,
                    }
                )
            history = (
                await s.scalars(
                    select(HistoryEvent)
                    .where(HistoryEvent.contact_id == contact_id)
                    .order_by(HistoryEvent.at.desc(), HistoryEvent.id.desc())
                    .limit(200)
                )
            ).all()
            purchases = (
                await s.execute(
                    select(Purchase, Product.name)
                    .join(Product)
                    .where(Purchase.contact_id == contact_id)
                    .order_by(Purchase.recorded_at)
                )
            ).all()
        return {
            "id": contact.id,
            "telegram_user_id": contact.telegram_user_id,
            "username": contact.username,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "created_at": _iso(contact.created_at),
            "tags": [tag.name for _, tag in tags],
            "tag_details": [
                {"tag": tag.name, "added_at": _iso(ct.added_at), "added_by": ct.added_by}
                for ct, tag in tags
            ],
            "variables": [
                {"name": v.name, "value": v.value, "updated_at": _iso(v.updated_at)}
                for v in variables
            ],
            "runs": run_rows,
            "history": [
                {
                    "id": h.id,
                    "at": _iso(h.at),
                    "kind": h.kind,
                    "run_id": h.run_id,
                    "node_id": h.node_id,
                    "actor": h.actor,
                    "details": h.details,
                }
                for h in history
            ],
            "purchases": [
                {
                    "id": p.id,
                    "product": product,
                    "amount": str(p.amount) if p.amount is not None else None,
                    "currency": p.currency,
                    "recorded_at": _iso(p.recorded_at),
                }
                for p, product in purchases
            ],
        }

    async def add_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        from engine import flows

        engine = await self.project_engine(project)
        return await flows.staff_add_tag(engine, contact_id, tag, actor=by)

    async def remove_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        from engine import flows

        engine = await self.project_engine(project)
        return await flows.staff_remove_tag(engine, contact_id, tag, actor=by)

    async def stop_run(self, project: str, run_id: int, by: str, reason: str = "") -> None:
        from engine import flows

        await flows.stop_run(await self.project_engine(project), run_id, actor=by, reason=reason)

    async def restart_run(self, project: str, run_id: int, by: str, reason: str = "") -> int | None:
        from engine import flows

        engine = await self.project_engine(project)
        return await flows.restart_run(engine, run_id, actor=by, reason=reason)

    async def rollback_preview(self, project: str, run_id: int) -> dict[str, Any]:
        import dataclasses

        from engine import flows

        plan = await flows.rollback_preview(await self.project_engine(project), run_id)
        return dataclasses.asdict(plan)

    async def rollback_apply(
        self, project: str, run_id: int, by: str, reason: str = ""
    ) -> dict[str, Any]:
        import dataclasses

        from engine import flows

        engine = await self.project_engine(project)
        plan = await flows.rollback_apply(engine, run_id, actor=by, reason=reason)
        return dataclasses.asdict(plan)

    # notifications (R9)

    async def list_notifications(
        self,
        project: str,
        kind: str | None = None,
        resolved: bool | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        from db.models import Notification, NotificationKind

        query = select(Notification).order_by(
            Notification.created_at.desc(), Notification.id.desc()
        )
        if kind:
            query = query.where(Notification.kind == NotificationKind(kind))
        if resolved is not None:
            column = Notification.resolved_at
            query = query.where(column.is_not(None) if resolved else column.is_(None))
        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            return [_notification(n) for n in await s.scalars(query.limit(limit))]

    async def unresolved_notifications(self, project: str) -> int:
        from db.models import Notification

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            count = await s.scalar(
                select(func.count(Notification.id)).where(Notification.resolved_at.is_(None))
            )
        return int(count or 0)

    async def resolve_notification(
        self, project: str, notification_id: int, by: str
    ) -> dict[str, Any]:
        from datetime import UTC

        from db.models import Notification

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s, s.begin():
            n = await s.get(Notification, notification_id)
            if n is None:
                raise FunnelNotFoundError(f"no notification {notification_id}")
            if n.resolved_at is None:
                n.resolved_at = datetime.now(UTC)
                n.resolved_by = by if ":" in by else f"staff:{by}"
            return _notification(n)

    # purchases (R11)

    async def list_purchases(
        self,
        project: str,
        product: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[dict[str, Any]]:
        from db.models import Contact, Product, Purchase

        query = (
            select(Purchase, Product.name, Contact)
            .join(Product, Product.id == Purchase.product_id)
            .join(Contact, Contact.id == Purchase.contact_id)
            .order_by(Purchase.recorded_at.desc(), Purchase.id.desc())
        )
        if product:
            query = query.where(Product.name == product.strip())
        if since is not None:
            query = query.where(Purchase.recorded_at >= since)
        if until is not None:
            query = query.where(Purchase.recorded_at < until)
        if limit is not None:
            query = query.limit(limit)
        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            rows = (await s.execute(query)).all()
        return [
            {
                "id": p.id,
                "recorded_at": _iso(p.recorded_at),
                "product": name,
                "amount": str(p.amount) if p.amount is not None else None,
                "currency": p.currency,
                "contact_id": c.id,
                "telegram_user_id": c.telegram_user_id,
                "username": c.username,
                "name": " ".join(x for x in (c.first_name, c.last_name) if x),
            }
            for p, name, c in rows
        ]

    async def list_products(self, project: str) -> list[str]:
        from db.models import Product

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            return list(await s.scalars(select(Product.name).order_by(Product.name)))

    # reports (R16)

    async def daily_report(self, project: str, first: Any, last: Any) -> dict[str, Any]:
        """The daily key table from ``first`` to ``last`` (local dates, inclusive) with the
        messages sent per day: ``{"stages", "days", "totals", "sent"}`` (the API's shape
        plus ``sent``: day → messages sent)."""
        from dataclasses import asdict
        from zoneinfo import ZoneInfo

        from engine import reports

        record = await self.workspace.get_project(project)  # type: ignore[attr-defined]
        tz = ZoneInfo(record.timezone)
        db = await self.database(record)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            report = await reports.daily_report(s, first, last, tz)
            messages = await reports.messages_report(s, first, last, tz)
        sent: dict[str, int] = {row.day: 0 for row in report.days}
        for m in messages:
            sent[m.day] = sent.get(m.day, 0) + m.sent
        return {
            "stages": report.stages,
            "days": [asdict(r) for r in report.days],
            "totals": asdict(report.totals),
            "sent": sent,
        }

    # broadcasts (R17)

    async def list_bots(self, project: str) -> list[dict[str, Any]]:
        """The project's bots (broadcasts go through one): id, name, role, username."""
        from db.models import Channel, ChannelKind

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            rows = await s.scalars(
                select(Channel).where(Channel.kind == ChannelKind.BOT).order_by(Channel.id)
            )
            return [
                {
                    "id": c.id,
                    "kind": str(c.kind),
                    "name": c.name,
                    "role": str(c.role) if c.role else None,
                    "username": c.username,
                }
                for c in rows
            ]

    async def list_manager_accounts(self, project: str) -> list[dict[str, Any]]:
        """The project's manager accounts as stored: Telegram id, whether a session is
        stored, the api_id, and whether Telegram ended the session (needs a new login).
        Live connection health is in the daemon's ``/health``."""
        from db.models import Channel, ChannelKind, Secret, SecretPurpose

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            rows = (
                await s.scalars(
                    select(Channel)
                    .where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
                    .order_by(Channel.id)
                )
            ).all()
            sessions = set(
                await s.scalars(
                    select(Secret.channel_id).where(
                        Secret.purpose == SecretPurpose.TELETHON_SESSION
                    )
                )
            )
            return [
                {
                    "id": c.id,
                    "name": c.name,
                    "username": c.username,
                    "telegram_id": c.telegram_id,
                    "enabled": c.enabled,
                    "api_id": c.api_id,
                    "has_session": c.id in sessions,
                    "needs_login": c.login_required_at is not None,
                    "needs_login_since": _iso(c.login_required_at),
                    "needs_login_reason": c.login_required_reason,
                }
                for c in rows
            ]

    async def preview_broadcast(self, project: str, segment: dict[str, Any]) -> int:
        """How many contacts a segment (channel_id, tags_included, tags_excluded,
        include_mode) reaches now."""
        from engine import broadcasts as bc

        db = await self.database(project)  # type: ignore[attr-defined]
        async with db.sessions() as s:
            checked = await bc.check_segment(s, _segment(segment))
            return await bc.preview_count(s, checked)

    async def create_broadcast(self, project: str, data: dict[str, Any], by: str) -> dict[str, Any]:
        """A broadcast from the API's fields (text, title, segment, buttons, media,
        scheduled_at, send_now): a draft, scheduled, or started at once."""
        from engine import broadcasts as bc

        engine = await self.project_engine(project)
        send_now = bool(data.get("send_now"))
        async with engine.transaction() as s:
            b = await bc.create_broadcast(
                s,
                text=data.get("text") or "",
                segment=_segment(data),
                created_by=by if ":" in by else f"staff:{by}",
                now=engine.clock.now(),
                buttons=data.get("buttons") or [],
                media=data.get("media") or [],
                title=data.get("title", ""),
                scheduled_at=None if send_now else data.get("scheduled_at"),
            )
            broadcast_id = b.id
        if send_now:
            await bc.send_now(engine, broadcast_id)
        return await self.get_broadcast(project, broadcast_id)

    async def get_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        """The broadcast with its progress (refreshed from its outbox rows)."""
        from db.models import Broadcast
        from engine import broadcasts as bc

        engine = await self.project_engine(project)
        async with engine.transaction() as s:
            b = await s.get(Broadcast, broadcast_id)
            if b is None:
                raise bc.BroadcastNotFoundError(f"no broadcast {broadcast_id}")
            progress = await bc.refresh_progress(s, b, now=engine.clock.now())
            return _broadcast(b, progress)

    async def list_broadcasts(self, project: str) -> list[dict[str, Any]]:
        from db.models import Broadcast, BroadcastStatus
        from engine import broadcasts as bc

        engine = await self.project_engine(project)
        async with engine.transaction() as s:
            rows = list(
                await s.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(1000))
            )
            for b in rows:
                if b.status is BroadcastStatus.SENDING:
                    await bc.refresh_progress(s, b, now=engine.clock.now())
            return [_broadcast(b) for b in rows]

    async def send_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        from engine import broadcasts as bc

        await bc.send_now(await self.project_engine(project), broadcast_id)
        return await self.get_broadcast(project, broadcast_id)

    async def cancel_broadcast(self, project: str, broadcast_id: int, by: str) -> dict[str, Any]:
        from engine import broadcasts as bc

        actor = by if ":" in by else f"staff:{by}"
        await bc.cancel(await self.project_engine(project), broadcast_id, actor=actor)
        return await self.get_broadcast(project, broadcast_id)


def _notification(n: Any) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": str(n.kind),
        "text": n.text,
        "contact_id": n.contact_id,
        "run_id": n.run_id,
        "channel_id": n.channel_id,
        "details": n.details or {},
        "created_at": _iso(n.created_at),
        "resolved_at": _iso(n.resolved_at),
        "resolved_by": n.resolved_by,
    }


class WorkspaceService(_PanelOperations):
    """Staff operations over every project of one workspace."""

    telegram_client_factory: Any = None
    """Builds Telethon clients for manager logins (None: ``TelegramClient``); tests pass
    one wired to a fake Telegram."""
    on_channels_changed: Any = None
    """``async (project) -> None``: the engine daemon's reload of a project's channels,
    awaited after a channel is added, changed, deleted, logged in or out."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._databases: dict[int, ProjectDatabase] = {}
        self._channels_admin: ChannelsAdmin | None = None

    @classmethod
    async def open(cls, directory: str | None = None) -> WorkspaceService:
        return cls(await Workspace.open(directory))

    async def close(self) -> None:
        if self._channels_admin is not None:
            await self._channels_admin.close()
        for database in self._databases.values():
            await database.dispose()
        self._databases.clear()
        await self.workspace.close()

    async def database(self, project: Project | str) -> ProjectDatabase:
        if isinstance(project, str):
            project = await self.workspace.get_project(project)
        if project.id not in self._databases:
            self._databases[project.id] = await self.workspace.open_project_db(project)
        return self._databases[project.id]

    # --- projects -------------------------------------------------------------------------

    async def list_projects(self) -> list[Project]:
        return await self.workspace.list_projects()

    async def create_project(self, name: str, database_url: str | None = None) -> Project:
        return await self.workspace.create_project(name, database_url=database_url)

    async def catalog(self, project: str) -> ProjectCatalog:
        async with (await self.database(project)).sessions() as session:
            return await project_catalog(session)

    # --- channels, manager logins, project settings (engine.channels_admin) ----------------

    @property
    def channels_admin(self) -> ChannelsAdmin:
        if self._channels_admin is None:
            self._channels_admin = ChannelsAdmin(self)
        return self._channels_admin

    async def list_channels(self, project: str) -> list[dict[str, Any]]:
        return await self.channels_admin.list_channels(project)

    async def add_bot(
        self,
        project: str,
        token: str,
        role: str,
        *,
        name: str | None = None,
        is_main: bool = False,
        api_base: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        return await self.channels_admin.add_bot(
            project, token, role, name=name, is_main=is_main, api_base=api_base, by=by
        )

    async def update_channel(
        self,
        project: str,
        channel_id: int,
        *,
        name: str | None = None,
        role: str | None = None,
        enabled: bool | None = None,
        is_main: bool | None = None,
    ) -> dict[str, Any]:
        return await self.channels_admin.update_channel(
            project, channel_id, name=name, role=role, enabled=enabled, is_main=is_main
        )

    async def delete_channel(self, project: str, channel_id: int) -> None:
        await self.channels_admin.delete_channel(project, channel_id)

    async def begin_manager_login(
        self, project: str, *, name: str, phone: str, api_id: int | None, api_hash: str | None
    ) -> dict[str, Any]:
        return await self.channels_admin.begin_manager_login(
            project, name=name, phone=phone, api_id=api_id, api_hash=api_hash
        )

    async def submit_login_code(self, project: str, login_id: str, code: str) -> dict[str, Any]:
        return await self.channels_admin.submit_login_code(project, login_id, code)

    async def submit_login_password(
        self, project: str, login_id: str, password: str
    ) -> dict[str, Any]:
        return await self.channels_admin.submit_login_password(project, login_id, password)

    async def cancel_manager_login(self, project: str, login_id: str) -> None:
        await self.channels_admin.cancel_manager_login(project, login_id)

    async def logout_manager(self, project: str, channel_id: int) -> None:
        await self.channels_admin.logout_manager(project, channel_id)

    async def get_project_settings(self, project: str) -> dict[str, Any]:
        return await self.channels_admin.get_project_settings(project)

    async def get_notify_chat(self, project: str) -> dict[str, Any] | None:
        """The Telegram chat notifications are copied to (R9), None if not set."""
        from engine.admin_chat import notify_chat_info

        async with (await self.database(project)).sessions() as session:  # type: ignore[attr-defined]
            return await notify_chat_info(session)

    async def set_notify_chat(
        self, project: str, chat_id: int | None, bot_id: int | None
    ) -> dict[str, Any] | None:
        """Copy notifications to ``chat_id`` through ``bot_id`` (None: stop copying)."""
        from engine import admin_chat

        async with (await self.database(project)).sessions() as session, session.begin():  # type: ignore[attr-defined]
            await admin_chat.set_notify_chat(session, chat_id, bot_id)
        return await self.get_notify_chat(project)

    async def list_stuck(self, project: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The contacts stuck now (R5), as ``GET /projects/{p}/stuck`` lists them."""
        from engine.stuck import find_stuck

        async with (await self.database(project)).sessions() as session:  # type: ignore[attr-defined]
            found = await find_stuck(session, datetime.now(UTC), limit=limit)
        return [s.to_dict() for s in found]

    async def update_project_settings(
        self, project: str, *, timezone: str | None = None, manager_labels: bool | None = None
    ) -> dict[str, Any]:
        return await self.channels_admin.update_project_settings(
            project, timezone=timezone, manager_labels=manager_labels
        )

    # --- funnels --------------------------------------------------------------------------

    async def list_funnels(self, project: str) -> list[FunnelSummary]:
        async with (await self.database(project)).sessions() as session:
            rows = (
                await session.execute(
                    select(Funnel, func.max(FunnelVersion.version))
                    .outerjoin(FunnelVersion)
                    .where(Funnel.enabled)
                    .group_by(Funnel.id)
                    .order_by(Funnel.folder, Funnel.name)
                )
            ).all()
        return [
            FunnelSummary(f.id, f.name, f.folder, f.draft_revision, version, f.updated_at)
            for f, version in rows
        ]

    async def load_draft(self, project: str, funnel_id: int) -> FunnelDraft:
        async with (await self.database(project)).sessions() as session:
            funnel = await get_funnel(session, funnel_id)
            version = await session.scalar(
                select(func.max(FunnelVersion.version)).where(FunnelVersion.funnel_id == funnel_id)
            )
            return FunnelDraft(funnel.id, draft_document(funnel), funnel.draft_revision, version)

    async def create_funnel(self, project: str, doc: FunnelDocument, by: str | None) -> int:
        async with (await self.database(project)).sessions() as session, session.begin():
            return (await create_funnel(session, doc, by=by)).id

    async def save_draft(
        self, project: str, funnel_id: int, doc: FunnelDocument, revision: int, by: str | None
    ) -> int:
        """Returns the new revision; raises StaleDraftError if someone saved meanwhile."""
        async with (await self.database(project)).sessions() as session, session.begin():
            return await save_draft(session, funnel_id, doc, expected_revision=revision, by=by)

    async def validate(self, project: str, doc: FunnelDocument) -> list[Problem]:
        return validate_funnel(doc, await self.catalog(project))

    async def publish(self, project: str, funnel_id: int, by: str | None) -> PublishOutcome:
        async with (await self.database(project)).sessions() as session, session.begin():
            result: PublishResult = await publish_funnel(session, funnel_id, by=by)
            outcome = PublishOutcome(
                result.version.version, result.problems, result.contacts_on_removed_nodes
            )
        if self.engine_provider is not None:
            # The running engine picks the new version up at its next event, not a second later.
            engine = await self.engine_provider(await self.workspace.get_project(project))  # type: ignore[operator]
            engine.invalidate()
        return outcome

    async def delete_funnel(self, project: str, funnel_id: int) -> None:
        """Disable a funnel (its versions and runs' history stay for reports)."""
        async with (await self.database(project)).sessions() as session, session.begin():
            funnel = await get_funnel(session, funnel_id)
            funnel.enabled = False

    async def duplicate_funnel(self, project: str, funnel_name: str, by: str | None) -> int:
        return await duplicate_within_project(
            self.workspace, await self.workspace.get_project(project), funnel_name, by=by
        )

    async def plan_copy(self, source: str, funnel_name: str, target: str) -> CopyPlan:
        outcome = await copy_to_project(
            self.workspace,
            await self.workspace.get_project(source),
            funnel_name,
            await self.workspace.get_project(target),
            dry_run=True,
        )
        return outcome.plan

    async def copy_funnel(
        self, source: str, funnel_name: str, target: str, by: str | None
    ) -> CopyOutcome:
        return await copy_to_project(
            self.workspace,
            await self.workspace.get_project(source),
            funnel_name,
            await self.workspace.get_project(target),
            by=by,
        )

    # --- live counts ----------------------------------------------------------------------

    async def node_counts(self, project: str, funnel_id: int) -> dict[str, tuple[int, int, int]]:
        """Per node of the funnel: (contacts there now, entered, passed) over all versions."""
        from engine.stats import funnel_node_counts

        async with (await self.database(project)).sessions() as session:
            return await funnel_node_counts(session, funnel_id)

    async def contacts_on_node(
        self, project: str, funnel_id: int, node_id: str, limit: int = 200
    ) -> list[NodeContact]:
        """Contacts on ``node_id`` now (active/waiting runs of any version), longest there
        first; ``since`` is when the run reached the node (its last change)."""
        from db.models import Contact, Run, RunStatus

        async with (await self.database(project)).sessions() as session:
            await get_funnel(session, funnel_id)  # FunnelNotFoundError for a wrong id
            rows = (
                await session.execute(
                    select(Run, Contact, FunnelVersion.version)
                    .join(Contact, Contact.id == Run.contact_id)
                    .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                    .where(
                        FunnelVersion.funnel_id == funnel_id,
                        Run.node_id == node_id,
                        Run.status.in_([RunStatus.ACTIVE, RunStatus.WAITING]),
                    )
                    .order_by(Run.updated_at, Run.id)
                    .limit(limit)
                )
            ).all()
        return [
            NodeContact(
                contact_id=c.id,
                telegram_user_id=c.telegram_user_id,
                username=c.username,
                first_name=c.first_name,
                last_name=c.last_name,
                run_id=r.id,
                status=str(r.status),
                since=r.updated_at,
                version=version,
            )
            for r, c, version in rows
        ]

    # --- versions -------------------------------------------------------------------------

    async def funnel_versions(self, project: str, funnel_id: int) -> list[VersionInfo]:
        """Published versions of a funnel, newest first."""
        async with (await self.database(project)).sessions() as session:
            await get_funnel(session, funnel_id)
            rows = (
                await session.execute(
                    select(
                        FunnelVersion.version,
                        FunnelVersion.published_at,
                        FunnelVersion.published_by,
                    )
                    .where(FunnelVersion.funnel_id == funnel_id)
                    .order_by(FunnelVersion.version.desc())
                )
            ).all()
        return [VersionInfo(v, at, by) for v, at, by in rows]

    async def version_document(self, project: str, funnel_id: int, version: int) -> FunnelDocument:
        """The document of one published version (FunnelNotFoundError if there is none)."""
        from graph.loading import load_funnel

        async with (await self.database(project)).sessions() as session:
            row = await session.scalar(
                select(FunnelVersion).where(
                    FunnelVersion.funnel_id == funnel_id, FunnelVersion.version == version
                )
            )
            if row is None:
                raise FunnelNotFoundError(f"funnel {funnel_id} has no version {version}")
            return load_funnel(row.document_json)


def _segment(data: dict[str, Any]) -> Any:
    from db.models import TagMatch
    from engine import broadcasts as bc

    return bc.Segment(
        int(data["channel_id"]),
        tuple(data.get("tags_included") or ()),
        tuple(data.get("tags_excluded") or ()),
        TagMatch(data.get("include_mode") or TagMatch.ANY),
    )


def _broadcast(b: Any, progress: Any = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "title": b.title,
        "text": b.text,
        "buttons": b.buttons or [],
        "media": b.media or [],
        "channel_id": b.channel_id,
        "tags_included": list(b.tags_included or []),
        "tags_excluded": list(b.tags_excluded or []),
        "include_mode": str(b.include_mode),
        "status": str(b.status),
        "scheduled_at": _iso(b.scheduled_at),
        "created_by": b.created_by,
        "created_at": _iso(b.created_at),
        "started_at": _iso(b.started_at),
        "finished_at": _iso(b.finished_at),
        "cancelled_at": _iso(b.cancelled_at),
        "total": b.total,
        "sent": b.sent,
        "failed": b.failed,
        "progress": dict(vars(progress)) if progress is not None else None,
    }
