"""``main.py notify-chat show|set|off`` (R9: notifications copied to a Telegram chat) and
``main.py stuck`` (R5: the contacts stuck now).

``notify-chat set --project P CHAT_ID [--bot NAME]`` stores the project setting
(:mod:`engine.admin_chat`); a running engine picks it up within seconds. The bot must be a
member of the chat (an admin of a channel); without ``--bot`` the project's main bot posts.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from engine.cli.errors import EXIT_OK, EXIT_PROBLEMS, fail

if TYPE_CHECKING:
    from db.workspace import Workspace

Output = Callable[[str], None]


def register(commands: object) -> None:
    add = commands.add_parser  # type: ignore[attr-defined]
    notify = add("notify-chat", help="copy a project's notifications to a Telegram chat (R9)")
    sub = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)

    show = sub.add_parser("show", help="where notifications are copied, and the last error")
    show.add_argument("--project", required=True)
    show.set_defaults(handler=_show)

    put = sub.add_parser("set", help="copy notifications to this chat")
    put.add_argument("--project", required=True)
    put.add_argument(
        "chat_id", help="Telegram chat id: a group or channel (-100…) or a person's user id"
    )
    put.add_argument("--bot", help="the bot (its name in the project) that posts; default: main")
    put.set_defaults(handler=_set)

    off = sub.add_parser("off", help="stop copying notifications to Telegram")
    off.add_argument("--project", required=True)
    off.set_defaults(handler=_off)

    stuck = add("stuck", help="list the contacts stuck on a step now (R5)")
    stuck.add_argument("--project", required=True)
    stuck.add_argument(
        "--after-min",
        type=int,
        default=15,
        help="a timer overdue this many minutes is stuck (default 15)",
    )
    stuck.set_defaults(handler=_stuck)


def _run(args: argparse.Namespace, action: Callable[[Workspace], Awaitable[int]]) -> int:
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir

    async def go() -> int:
        try:
            workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        except VoronkaDbError as exc:
            return fail(str(exc))
        try:
            return await action(workspace)
        except VoronkaDbError as exc:
            return fail(str(exc))
        finally:
            await workspace.close()

    return asyncio.run(go())


def _show(args: argparse.Namespace) -> int:
    return _run(args, lambda ws: show_notify_chat(ws, args.project))


def _set(args: argparse.Namespace) -> int:
    return _run(args, lambda ws: set_notify_chat(ws, args.project, args.chat_id, args.bot))


def _off(args: argparse.Namespace) -> int:
    return _run(args, lambda ws: set_notify_chat(ws, args.project, None))


def _stuck(args: argparse.Namespace) -> int:
    return _run(args, lambda ws: list_stuck(ws, args.project, after_min=args.after_min))


async def show_notify_chat(workspace: Workspace, project: str, *, out: Output = print) -> int:
    from engine.admin_chat import notify_chat_info

    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session:
            info = await notify_chat_info(session)
    finally:
        await database.dispose()
    if info is None:
        out(f"Notifications of project {project!r} are not copied to Telegram.")
        return EXIT_OK
    bot = info["bot"] or "no bot"
    default = " (the default bot)" if info["bot_id"] is None else ""
    out(f"Notifications of project {project!r} go to chat {info['chat_id']} via {bot}{default}.")
    out(f"Waiting: {info['pending']}; last sent: {info['last_sent_at'] or 'never'}.")
    if info["error"]:
        out(f"Last error (since {info['error_at']}): {info['error']}; retry at {info['retry_at']}.")
        return EXIT_PROBLEMS
    return EXIT_OK


async def set_notify_chat(
    workspace: Workspace,
    project: str,
    chat_id: str | None,
    bot: str | None = None,
    *,
    out: Output = print,
) -> int:
    """Set (or with ``chat_id`` None clear) the project's admin chat; ``bot`` by name."""
    from sqlalchemy import select

    from db.models import Channel, ChannelKind
    from engine import admin_chat

    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session, session.begin():
            bot_id: int | None = None
            if bot is not None:
                bot_id = await session.scalar(
                    select(Channel.id).where(
                        Channel.kind == ChannelKind.BOT,
                        (Channel.name == bot) | (Channel.username == bot.lstrip("@")),
                    )
                )
                if bot_id is None:
                    return fail(f"project {project!r} has no bot named {bot!r}")
            try:
                config = await admin_chat.set_notify_chat(session, chat_id, bot_id)
            except admin_chat.NotifyChatError as exc:
                return fail(str(exc))
            sender = await admin_chat.sending_bot(session, config) if config is not None else None
    finally:
        await database.dispose()
    if config is None:
        out(f"Notifications of project {project!r} are no longer copied to Telegram.")
        return EXIT_OK
    name = sender.name if sender is not None else None
    out(
        f"Notifications of project {project!r} will be copied to chat {config.chat_id} "
        + (f"by the bot {name!r}" if name else "(no enabled bot can post: add one)")
        + "; the bot must be a member of that chat (an admin of a channel)."
    )
    return EXIT_OK


async def list_stuck(
    workspace: Workspace, project: str, *, after_min: int = 15, out: Output = print
) -> int:
    """Print the contacts stuck now (see engine.stuck), longest first."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from engine.stuck import REASON_TITLES, find_stuck

    record = await workspace.get_project(project)
    tz = ZoneInfo(record.timezone)
    database = await workspace.open_project_db(record)
    try:
        async with database.sessions() as session:
            stuck = await find_stuck(
                session, datetime.now(UTC), after=timedelta(minutes=max(1, after_min))
            )
    finally:
        await database.dispose()
    if not stuck:
        out(f"No stuck contacts in project {project!r}.")
        return EXIT_OK
    for s in stuck:
        since = s.since.astimezone(tz).strftime("%d.%m.%Y %H:%M")
        reason = REASON_TITLES[s.reason][0]
        detail = f" — {s.detail}" if s.detail else ""
        out(
            f"run {s.run_id}: {s.who} (contact {s.contact_id}) · «{s.funnel}» → «{s.node}» · "
            f"since {since} · {reason}{detail}"
        )
    out(f"{len(stuck)} stuck; move one with the app («Контакты» → «Переместить на узел…»).")
    return EXIT_OK
