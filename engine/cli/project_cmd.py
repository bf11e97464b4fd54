"""``main.py project``: create and list projects, each with its own database (R13)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from engine.cli.errors import EXIT_OK, fail


def register(commands: Any) -> None:
    project = commands.add_parser("project", help="create and list projects")
    sub = project.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a project and its own database")
    create.add_argument("name", help='project name, e.g. "EMA" or "Надежда"')
    create.add_argument(
        "--database-url",
        metavar="URL",
        help=(
            "PostgreSQL server to create the project's database on, e.g. "
            "postgresql://postgres@127.0.0.1:5432/postgres (default: a SQLite file in the workspace)"
        ),
    )
    create.add_argument("--timezone", default="Europe/Moscow", help="project time zone")
    create.set_defaults(handler=_create)

    listing = sub.add_parser("list", help="list projects and where their data lives")
    listing.set_defaults(handler=_list)


def _create(args: argparse.Namespace) -> int:
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir

    async def go() -> int:
        workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        try:
            project = await workspace.create_project(
                args.name, database_url=args.database_url, timezone=args.timezone
            )
        except VoronkaDbError as exc:
            return fail(str(exc))
        finally:
            await workspace.close()
        print(f"created project {project.name!r}: {project.display_location}")
        return EXIT_OK

    return asyncio.run(go())


def _list(args: argparse.Namespace) -> int:
    from db.workspace import Workspace, resolve_workspace_dir

    async def go() -> int:
        workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        try:
            projects = await workspace.list_projects()
        finally:
            await workspace.close()
        if not projects:
            print("no projects yet: python main.py project create NAME")
            return EXIT_OK
        width = max(len(p.name) for p in projects)
        for p in projects:
            print(f"{p.name.ljust(width)}  {p.timezone:<16}  {p.display_location}")
        return EXIT_OK

    return asyncio.run(go())
