"""The engine's operations for staff tools, in one facade.

The desktop's embedded mode calls this directly; the HTTP API exposes the same operations
to remote desktops. Every method opens its own transaction and returns plain data
(dataclasses, funnel documents), never ORM objects bound to a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from db.models import Funnel, FunnelVersion
from db.project_database import ProjectDatabase
from db.workspace import Project, Workspace
from engine.catalog import project_catalog
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


class WorkspaceService:
    """Staff operations over every project of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._databases: dict[int, ProjectDatabase] = {}

    @classmethod
    async def open(cls, directory: str | None = None) -> WorkspaceService:
        return cls(await Workspace.open(directory))

    async def close(self) -> None:
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
            return PublishOutcome(
                result.version.version, result.problems, result.contacts_on_removed_nodes
            )

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
