"""``main.py manager login|list|logout``: a project's manager accounts (Telethon sessions).

``login`` asks for the phone, the code Telegram sends and, for accounts with two-step
verification, the cloud password (never echoed); a wrong code or password may be retried
(three attempts each). The StringSession is stored Fernet-encrypted as the channel's
``telethon_session`` secret (an ``api_hash`` given on the command line is stored too,
encrypted; the ``api_id`` is stored in clear on the channel — it is not a secret, it ships
inside every Telegram client), on the project's manager-account channel of that name,
created if missing. A new login clears the "needs a new login" flag the engine sets when
Telegram ends a session. Neither the session nor the api_hash is ever printed.

The steps are plain async functions taking the workspace, a ``prompt`` and a Telethon
client factory, so tests drive them in-process against a fake Telegram; the argparse
handlers call them with the terminal and real Telethon.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from engine.channels_admin import (
    API_HASH_ENV,
    API_ID_ENV,
    ApiCredentials,
    resolve_api_credentials,
)
from engine.cli.errors import EXIT_OK, EXIT_PROBLEMS, fail

if TYPE_CHECKING:
    from connectors.telegram_user import ClientFactory
    from db.models import Channel
    from db.workspace import Workspace

MAX_ATTEMPTS = 3


class Prompt(Protocol):
    """Asks the person at the terminal; ``secret`` answers are not echoed."""

    def __call__(self, question: str, *, secret: bool = False) -> str: ...


def terminal_prompt(question: str, *, secret: bool = False) -> str:
    if secret:
        import getpass

        return getpass.getpass(question)
    return input(question)


Output = Callable[[str], None]


# --- argparse ------------------------------------------------------------------------------


def register(commands: Any) -> None:
    manager = commands.add_parser(
        "manager", help="log a project's manager accounts (Telegram user sessions) in and out"
    )
    sub = manager.add_subparsers(dest="manager_command", metavar="ACTION", required=True)

    login = sub.add_parser(
        "login", help="log a manager's Telegram account in (phone → code → 2FA password)"
    )
    login.add_argument("--project", required=True)
    login.add_argument("--phone", help="the account's phone number, e.g. +79991234567")
    login.add_argument(
        "--name",
        help="the manager account's name in the project (default: the project's only "
        "manager account, else the Telegram name)",
    )
    _api_options(login)
    login.set_defaults(handler=_login)

    listing = sub.add_parser("list", help="list a project's manager accounts")
    listing.add_argument("--project", required=True)
    listing.set_defaults(handler=_list)

    logout = sub.add_parser(
        "logout", help="end a manager account's session on Telegram and delete it here"
    )
    logout.add_argument("--project", required=True)
    logout.add_argument("name", help="the manager account's name in the project")
    logout.add_argument(
        "--forget",
        action="store_true",
        help="delete the stored session even if Telegram cannot be reached to end it",
    )
    _api_options(logout)
    logout.set_defaults(handler=_logout)

    business = sub.add_parser(
        "business",
        help="register a manager's Telegram account by user id, for Telegram Business only "
        "(no session: their messages reach funnels through a bot connected to the account)",
    )
    business.add_argument("--project", required=True)
    business.add_argument("--name", required=True, help="the manager account's name")
    business.add_argument("--telegram-id", type=int, required=True, help="the Telegram user id")
    business.set_defaults(handler=_business)

    labels = sub.add_parser(
        "labels",
        help="show the contacts' tag labels (emoji) in their names in the managers' "
        "Telegram contact lists (R15; off by default)",
    )
    labels.add_argument("--project", required=True)
    labels.add_argument("state", choices=("on", "off"))
    labels.set_defaults(handler=_labels)


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-id",
        type=int,
        help=f"api_id of your Telegram app from my.telegram.org (default: ${API_ID_ENV})",
    )
    parser.add_argument(
        "--api-hash",
        help=f"api_hash of that app (default: ${API_HASH_ENV}; stored encrypted with the "
        "account when given here)",
    )


def _run(args: argparse.Namespace, action: Callable[[Workspace], Any]) -> int:
    from db.errors import VoronkaDbError
    from db.workspace import Workspace, resolve_workspace_dir

    async def go() -> int:
        try:
            workspace = await Workspace.open(resolve_workspace_dir(args.workspace))
        except VoronkaDbError as exc:
            return fail(str(exc))
        try:
            return int(await action(workspace))
        except VoronkaDbError as exc:
            return fail(str(exc))
        finally:
            await workspace.close()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return fail("cancelled")


def _login(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda workspace: login_interactive(
            workspace,
            args.project,
            phone=args.phone,
            name=args.name,
            api_id=args.api_id,
            api_hash=args.api_hash,
            prompt=terminal_prompt,
        ),
    )


def _business(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda workspace: register_business_account(
            workspace, args.project, args.name, args.telegram_id
        ),
    )


def _labels(args: argparse.Namespace) -> int:
    return _run(
        args, lambda workspace: set_manager_labels(workspace, args.project, args.state == "on")
    )


def _list(args: argparse.Namespace) -> int:
    return _run(args, lambda workspace: list_accounts(workspace, args.project))


def _logout(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda workspace: logout_account(
            workspace,
            args.project,
            args.name,
            api_id=args.api_id,
            api_hash=args.api_hash,
            forget=args.forget,
        ),
    )


# --- the steps ------------------------------------------------------------------------------


_NO_API = (
    f"no Telegram app credentials: pass --api-id and --api-hash or set {API_ID_ENV} and "
    f"{API_HASH_ENV} (create an app on my.telegram.org)"
)


def _default_factory() -> ClientFactory:
    from telethon import TelegramClient

    return TelegramClient


async def login_interactive(
    workspace: Workspace,
    project: str,
    *,
    phone: str | None = None,
    name: str | None = None,
    api_id: int | None = None,
    api_hash: str | None = None,
    prompt: Prompt = terminal_prompt,
    client_factory: ClientFactory | None = None,
    out: Output = print,
    environ: dict[str, str] | None = None,
) -> int:
    """Log a manager account in interactively and store its session; the exit code."""
    from connectors.telegram_user_login import (
        CodeExpiredError,
        LoggedIn,
        LoginError,
        LoginFloodWaitError,
        LoginState,
        PasswordNeeded,
        WrongCodeError,
        WrongPasswordError,
        cancel_login,
        start_login,
        submit_code,
        submit_password,
    )

    factory = client_factory or _default_factory()
    credentials = resolve_api_credentials(api_id, api_hash, environ=environ)
    if credentials is None:
        return fail(_NO_API)
    database = await workspace.open_project_db(project)
    try:
        existing = await _manager_channels(database)
        if name is None and len(existing) == 1:
            name = existing[0].name
        clash = next((c for c in await _all_channels(database) if c.name == name), None)
        if clash is not None and clash.kind.value != "manager_account":  # a bot
            return fail(f"{name!r} is a bot of project {project!r}, not a manager account")
    finally:
        await database.dispose()

    state: LoginState | None = None
    try:
        phone = (phone or "").strip() or prompt("Phone number (e.g. +79991234567): ").strip()
        if not phone:
            return fail("no phone number given")
        try:
            state = await start_login(
                credentials.api_id, credentials.api_hash, phone, client_factory=factory
            )
        except LoginFloodWaitError as exc:
            return fail(f"{exc}; try again later")
        except LoginError as exc:
            return fail(str(exc))
        out(f"Telegram sent a login code to the account of {state.phone} (in the Telegram app).")

        outcome: LoggedIn | PasswordNeeded | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            code = prompt("Login code: ").strip()
            try:
                outcome = await submit_code(state, code)
                break
            except WrongCodeError as exc:
                _retry_note(out, exc, attempt)
            except (CodeExpiredError, LoginFloodWaitError) as exc:
                return fail(str(exc))
            except LoginError as exc:
                return fail(str(exc))
        if outcome is None:
            return fail("the code was wrong 3 times; start the login again", EXIT_PROBLEMS)

        if isinstance(outcome, PasswordNeeded):
            hint = f" (hint: {outcome.hint})" if outcome.hint else ""
            out(f"This account has two-step verification{hint}.")
            logged_in: LoggedIn | None = None
            for attempt in range(1, MAX_ATTEMPTS + 1):
                password = prompt("Cloud password: ", secret=True)
                try:
                    logged_in = await submit_password(state, password)
                    break
                except WrongPasswordError as exc:
                    _retry_note(out, exc, attempt)
                except LoginError as exc:
                    return fail(str(exc))
            if logged_in is None:
                return fail("the password was wrong 3 times; start the login again", EXIT_PROBLEMS)
            outcome = logged_in
    except (EOFError, KeyboardInterrupt):
        return fail("login cancelled; nothing was stored")
    finally:
        if state is not None and not state.finished:
            await cancel_login(state)

    return await _store_login(
        workspace, project, name, outcome, credentials, factory=factory, out=out, environ=environ
    )


def _retry_note(out: Output, exc: Exception, attempt: int) -> None:
    left = MAX_ATTEMPTS - attempt
    if left:
        out(f"{exc} ({left} attempt{'s' if left > 1 else ''} left)")


async def _store_login(
    workspace: Workspace,
    project: str,
    name: str | None,
    logged_in: Any,
    credentials: ApiCredentials,
    *,
    factory: ClientFactory,
    out: Output,
    environ: dict[str, str] | None = None,
) -> int:
    from connectors.telegram_user_login import LoginError, logout
    from engine.channels_admin import ChannelInputError, store_manager_session

    database = await workspace.open_project_db(project)
    try:
        stored = await store_manager_session(
            database, workspace.secret_box(), name, logged_in, credentials
        )
    except ChannelInputError as exc:
        return fail(f"{exc} (project {project!r})")
    finally:
        await database.dispose()

    username = logged_in.username
    who = f"{logged_in.first_name or '?'}" + (f" (@{username})" if username else "")
    if stored.clash_name is not None:
        # The account already runs under another name: do not leave a second live session.
        with contextlib.suppress(LoginError):
            await logout(
                logged_in.session, credentials.api_id, credentials.api_hash, client_factory=factory
            )
        return fail(
            f"{who} is already connected as manager account {stored.clash_name!r}; log in with "
            f"--name {stored.clash_name!r} to renew its session (the new session was ended)"
        )
    out(f"Logged in as {who}, Telegram id {logged_in.user_id}.")
    out(f"Session stored encrypted for manager account {stored.name!r} of project {project!r}.")
    if stored.replaced:
        out(
            "The previous session was replaced; restart the engine to use the new one (the old "
            "one stays in Telegram's active sessions until ended there)."
        )
    return EXIT_OK


async def _manager_channels(database: Any) -> list[Channel]:
    from sqlalchemy import select

    from db.models import Channel, ChannelKind

    async with database.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Channel)
                    .where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
                    .order_by(Channel.id)
                )
            ).all()
        )


async def _all_channels(database: Any) -> list[Channel]:
    from sqlalchemy import select

    from db.models import Channel

    async with database.sessions() as session:
        return list((await session.scalars(select(Channel).order_by(Channel.id))).all())


async def register_business_account(
    workspace: Workspace, project: str, name: str, telegram_id: int, *, out: Output = print
) -> int:
    """Create (or update) the manager account ``name`` as Telegram user ``telegram_id``,
    without a session: Telegram Business messages of that user then start funnels."""
    from sqlalchemy import select

    from db.models import Channel, ChannelKind

    if telegram_id <= 0:
        return fail(f"{telegram_id} is not a Telegram user id")
    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session, session.begin():
            other = await session.scalar(select(Channel).where(Channel.telegram_id == telegram_id))
            channel = await session.scalar(select(Channel).where(Channel.name == name))
            if channel is not None and channel.kind is not ChannelKind.MANAGER_ACCOUNT:
                return fail(f"{name!r} is a bot of project {project!r}, not a manager account")
            if other is not None and (channel is None or other.id != channel.id):
                return fail(f"Telegram user {telegram_id} is already channel {other.name!r}")
            if channel is None:
                has_main = await session.scalar(
                    select(Channel.id).where(
                        Channel.kind == ChannelKind.MANAGER_ACCOUNT,
                        Channel.group_name == "main",
                        Channel.is_main,
                    )
                )
                channel = Channel(
                    kind=ChannelKind.MANAGER_ACCOUNT, name=name, is_main=has_main is None
                )
                session.add(channel)
            elif channel.telegram_id not in (None, telegram_id):
                channel.update_state = None  # another account
            channel.telegram_id = telegram_id
    finally:
        await database.dispose()
    out(
        f"Manager account {name!r} of project {project!r} is Telegram user {telegram_id}: "
        "connect a project bot to it in Telegram (Settings → Telegram Business → Chatbots); "
        "restart the engine to pick it up."
    )
    return EXIT_OK


async def set_manager_labels(
    workspace: Workspace, project: str, enabled: bool, *, out: Output = print
) -> int:
    """Turn R15 labels on/off for a project; a running engine picks it up within seconds."""
    from connectors.telegram_user_label_sync import set_labels_enabled

    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session, session.begin():
            await set_labels_enabled(session, enabled)
    finally:
        await database.dispose()
    out(
        f"Tag labels in the managers' contact lists of project {project!r}: "
        + ("on (tags with a label show it in the contact's name)" if enabled else "off")
    )
    return EXIT_OK


async def list_accounts(workspace: Workspace, project: str, *, out: Output = print) -> int:
    """Print the project's manager accounts and whether a session is stored."""
    from sqlalchemy import select

    from db.models import Secret, SecretPurpose

    database = await workspace.open_project_db(project)
    try:
        channels = await _manager_channels(database)
        async with database.sessions() as session:
            stored = {
                (s.channel_id, s.purpose)
                for s in await session.scalars(
                    select(Secret).where(Secret.channel_id.in_([c.id for c in channels]))
                )
            }
    finally:
        await database.dispose()
    if not channels:
        out(f"project {project!r} has no manager accounts yet (main.py manager login)")
        return EXIT_OK
    for c in channels:
        has_session = (c.id, SecretPurpose.TELETHON_SESSION) in stored
        own_hash = (c.id, SecretPurpose.API_HASH) in stored
        who = f"@{c.username}" if c.username else "-"
        tg_id = str(c.telegram_id) if c.telegram_id else "-"
        flags = [
            "session: yes" if has_session else "session: no (log in)",
            f"api_id: {c.api_id}" if c.api_id else "api_id: env",
            "api_hash: own" if own_hash else "api_hash: env",
        ]
        if c.login_required_at is not None:
            flags.append(
                f"NEEDS LOGIN since {c.login_required_at:%Y-%m-%d %H:%M} UTC"
                + (f" ({c.login_required_reason})" if c.login_required_reason else "")
            )
        if not c.enabled:
            flags.append("disabled")
        main = " (main)" if c.is_main else ""
        out(f"{c.name}{main}  {who}  id {tg_id}  " + ", ".join(flags))
    return EXIT_OK


