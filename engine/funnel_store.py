"""Funnels of a project: drafts saved with optimistic concurrency, immutable published versions.

A draft is what staff edit; publishing freezes the draft into a new ``FunnelVersion`` that
the engine runs. Runs stay pinned to the version they started on, so contacts sitting on
nodes that a new version removes simply finish on their old version — ``publish_funnel``
reports how many there are so the desktop can warn before publishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.column_types import utcnow
from db.models import LIVE_RUN_STATUSES, Funnel, FunnelVersion, Run
from engine.catalog import project_catalog
from graph.document import FunnelDocument
from graph.loading import dump_funnel, load_funnel
from graph.problems import Problem, has_errors
from graph.validation import validate_funnel


class FunnelStoreError(Exception):
    """A funnel operation was refused; the message says why in one line."""


class FunnelNotFoundError(FunnelStoreError, LookupError):
    pass


class FunnelNameTakenError(FunnelStoreError):
    pass


class StaleDraftError(FunnelStoreError):
    """Someone saved the draft after you loaded it; reload before saving again."""

    def __init__(self, funnel: str, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"funnel {funnel!r} was changed by someone else (revision {actual}, "
            f"you edited revision {expected}); reload it and apply your change again"
        )


class PublishRefusedError(FunnelStoreError):
    def __init__(self, funnel: str, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.is_error]
        super().__init__(
            f"funnel {funnel!r} has {len(errors)} problem(s) and was not published: "
            + "; ".join(str(p) for p in errors[:5])
        )


@dataclass(frozen=True)
class PublishResult:
    version: FunnelVersion
    problems: list[Problem] = field(default_factory=list)
    """Warnings only (errors refuse publishing)."""
    contacts_on_removed_nodes: int = 0
    """Contacts whose live runs sit on nodes the new version no longer has; they finish on
    the version they started on."""


async def get_funnel(session: AsyncSession, funnel_id: int) -> Funnel:
    funnel = await session.get(Funnel, funnel_id)
    if funnel is None:
        raise FunnelNotFoundError(f"no funnel with id {funnel_id}")
    return funnel


async def find_funnel(session: AsyncSession, name: str) -> Funnel:
    """The funnel with this name (case-insensitive), in any folder."""
    funnels = (await session.scalars(select(Funnel))).all()
    for funnel in funnels:
        if funnel.name.casefold() == name.strip().casefold():
            return funnel
    known = ", ".join(sorted(f.name for f in funnels)) or "none"
    raise FunnelNotFoundError(f"no funnel named {name!r} (known: {known})")


def draft_document(funnel: Funnel) -> FunnelDocument:
    return load_funnel(funnel.draft_json)


async def create_funnel(
    session: AsyncSession, doc: FunnelDocument, *, by: str | None = None, folder: str | None = None
) -> Funnel:
    folder = doc.folder or "" if folder is None else folder
    taken = await session.scalar(
        select(func.count()).select_from(Funnel).where(Funnel.name == doc.name)
    )
    if taken:
        raise FunnelNameTakenError(f"a funnel named {doc.name!r} already exists in this project")
    funnel = Funnel(
        name=doc.name,
        folder=folder,
        draft_json=dump_funnel(doc),
        updated_by=by,
        updated_at=utcnow(),
    )
    session.add(funnel)
    await session.flush()
    return funnel


async def save_draft(
    session: AsyncSession,
    funnel_id: int,
    doc: FunnelDocument,
    *,
    expected_revision: int,
    by: str | None = None,
) -> int:
    """Save the draft if nobody saved since ``expected_revision``; returns the new revision.

    The check is a compare-and-set in SQL, so two concurrent saves never both succeed.
    """

    funnel = await get_funnel(session, funnel_id)
    result = await session.execute(
        update(Funnel)
        .where(Funnel.id == funnel_id, Funnel.draft_revision == expected_revision)
        .values(
            draft_json=dump_funnel(doc),
            name=doc.name,
            draft_revision=Funnel.draft_revision + 1,
            updated_at=utcnow(),
            updated_by=by,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        await session.refresh(funnel)
        raise StaleDraftError(funnel.name, expected_revision, funnel.draft_revision)
    await session.refresh(funnel)
    return funnel.draft_revision


async def publish_funnel(
    session: AsyncSession, funnel_id: int, *, by: str | None = None
) -> PublishResult:
    """Freeze the current draft into a new version after validating it against the project."""
    funnel = await get_funnel(session, funnel_id)
    doc = draft_document(funnel)
    problems = validate_funnel(doc, await project_catalog(session))
    if has_errors(problems):
        raise PublishRefusedError(funnel.name, problems)
    last = await session.scalar(
        select(func.max(FunnelVersion.version)).where(FunnelVersion.funnel_id == funnel_id)
    )
    node_ids = {str(n.id) for n in doc.nodes}
    on_removed = await session.scalar(
        select(func.count(func.distinct(Run.contact_id)))
        .join(FunnelVersion, Run.funnel_version_id == FunnelVersion.id)
        .where(
            FunnelVersion.funnel_id == funnel_id,
            Run.status.in_(LIVE_RUN_STATUSES),
            Run.node_id.not_in(node_ids) if node_ids else Run.node_id.is_not(None),
        )
    )
    version = FunnelVersion(
        funnel_id=funnel_id,
        version=(last or 0) + 1,
        document_json=dump_funnel(doc),
        published_at=utcnow(),
        published_by=by,
    )
    session.add(version)
    await session.flush()
    return PublishResult(
        version=version, problems=problems, contacts_on_removed_nodes=on_removed or 0
    )


async def live_versions(session: AsyncSession) -> list[FunnelVersion]:
    """The latest published version of every enabled funnel: what new runs start on."""
    latest = (
        select(FunnelVersion.funnel_id, func.max(FunnelVersion.version).label("version"))
        .group_by(FunnelVersion.funnel_id)
        .subquery()
    )
    rows = await session.scalars(
        select(FunnelVersion)
        .join(
            latest,
            (FunnelVersion.funnel_id == latest.c.funnel_id)
            & (FunnelVersion.version == latest.c.version),
        )
        .join(Funnel, Funnel.id == FunnelVersion.funnel_id)
        .where(Funnel.enabled)
        .order_by(FunnelVersion.funnel_id)
    )
    return list(rows.all())
