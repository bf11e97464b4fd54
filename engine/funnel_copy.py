"""Copying robots within a project and to another project (R14).

Across projects the copy is remapped by meaning: bots by role, tags and products by name
(created in the target when missing). Contacts, runs and secrets never travel: a funnel
document holds none of them, and only the document is copied — with the media files it
uploaded (``media/<sha256>/<name>`` sources, engine/media_store.py): they are copied into
the target project's media folder under the same names, so the document stays unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from db.workspace import Project, Workspace
from engine.catalog import ensure_products, ensure_tags, project_catalog
from engine.funnel_store import FunnelStoreError, create_funnel, draft_document, find_funnel
from engine.media_store import copy_media, project_root, stored_sources
from graph.copying import CopyPlan, apply_copy_plan, copy_within_project, plan_copy_to_project
from graph.loading import funnel_to_dict
from graph.problems import has_errors


class CopyRefusedError(FunnelStoreError):
    def __init__(self, plan: CopyPlan) -> None:
        self.plan = plan
        errors = [str(p) for p in plan.problems if p.is_error]
        super().__init__("the copy cannot be made: " + "; ".join(errors))


@dataclass(frozen=True)
class CopyOutcome:
    plan: CopyPlan
    funnel_id: int | None
    """The new funnel's id in the target project; None for a dry run."""


async def plan_cross_project_copy(
    workspace: Workspace, source: Project, funnel_name: str, target: Project
) -> CopyPlan:
    """What copying would do (shown to staff before they confirm)."""
    outcome = await copy_to_project(workspace, source, funnel_name, target, dry_run=True)
    return outcome.plan


async def copy_to_project(
    workspace: Workspace,
    source: Project,
    funnel_name: str,
    target: Project,
    *,
    by: str | None = None,
    dry_run: bool = False,
) -> CopyOutcome:
    """Copy the draft of ``funnel_name`` from ``source`` into ``target`` as a new draft."""
    source_db = await workspace.open_project_db(source)
    try:
        async with source_db.sessions() as session:
            doc = draft_document(await find_funnel(session, funnel_name))
            source_catalog = await project_catalog(session)
    finally:
        await source_db.dispose()

    target_db = await workspace.open_project_db(target)
    try:
        async with target_db.sessions() as session, session.begin():
            plan = plan_copy_to_project(doc, source_catalog, await project_catalog(session))
            if dry_run:
                return CopyOutcome(plan=plan, funnel_id=None)
            if has_errors(plan.problems):
                raise CopyRefusedError(plan)
            copy = apply_copy_plan(doc, plan)
            # Files first: they are named by content, so a copy that fails later leaves
            # only unused files behind, never a robot without its media.
            await asyncio.to_thread(
                copy_media,
                stored_sources(funnel_to_dict(copy)),
                project_root(workspace.directory, source.slug),
                project_root(workspace.directory, target.slug),
            )
            await ensure_tags(session, plan.tags_to_create)
            await ensure_products(session, plan.products_to_create)
            funnel = await create_funnel(session, copy, by=by)
            return CopyOutcome(plan=plan, funnel_id=funnel.id)
    finally:
        await target_db.dispose()


async def duplicate_within_project(
    workspace: Workspace, project: Project, funnel_name: str, *, by: str | None = None
) -> int:
    """A copy of the funnel in the same project: new ids, name "… (копия)"."""
    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session, session.begin():
            doc = draft_document(await find_funnel(session, funnel_name))
            taken = (await project_catalog(session)).funnels
            name = f"{doc.name} (копия)"
            counter = 2
            while name in taken:
                name = f"{doc.name} (копия {counter})"
                counter += 1
            funnel = await create_funnel(session, copy_within_project(doc, new_name=name), by=by)
            return funnel.id
    finally:
        await database.dispose()
