"""What the main window needs from an engine, and the embedded implementation.

The window talks to an :class:`EngineBackend`: either :class:`EmbeddedBackend` (the engine
in this process, over the local workspace) or :class:`desktop.remote_client.RemoteBackend`
(an engine server over its HTTP API). Both return the same plain data
(``engine.service`` dataclasses, funnel documents, problems) and raise the same
:class:`BackendError` subclasses for what the user must be told about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from engine.funnel_store import StaleDraftError
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


@dataclass(frozen=True)
class ProjectInfo:
    """A project as the window shows it."""

    name: str
    slug: str
    location: str
    """Where its data lives, for the status bar (a file, a database server, a URL)."""


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
            ProjectInfo(p.name, p.slug, p.display_location)
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

    # --- staff panels (JSON-shaped dicts, as the HTTP API returns them) -------------------

    async def search_contacts(
        self, project: str, q: str = "", tag: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.service.search_contacts(project, q, tag)

    async def contact_card(self, project: str, contact_id: int) -> dict[str, Any]:
        return await self.service.contact_card(project, contact_id)

    async def add_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        return await self.service.add_contact_tag(project, contact_id, tag, by)

    async def remove_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        return await self.service.remove_contact_tag(project, contact_id, tag, by)

    async def stop_run(self, project: str, run_id: int, by: str) -> None:
        await self.service.stop_run(project, run_id, by)

    async def restart_run(self, project: str, run_id: int, by: str) -> int | None:
        return await self.service.restart_run(project, run_id, by)

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


def as_backend(engine: Any) -> EngineBackend:
    """A backend from a backend or a bare :class:`WorkspaceService`."""
    if isinstance(engine, WorkspaceService):
        return EmbeddedBackend(engine)
    return engine  # type: ignore[no-any-return]
