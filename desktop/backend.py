"""What the main window needs from an engine, and the embedded implementation.

The window talks to an :class:`EngineBackend`: either :class:`EmbeddedBackend` (the engine
in this process, over the local workspace) or :class:`desktop.remote_client.RemoteBackend`
(an engine server over its HTTP API). Both return the same plain data
(``engine.service`` dataclasses, funnel documents, problems) and raise the same
:class:`BackendError` subclasses for what the user must be told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from engine.funnel_store import StaleDraftError
from engine.media_store import MediaStore, MediaStoreError, project_root
from engine.service import (
    FunnelDraft,
    FunnelSummary,
    NodeContact,
    PublishOutcome,
    VersionInfo,
    WorkspaceService,
)
from graph.copying import CopyPlan
from graph.document import FunnelDocument
from graph.problems import Problem
from graph.project_catalog import ProjectCatalog

__all__ = [
    "BackendError",
    "DraftConflictError",
    "EmbeddedBackend",
    "EngineBackend",
    "FunnelDraft",
    "FunnelSummary",
    "LoginBackendError",
    "NodeContact",
    "ProjectInfo",
    "PublishOutcome",
    "VersionInfo",
]


class BackendError(Exception):
    """An error to show the user as it is (one readable line)."""


class DraftConflictError(BackendError):
    """The draft was saved by someone else after it was opened."""

    def __init__(self, funnel: str, expected: int | None = None, actual: int | None = None):
        self.expected, self.actual = expected, actual
        revisions = ""
        if actual is not None and expected is not None:
            revisions = f" (ревизия {actual}, вы правили {expected})"
        super().__init__(
            f"Робота «{funnel}» изменил кто-то другой{revisions}. Откройте его заново и "
            "повторите правку. / Changed by someone else: reopen the robot and apply your "
            "change again."
        )


class LoginBackendError(BackendError):
    """A manager-account login step failed (wrong code or password, FloodWait, …).

    ``state`` is where the login stays ("code_sent" after a wrong code, "password_needed"
    after a wrong password, "failed" when it cannot continue); ``retry_after`` is the
    FloodWait in seconds when Telegram asks to wait."""

    def __init__(self, message: str, state: str = "failed", retry_after: int | None = None):
        super().__init__(message)
        self.state, self.retry_after = state, retry_after


_TAG_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
MANAGER_LABEL_MAX = 16
"""The longest tag label shown to managers in Telegram (R15; the API's limit too)."""


def check_tag_fields(colour: str | None, manager_label: str | None) -> None:
    """The API's checks of a tag's colour and manager label, as one readable error."""
    if colour is not None and not _TAG_COLOUR.match(colour):
        raise BackendError(f"colour: «{colour}» — нужен цвет вида #RRGGBB / expected #RRGGBB")
    if manager_label is not None and len(manager_label) > MANAGER_LABEL_MAX:
        raise BackendError(
            f"manager_label: не длиннее {MANAGER_LABEL_MAX} символов / "
            f"at most {MANAGER_LABEL_MAX} characters"
        )


@contextlib.contextmanager
def channel_errors() -> Iterator[None]:
    """Engine errors of channel administration (engine/channels_admin.py) as BackendError."""
    try:
        yield
    except BackendError:
        raise
    except Exception as exc:
        from engine import channels_admin as admin

        if isinstance(exc, admin.LoginFailed):
            retry = getattr(exc, "retry_after", None)
            raise LoginBackendError(
                str(exc), getattr(exc, "state", "failed"), int(retry) if retry else None
            ) from exc
        if isinstance(exc, admin.ChannelError):  # input, conflict, not found, unreachable
            raise BackendError(str(exc)) from exc
        raise


@dataclass(frozen=True)
class ProjectInfo:
    """A project as the window shows it."""

    name: str
    slug: str
    location: str
    """Where its data lives, for the status bar (a file, a database server, a URL)."""
    timezone: str = "Europe/Moscow"
    """The project's time zone (IANA name): schedules, reports, the chat simulator."""


@runtime_checkable
class EngineBackend(Protocol):
    """The engine operations of the main window (embedded or remote)."""

    @property
    def description(self) -> str:
        """ "embedded" or the server URL, for the status bar."""
        ...

    async def close(self) -> None: ...

    async def list_projects(self) -> list[ProjectInfo]: ...

    async def catalog(self, project: str) -> ProjectCatalog: ...

    async def list_funnels(self, project: str) -> list[FunnelSummary]: ...

    async def load_draft(self, project: str, funnel_id: int) -> FunnelDraft: ...

    async def create_funnel(self, project: str, doc: FunnelDocument, by: str | None) -> int: ...

    async def save_draft(
        self, project: str, funnel_id: int, doc: FunnelDocument, revision: int, by: str | None
    ) -> int:
        """The new revision; :class:`DraftConflictError` if someone saved meanwhile."""
        ...

    async def validate(self, project: str, doc: FunnelDocument) -> list[Problem]: ...

    async def publish(self, project: str, funnel_id: int, by: str | None) -> PublishOutcome: ...

    async def delete_funnel(self, project: str, funnel_id: int) -> None: ...

    async def duplicate_funnel(self, project: str, funnel_name: str, by: str | None) -> int: ...

    async def plan_copy(self, source: str, funnel_name: str, target: str) -> CopyPlan: ...

    async def copy_funnel(
        self, source: str, funnel_name: str, target: str, by: str | None
    ) -> int | None: ...

    async def node_counts(
        self, project: str, funnel_id: int
    ) -> dict[str, tuple[int, int, int]]: ...

    async def contacts_on_node(
        self, project: str, funnel_id: int, node_id: str
    ) -> list[NodeContact]: ...

    async def funnel_versions(self, project: str, funnel_id: int) -> list[VersionInfo]: ...

    async def version_document(
        self, project: str, funnel_id: int, version: int
    ) -> FunnelDocument: ...


class EmbeddedBackend:
    """The engine in this process: a thin wrapper of :class:`WorkspaceService`."""

    description = "embedded"

    def __init__(self, service: WorkspaceService) -> None:
        self.service = service

    async def close(self) -> None:
        await self.service.close()

    async def list_projects(self) -> list[ProjectInfo]:
        return [
            ProjectInfo(p.name, p.slug, p.display_location, p.timezone)
            for p in await self.service.list_projects()
        ]

    async def catalog(self, project: str) -> ProjectCatalog:
        return await self.service.catalog(project)

    async def list_funnels(self, project: str) -> list[FunnelSummary]:
        return await self.service.list_funnels(project)

    async def load_draft(self, project: str, funnel_id: int) -> FunnelDraft:
        return await self.service.load_draft(project, funnel_id)

    async def create_funnel(self, project: str, doc: FunnelDocument, by: str | None) -> int:
        return await self.service.create_funnel(project, doc, by=by)

    async def save_draft(
        self, project: str, funnel_id: int, doc: FunnelDocument, revision: int, by: str | None
    ) -> int:
        try:
            return await self.service.save_draft(project, funnel_id, doc, revision, by=by)
        except StaleDraftError as exc:
            raise DraftConflictError(doc.name, exc.expected, exc.actual) from exc

    async def validate(self, project: str, doc: FunnelDocument) -> list[Problem]:
        return await self.service.validate(project, doc)

    async def publish(self, project: str, funnel_id: int, by: str | None) -> PublishOutcome:
        return await self.service.publish(project, funnel_id, by=by)

    async def delete_funnel(self, project: str, funnel_id: int) -> None:
        await self.service.delete_funnel(project, funnel_id)

    async def duplicate_funnel(self, project: str, funnel_name: str, by: str | None) -> int:
        return await self.service.duplicate_funnel(project, funnel_name, by=by)

    async def plan_copy(self, source: str, funnel_name: str, target: str) -> CopyPlan:
        return await self.service.plan_copy(source, funnel_name, target)

    async def copy_funnel(
        self, source: str, funnel_name: str, target: str, by: str | None
    ) -> int | None:
        return (await self.service.copy_funnel(source, funnel_name, target, by=by)).funnel_id

    async def node_counts(self, project: str, funnel_id: int) -> dict[str, tuple[int, int, int]]:
        return await self.service.node_counts(project, funnel_id)

    async def contacts_on_node(
        self, project: str, funnel_id: int, node_id: str
    ) -> list[NodeContact]:
        return await self.service.contacts_on_node(project, funnel_id, node_id)

    async def funnel_versions(self, project: str, funnel_id: int) -> list[VersionInfo]:
        return await self.service.funnel_versions(project, funnel_id)

    async def version_document(self, project: str, funnel_id: int, version: int) -> FunnelDocument:
        return await self.service.version_document(project, funnel_id, version)

    # --- media (engine/media_store.py) ----------------------------------------------------

    async def media_root(self, project: str) -> Path:
        """The project's file folder, where ``media/…`` sources are found."""
        record = await self.service.workspace.get_project(project)
        return project_root(self.service.workspace.directory, record.slug)

    async def upload_media(
        self, project: str, path: Path, progress: Callable[[int, int], None] | None = None
    ) -> str:
        """Copy a local file into the project's media store; its ``media/…`` source."""
        store = MediaStore(await self.media_root(project))
        try:
            stored = await asyncio.to_thread(store.save_file, Path(path))
        except MediaStoreError as exc:
            raise BackendError(str(exc)) from exc
        if progress is not None:
            progress(stored.size, stored.size)
        return stored.source

    # --- staff panels (JSON-shaped dicts, as the HTTP API returns them) -------------------

    async def search_contacts(
        self, project: str, q: str = "", tag: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.service.search_contacts(project, q, tag)

    async def contact_card(self, project: str, contact_id: int) -> dict[str, Any]:
        card = await self.service.contact_card(project, contact_id)
        if "links" not in card:
            card["links"] = await self._personal_links(project, contact_id)
        return card

    async def _personal_links(self, project: str, contact_id: int) -> list[dict[str, Any]]:
        """The contact's personal links (the API card's ``links``, with product and bot
        names), oldest first."""
        from sqlalchemy import select

        from db.models import Channel, PersonalLink, Product

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        db = await self.service.database(project)
        async with db.sessions() as s:
            rows = (
                await s.execute(
                    select(PersonalLink, Product.name, Channel.name)
                    .outerjoin(Product, Product.id == PersonalLink.product_id)
                    .outerjoin(Channel, Channel.id == PersonalLink.target_channel_id)
                    .where(PersonalLink.contact_id == contact_id)
                    .order_by(PersonalLink.id)
                )
            ).all()
        return [
            {
                "id": link.id,
                "product_id": link.product_id,
                "product": product,
                "target_channel_id": link.target_channel_id,
                "target_channel": channel,
                "created_at": iso(link.created_at),
                "expires_at": iso(link.expires_at),
                "used_at": iso(link.used_at),
                "revoked_at": iso(link.revoked_at),
            }
            for link, product, channel in rows
        ]

    async def add_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        return await self.service.add_contact_tag(project, contact_id, tag, by)

    async def remove_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        return await self.service.remove_contact_tag(project, contact_id, tag, by)

    async def stop_run(self, project: str, run_id: int, by: str) -> None:
        await self.service.stop_run(project, run_id, by)

    async def restart_run(self, project: str, run_id: int, by: str) -> int | None:
        return await self.service.restart_run(project, run_id, by)

    async def move_run(self, project: str, run_id: int, node: str, by: str) -> None:
        """Put the run on ``node`` (an id of its funnel version) and execute from there."""
        from engine import flows

        engine = await self.service.project_engine(project)
        try:
            await flows.move_run(engine, run_id, node, actor=by)
        except flows.StaffActionError as exc:
            raise BackendError(str(exc)) from exc

    async def rollback_preview(self, project: str, run_id: int) -> dict[str, Any]:
        return await self.service.rollback_preview(project, run_id)

    async def rollback_apply(self, project: str, run_id: int, by: str) -> dict[str, Any]:
        return await self.service.rollback_apply(project, run_id, by)

    async def list_notifications(
        self, project: str, kind: str | None = None, resolved: bool | None = None
    ) -> list[dict[str, Any]]:
        return await self.service.list_notifications(project, kind, resolved)

    async def unresolved_notifications(self, project: str) -> int:
        return await self.service.unresolved_notifications(project)

    async def resolve_notification(
        self, project: str, notification_id: int, by: str
    ) -> dict[str, Any]:
        return await self.service.resolve_notification(project, notification_id, by)

    async def list_purchases(
        self,
        project: str,
        product: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        return await self.service.list_purchases(project, product, since, until)

    async def list_products(self, project: str) -> list[str]:
        return await self.service.list_products(project)

    async def daily_report(self, project: str, first: date, last: date) -> dict[str, Any]:
        return await self.service.daily_report(project, first, last)

    async def _report_session(self, project: str) -> tuple[Any, Any]:
        """The project's database and time zone (reports are read-only queries)."""
        from zoneinfo import ZoneInfo

        record = await self.service.workspace.get_project(project)
        return await self.service.database(record), ZoneInfo(record.timezone)

    async def messages_report(self, project: str, first: date, last: date) -> list[dict[str, Any]]:
        """Messages sent and node entries per day per funnel node (the API's ``rows``)."""
        from dataclasses import asdict

        from engine import reports

        db, tz = await self._report_session(project)
        async with db.sessions() as s:
            return [asdict(r) for r in await reports.messages_report(s, first, last, tz)]

    async def audience_report(
        self, project: str, first: date, last: date, group: str = "day"
    ) -> list[dict[str, Any]]:
        """New / unsubscribed / blocked per day or ISO week (the API's ``rows``)."""
        from engine import reports

        db, tz = await self._report_session(project)
        async with db.sessions() as s:
            rows = await reports.audience_report(s, first, last, tz, group)  # type: ignore[arg-type]
        return [
            {
                "period": r.period,
                "start": r.start.isoformat(),
                "new": r.new,
                "unsubscribed": r.unsubscribed,
                "blocked": r.blocked,
            }
            for r in rows
        ]

    async def audience_now(self, project: str) -> dict[str, Any]:
        """People per bot (by status) and per funnel node now: ``{"bots", "funnels"}``."""
        from dataclasses import asdict

        from engine import reports

        db, _tz = await self._report_session(project)
        async with db.sessions() as s:
            now = await reports.audience_now(s)
        return {
            "bots": [{**asdict(b), "total": b.total} for b in now.bots],
            "funnels": [asdict(f) for f in now.funnels],
        }

    async def list_bots(self, project: str) -> list[dict[str, Any]]:
        return await self.service.list_bots(project)

    async def preview_broadcast(self, project: str, segment: dict[str, Any]) -> int:
        return await self.service.preview_broadcast(project, segment)

    async def create_broadcast(self, project: str, data: dict[str, Any], by: str) -> dict[str, Any]:
        return await self.service.create_broadcast(project, data, by)

    async def list_broadcasts(self, project: str) -> list[dict[str, Any]]:
        return await self.service.list_broadcasts(project)

    async def get_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        return await self.service.get_broadcast(project, broadcast_id)

    async def send_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        return await self.service.send_broadcast(project, broadcast_id)

    async def cancel_broadcast(self, project: str, broadcast_id: int, by: str) -> dict[str, Any]:
        return await self.service.cancel_broadcast(project, broadcast_id, by)

    # --- channels, manager login, project settings (engine/channels_admin.py) -------------

    async def list_channels(self, project: str) -> list[dict[str, Any]]:
        with channel_errors():
            return await self.service.list_channels(project)  # type: ignore[no-any-return]

    async def add_bot(
        self,
        project: str,
        token: str,
        role: str,
        *,
        name: str | None = None,
        is_main: bool = False,
    ) -> dict[str, Any]:
        with channel_errors():
            return await self.service.add_bot(  # type: ignore[no-any-return]
                project, token, role, name=name, is_main=is_main, by="desktop"
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
        with channel_errors():
            return await self.service.update_channel(  # type: ignore[no-any-return]
                project, channel_id, name=name, role=role, enabled=enabled, is_main=is_main
            )

    async def delete_channel(self, project: str, channel_id: int) -> None:
        with channel_errors():
            await self.service.delete_channel(project, channel_id)

    async def begin_manager_login(
        self, project: str, *, name: str, phone: str, api_id: int | None, api_hash: str | None
    ) -> dict[str, Any]:
        with channel_errors():
            return await self.service.begin_manager_login(  # type: ignore[no-any-return]
                project, name=name, phone=phone, api_id=api_id, api_hash=api_hash
            )

    async def submit_login_code(self, project: str, login_id: str, code: str) -> dict[str, Any]:
        with channel_errors():
            return await self.service.submit_login_code(  # type: ignore[no-any-return]
                project, login_id, code
            )

    async def submit_login_password(
        self, project: str, login_id: str, password: str
    ) -> dict[str, Any]:
        with channel_errors():
            return await self.service.submit_login_password(  # type: ignore[no-any-return]
                project, login_id, password
            )

    async def cancel_manager_login(self, project: str, login_id: str) -> None:
        with channel_errors():
            await self.service.cancel_manager_login(project, login_id)

    async def logout_manager(self, project: str, channel_id: int) -> None:
        with channel_errors():
            await self.service.logout_manager(project, channel_id)

    async def get_project_settings(self, project: str) -> dict[str, Any]:
        with channel_errors():
            return await self.service.get_project_settings(project)  # type: ignore[no-any-return]

    async def get_notify_chat(self, project: str) -> dict[str, Any] | None:
        return await self.service.get_notify_chat(project)  # type: ignore[no-any-return]

    async def set_notify_chat(
        self, project: str, chat_id: int | None, bot_id: int | None
    ) -> dict[str, Any] | None:
        from engine.admin_chat import NotifyChatError

        try:
            return await self.service.set_notify_chat(project, chat_id, bot_id)  # type: ignore[no-any-return]
        except NotifyChatError as exc:
            raise BackendError(str(exc)) from exc

    async def list_stuck(self, project: str) -> list[dict[str, Any]]:
        return await self.service.list_stuck(project)  # type: ignore[no-any-return]

    async def update_project_settings(
        self, project: str, *, timezone: str | None = None, manager_labels: bool | None = None
    ) -> dict[str, Any]:
        with channel_errors():
            return await self.service.update_project_settings(  # type: ignore[no-any-return]
                project, timezone=timezone, manager_labels=manager_labels
            )

    # --- tags (the API's /projects/{p}/tags; no service method, read the project DB) ------

    async def list_tags(self, project: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from db.models import Tag

        db = await self.service.database(project)
        async with db.sessions() as s:
            return [_tag_dict(tag) for tag in await s.scalars(select(Tag).order_by(Tag.name))]

    async def create_tag(
        self,
        project: str,
        name: str,
        *,
        colour: str | None = None,
        manager_label: str | None = None,
        is_key: bool = False,
    ) -> dict[str, Any]:
        from sqlalchemy import select

        from db.models import Tag

        name = name.strip()
        if not name:
            raise BackendError("name: название тега не может быть пустым / a tag needs a name")
        check_tag_fields(colour, manager_label)
        db = await self.service.database(project)
        async with db.sessions() as s, s.begin():
            if await s.scalar(select(Tag.id).where(Tag.name == name)) is not None:
                raise BackendError(f"Тег «{name}» уже есть / tag {name!r} already exists")
            tag = Tag(name=name, colour=colour, manager_label=manager_label, is_key=is_key)
            s.add(tag)
            await s.flush()
            return _tag_dict(tag)

    async def update_tag(self, project: str, tag_id: int, **fields: Any) -> dict[str, Any]:
        """Change ``colour`` / ``manager_label`` / ``is_key`` (None clears colour or label)."""
        from db.models import Tag

        unknown = set(fields) - {"colour", "manager_label", "is_key"}
        if unknown:
            raise BackendError(f"tag fields: unknown {sorted(unknown)}")
        check_tag_fields(fields.get("colour"), fields.get("manager_label"))
        db = await self.service.database(project)
        async with db.sessions() as s, s.begin():
            tag = await s.get(Tag, tag_id)
            if tag is None:
                raise BackendError(f"Нет тега {tag_id} / no tag {tag_id}")
            for key, value in fields.items():
                if key == "is_key" and value is None:
                    continue
                setattr(tag, key, value)
            return _tag_dict(tag)


def _tag_dict(tag: Any) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "colour": tag.colour,
        "manager_label": tag.manager_label,
        "is_key": bool(tag.is_key),
    }


def as_backend(engine: Any) -> EngineBackend:
    """A backend from a backend or a bare :class:`WorkspaceService`."""
    if isinstance(engine, WorkspaceService):
        return EmbeddedBackend(engine)
    return engine  # type: ignore[no-any-return]