async def logout_account(
    workspace: Workspace,
    project: str,
    name: str,
    *,
    api_id: int | None = None,
    api_hash: str | None = None,
    forget: bool = False,
    client_factory: ClientFactory | None = None,
    out: Output = print,
    environ: dict[str, str] | None = None,
) -> int:
    """End the account's session on Telegram (``auth.logOut``) and delete the stored one."""
    from sqlalchemy import delete, select

    from connectors.telegram_user import SessionInvalidError
    from connectors.telegram_user_login import LoginError, logout
    from db.models import Channel, ChannelKind, Secret, SecretPurpose

    box = workspace.secret_box()
    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session:
            channel = await session.scalar(
                select(Channel).where(
                    Channel.name == name, Channel.kind == ChannelKind.MANAGER_ACCOUNT
                )
            )
            if channel is None:
                return fail(f"project {project!r} has no manager account {name!r}")
            secrets = {
                s.purpose: s.ciphertext
                for s in await session.scalars(
                    select(Secret).where(Secret.channel_id == channel.id)
                )
            }
            channel_id = channel.id
            stored_api_id = channel.api_id
        ciphertext = secrets.get(SecretPurpose.TELETHON_SESSION)
        if ciphertext is None:
            return fail(f"manager account {name!r} has no stored session (not logged in)")
        own_hash = secrets.get(SecretPurpose.API_HASH)
        stored_hash = box.decrypt(own_hash).get_secret_value() if own_hash else None
        credentials = resolve_api_credentials(
            api_id or stored_api_id, api_hash, stored_hash=stored_hash, environ=environ
        )
        revoked: str
        if credentials is None and not forget:
            return fail(_NO_API + "; or pass --forget to delete the session without ending it")
        if credentials is None:
            revoked = "not ended on Telegram (no app credentials)"
        else:
            try:
                confirmed = await logout(
                    box.decrypt(ciphertext),
                    credentials.api_id,
                    credentials.api_hash,
                    client_factory=client_factory or _default_factory(),
                )
            except SessionInvalidError:
                revoked = "the stored session was unusable; nothing to end on Telegram"
            except LoginError as exc:
                if not forget:
                    return fail(f"{exc}; the session was kept (pass --forget to delete it anyway)")
                revoked = f"not ended on Telegram ({exc})"
            else:
                revoked = "ended on Telegram" if confirmed else "it had already ended on Telegram"
        async with database.sessions() as session, session.begin():
            await session.execute(
                delete(Secret).where(
                    Secret.channel_id == channel_id,
                    Secret.purpose == SecretPurpose.TELETHON_SESSION,
                )
            )
    finally:
        await database.dispose()
    out(f"Logged out manager account {name!r}: session {revoked}; stored session deleted.")
    return EXIT_OK


__all__ = [
    "ApiCredentials",
    "Prompt",
    "list_accounts",
    "login_interactive",
    "logout_account",
    "register",
    "register_business_account",
    "resolve_api_credentials",
    "terminal_prompt",
]
