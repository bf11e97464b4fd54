"""``main.py funnel list|import|export|publish|copy``: funnels stored in a project."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.cli.errors import EXIT_OK, EXIT_PROBLEMS, fail

T = TypeVar("T")


def register(sub: Any) -> None:
    listing = sub.add_parser("list", help="list the funnels of a project")
    listing.add_argument("--project", required=True)
    listing.set_defaults(handler=_list)

    imp = sub.add_parser("import", help="add a funnel file to a project as a new draft")
    imp.add_argument("file", type=Path)
    imp.add_argument("--project", required=True)
    imp.add_argument("--publish", action="store_true", help="publish it right away")
    imp.set_defaults(handler=_import)

    exp = sub.add_parser("export", help="print (or write) a funnel's draft as JSON")
    exp.add_argument("name")
    exp.add_argument("--project", required=True)
    exp.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    exp.set_defaults(handler=_export)

    pub = sub.add_parser("publish", help="publish a funnel's draft as a new version")
    pub.add_argument("name")
    pub.add_argument("--project", required=True)
    pub.set_defaults(handler=_publish)

    copy = sub.add_parser(
        "copy", help="copy a funnel within a project or to another project (remapped)"
    )
    copy.add_argument("name", help="funnel name in the source project")
    copy.add_argument("--from", dest="source", required=True, metavar="PROJECT")
    copy.add_argument(
        "--to", dest="target", metavar="PROJECT", help="target project (default: the same)"
    )
    copy.add_argument("--dry-run", action="store_true", help="only show the remapping")
    copy.set_defaults(handler=_copy)


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    """Open the workspace, run ``work(workspace)``, turn known errors into one line."""
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir
    from engine.funnel_store import FunnelStoreError
    from graph.loading import FunnelLoadError

    async def go() -> int:
        workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        try:
            return await work(workspace)
        except (VoronkaDbError, FunnelStoreError, FunnelLoadError) as exc:
            return fail(str(exc))
        finally:
            await workspace.close()

    return asyncio.run(go())


def read_catalog(workspace_dir: str | None, project_name: str) -> Any:
    """The ProjectCatalog of a project (for ``funnel validate --project``)."""
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir
    from engine.catalog import project_catalog

    async def go() -> Any:
        workspace = await Workspace.open(resolve_workspace_dir(workspace_dir))
        try:
            database = await workspace.open_project_db(project_name)
        except VoronkaDbError as exc:
            raise LookupError(str(exc)) from None
        finally:
            await workspace.close()
        try:
            async with database.sessions() as session:
                return await project_catalog(session)
        finally:
            await database.dispose()

    return asyncio.run(go())


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from db.models import Funnel, FunnelVersion

    async def work(workspace: Any) -> int:
        database = await workspace.open_project_db(args.project)
        try:
            async with database.sessions() as session:
                rows = (
                    await session.execute(
                        select(Funnel, func.max(FunnelVersion.version))
                        .outerjoin(FunnelVersion)
                        .group_by(Funnel.id)
                        .order_by(Funnel.folder, Funnel.name)
                    )
                ).all()
        finally:
            await database.dispose()
        for funnel, version in rows:
            published = f"v{version}" if version else "draft only"
            folder = f"{funnel.folder}/" if funnel.folder else ""
            print(f"{folder}{funnel.name}  [{published}, draft rev {funnel.draft_revision}]")
        if not rows:
            print("no funnels yet")
        return EXIT_OK

    return _run(args, work)


def _import(args: argparse.Namespace) -> int:
    from engine.funnel_store import create_funnel, publish_funnel
    from graph.loading import load_funnel

    try:
        doc = load_funnel(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror}")

    async def work(workspace: Any) -> int:
        database = await workspace.open_project_db(args.project)
        try:
            async with database.sessions() as session, session.begin():
                funnel = await create_funnel(session, doc, by="cli")
                message = f"imported {doc.name!r} into {args.project!r} as a draft"
                if args.publish:
                    result = await publish_funnel(session, funnel.id, by="cli")
                    message += f", published as version {result.version.version}"
        finally:
            await database.dispose()
        print(message)
        return EXIT_OK

    return _run(args, work)


def _export(args: argparse.Namespace) -> int:
    from engine.funnel_store import find_funnel

    async def work(workspace: Any) -> int:
        database = await workspace.open_project_db(args.project)
        try:
            async with database.sessions() as session:
                text = (await find_funnel(session, args.name)).draft_json
        finally:
            await database.dispose()
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
        return EXIT_OK

    return _run(args, work)


def _publish(args: argparse.Namespace) -> int:
    from engine.funnel_store import PublishRefusedError, find_funnel, publish_funnel

    async def work(workspace: Any) -> int:
        database = await workspace.open_project_db(args.project)
        try:
            async with database.sessions() as session, session.begin():
                funnel = await find_funnel(session, args.name)
                try:
                    result = await publish_funnel(session, funnel.id, by="cli")
                except PublishRefusedError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return EXIT_PROBLEMS
        finally:
            await database.dispose()
        print(f"published {funnel.name!r} as version {result.version.version}")
        if result.contacts_on_removed_nodes:
            print(
                f"note: {result.contacts_on_removed_nodes} contact(s) sit on nodes this version "
                "removes; they finish on the version they started on"
            )
        return EXIT_OK

    return _run(args, work)


def _copy(args: argparse.Namespace) -> int:
    from engine.funnel_copy import copy_to_project, duplicate_within_project

    async def work(workspace: Any) -> int:
        source = await workspace.get_project(args.source)
        if args.target is None or (await workspace.get_project(args.target)).id == source.id:
            await duplicate_within_project(workspace, source, args.name, by="cli")
            print(f"copied {args.name!r} within {source.name!r}")
            return EXIT_OK
        target = await workspace.get_project(args.target)
        outcome = await copy_to_project(
            workspace, source, args.name, target, by="cli", dry_run=args.dry_run
        )
        plan = outcome.plan
        for bot in plan.bots:
            print(f"bot {bot.role} ({bot.source_bot}) → {bot.target_role} ({bot.target_bot})")
        for tag in plan.tags_to_create:
            print(f"tag {tag!r} will be created" if args.dry_run else f"created tag {tag!r}")
        for product in plan.products_to_create:
            verb = "will be created" if args.dry_run else "created"
            print(f"product {product!r} {verb}")
        for problem in plan.problems:
            print(f"{problem.severity}: {problem.message}")
        if args.dry_run:
            return EXIT_PROBLEMS if any(p.is_error for p in plan.problems) else EXIT_OK
        print(f"copied {args.name!r} to {target.name!r} as {plan.funnel_name!r} (a draft)")
        return EXIT_OK

    return _run(args, work)
