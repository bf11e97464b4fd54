"""``main.py bot add|list``: a project's Telegram bots (tokens stored encrypted)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from engine.cli.errors import EXIT_OK, fail


def register(commands: Any) -> None:
    bot = commands.add_parser("bot", help="add and list a project's Telegram bots")
    sub = bot.add_subparsers(dest="bot_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="check a token with getMe and store it encrypted")
    add.add_argument("--project", required=True)
    add.add_argument("--role", required=True, choices=["open", "paid", "free", "other"])
    add.add_argument("--name", help="a name for the bot (default: its @username)")
    add.add_argument("--main", action="store_true", help="the project's main bot (R13)")
    add.add_argument(
        "token",
        nargs="?",
        help="bot token from @BotFather (or set VORONKA_BOT_TOKEN, which keeps it out of "
        "the shell history)",
    )
    add.add_argument(
        "--api-url",
        default=os.environ.get("VORONKA_BOT_API_URL"),
        help="Bot API server (default: Telegram's; a local Bot API server or a test fake)",
    )
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="list a project's bots and manager accounts")
    listing.add_argument("--project", required=True)
    listing.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> int:
    from connectors.bot_token import BotTokenError, check_bot_token
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir
    from engine.channels_admin import ChannelError, store_bot

    token = (args.token or os.environ.get("VORONKA_BOT_TOKEN") or "").strip()
    if not token:
        return fail("no token given: pass it as an argument or in VORONKA_BOT_TOKEN")

    async def go() -> int:
        try:
            identity = await check_bot_token(token, args.api_url)
        except BotTokenError as exc:
            return fail(str(exc))
        workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        try:
            database = await workspace.open_project_db(args.project)
            box = workspace.secret_box()
        except VoronkaDbError as exc:
            await workspace.close()
            return fail(str(exc))
        name = args.name or f"@{identity.username}"
        try:
            await store_bot(
                database,
                box,
                token=token,
                telegram_id=identity.telegram_id,
                username=identity.username,
                role=args.role,
                name=name,
                is_main=args.main,
            )
        except ChannelError as exc:
            return fail(str(exc))
        finally:
            await database.dispose()
            await workspace.close()
        print(f"added bot @{identity.username} as {args.role!r} bot {name!r} to {args.project!r}")
        return EXIT_OK

    return asyncio.run(go())


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from db.errors import VoronkaDbError
    from db.models import Channel
    from db.workspace import Workspace, resolve_workspace_dir

    async def go() -> int:
        workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        try:
            database = await workspace.open_project_db(args.project)
        except VoronkaDbError as exc:
            return fail(str(exc))
        finally:
            await workspace.close()
        try:
            async with database.sessions() as session:
                channels = (await session.scalars(select(Channel).order_by(Channel.id))).all()
        finally:
            await database.dispose()
        for c in channels:
            role = c.role or "-"
            main = " (main)" if c.is_main else ""
            print(f"{c.kind:<16} {role:<6} {c.name}{main}  @{c.username or '-'}")
        if not channels:
            print("no bots or manager accounts yet")
        return EXIT_OK

    return asyncio.run(go())
