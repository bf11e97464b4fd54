"""Channels of a project for staff tools: bots, manager accounts (login steps), settings.

Shared by the CLI (``main.py bot|manager``), the desktop's embedded mode and the HTTP API
(through :class:`~engine.service.WorkspaceService`, which delegates to :class:`ChannelsAdmin`).
Tokens, sessions and api_hashes are stored Fernet-encrypted (``Secret`` rows) and never
returned or logged. A manager login is a few HTTP requests apart, so its unfinished state
(a connected Telethon client) lives in memory here, keyed by a random ``login_id``, and
expires after :data:`LOGIN_TTL` seconds.

After a change that affects the running connectors, ``on_channels_changed`` (set by the
engine daemon) is awaited so the daemon starts/stops the channel without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import BotRole, Channel, ChannelKind, Secret, SecretPurpose

if TYPE_CHECKING:
    from connectors.telegram_user import ClientFactory
    from connectors.telegram_user_login import LoggedIn, LoginState
    from db.project_database import ProjectDatabase
    from db.secrets import SecretBox
    from db.workspace import Project, Workspace

log = logging.getLogger(__name__)

API_ID_ENV = "VORONKA_TELEGRAM_API_ID"
API_HASH_ENV = "VORONKA_TELEGRAM_API_HASH"
BOT_API_ENV = "VORONKA_BOT_API_URL"
LOGIN_TTL = 600.0
"""Seconds an unfinished manager login is kept (Telegram's codes expire about as fast)."""

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
ROLES = tuple(r.value for r in BotRole)


# --- errors ---------------------------------------------------------------------------------


class ChannelError(Exception):
    """Base of the errors below; the message is meant for the person at the screen."""


class ChannelInputError(ChannelError, ValueError):
    """Bad input; the message starts with the field's name where there is one."""


class ChannelConflictError(ChannelError):
    """Clashes with what the project has (same bot/account, same name, history kept)."""


class ChannelNotFoundError(ChannelError, LookupError):
    """No such channel (or login) in the project."""


class TelegramUnavailableError(ChannelError):
    """Telegram (or the Bot API server) could not be reached; try again."""


class LoginFailed(ChannelError):
    """A manager login step failed. ``state`` is where the login stays: ``code_sent`` (send
    the code again), ``password_needed`` (send the password again) or ``failed`` (start
    over); ``retry_after`` is the FloodWait in seconds, if Telegram asked to wait."""

    def __init__(self, message: str, *, state: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.retry_after = retry_after


# --- shared storing code (CLI and service) -----------------------------------------------------


@dataclass(frozen=True)
class ApiCredentials:
    api_id: int
    api_hash: str
    store_hash: bool  # given for this account (not the environment's default): keep it


def resolve_api_credentials(
    api_id: int | None,
    api_hash: str | None,
    *,
    stored_hash: str | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
) -> ApiCredentials | None:
    """The api_id/api_hash to use: given ones, else a hash stored with the account, else the
    environment (the engine daemon uses the same variables)."""
    env = os.environ if environ is None else environ
    if api_id is None:
        raw = env.get(API_ID_ENV, "").strip()
        api_id = int(raw) if raw.isdigit() else None
    if api_id is None:
        return None
    given = (api_hash or "").strip()
    if given:
        return ApiCredentials(api_id, given, store_hash=True)
    if stored_hash:
        return ApiCredentials(api_id, stored_hash, store_hash=False)
    from_env = env.get(API_HASH_ENV, "").strip()
    if from_env:
        return ApiCredentials(api_id, from_env, store_hash=False)
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _clear_main(session: AsyncSession, kind: ChannelKind, group: str, keep: int) -> None:
    """At most one main channel per kind and group (R13): the new main one wins."""
    await session.execute(
        update(Channel)
        .where(
            Channel.kind == kind, Channel.group_name == group, Channel.is_main, Channel.id != keep
        )
        .values(is_main=False)
    )


async def store_bot(
    database: ProjectDatabase,
    box: SecretBox,
    *,
    token: str,
    telegram_id: int,
    username: str,
    role: str,
    name: str | None = None,
    is_main: bool = False,
) -> int:
    """Store a checked bot with its token encrypted; the new channel's id.
    :class:`ChannelConflictError` when the project has this bot or the name already."""
    name = name or f"@{username}"
    async with database.sessions() as session, session.begin():
        clash = await session.scalar(
            select(Channel).where((Channel.name == name) | (Channel.telegram_id == telegram_id))
        )
        if clash is not None:
            if clash.telegram_id == telegram_id:
                raise ChannelConflictError(
                    f"the project already has this bot (@{username}) as {clash.name!r}"
                )
            raise ChannelConflictError(f"name: the project already has a channel {name!r}")
        channel = Channel(
            kind=ChannelKind.BOT,
            name=name,
            role=BotRole(role),
            is_main=False,
            username=username,
            telegram_id=telegram_id,
        )
        channel.secrets.append(
            Secret(purpose=SecretPurpose.BOT_TOKEN, ciphertext=box.encrypt(token))
        )
        session.add(channel)
        await session.flush()
        if is_main:
            await _clear_main(session, ChannelKind.BOT, channel.group_name, channel.id)
            await session.flush()
            channel.is_main = True
        return channel.id


@dataclass(frozen=True)
class StoredLogin:
    channel_id: int | None
    name: str
    replaced: bool
    """A session was stored before and was replaced."""
    clash_name: str | None
    """The account is already another manager account of the project (nothing stored)."""


def default_account_name(logged_in: LoggedIn) -> str:
    username = logged_in.username
    return logged_in.first_name or (f"@{username}" if username else str(logged_in.user_id))


async def store_manager_session(
    database: ProjectDatabase,
    box: SecretBox,
    name: str | None,
    logged_in: LoggedIn,
    credentials: ApiCredentials,
) -> StoredLogin:
    """Store a logged-in session (and an own api_hash) on the manager account ``name``,
    created if missing; clears its "needs a new login" flag. Raises
    :class:`ChannelInputError` when ``name`` is a bot."""
    name = name or default_account_name(logged_in)
    async with database.sessions() as session, session.begin():
        same_account = await session.scalar(
            select(Channel).where(Channel.telegram_id == logged_in.user_id)
        )
        channel = await session.scalar(select(Channel).where(Channel.name == name))
        if channel is not None and channel.kind is not ChannelKind.MANAGER_ACCOUNT:
            raise ChannelInputError(
                f"name: {name!r} is a bot of the project, not a manager account"
            )
        if same_account is not None and (channel is None or same_account.id != channel.id):
            return StoredLogin(None, name, replaced=False, clash_name=same_account.name)
        if channel is None:
            has_main = await session.scalar(
                select(Channel.id).where(
                    Channel.kind == ChannelKind.MANAGER_ACCOUNT,
                    Channel.group_name == "main",
                    Channel.is_main,
                )
            )
            channel = Channel(kind=ChannelKind.MANAGER_ACCOUNT, name=name, is_main=has_main is None)
            session.add(channel)
            await session.flush()
        if channel.telegram_id is not None and channel.telegram_id != logged_in.user_id:
            channel.update_state = None  # another account: its update state differs
        channel.telegram_id = logged_in.user_id
        channel.username = logged_in.username
        channel.phone = logged_in.phone
        channel.api_id = credentials.api_id
        channel.login_required_at = None
        channel.login_required_reason = None
        stored = {
            s.purpose: s
            for s in await session.scalars(select(Secret).where(Secret.channel_id == channel.id))
        }
        replaced = SecretPurpose.TELETHON_SESSION in stored
        now = _utcnow()
        _put_secret(
            session, stored, channel.id, SecretPurpose.TELETHON_SESSION,
            box.encrypt(logged_in.session), now,
        )  # fmt: skip
        if credentials.store_hash:
            _put_secret(
                session, stored, channel.id, SecretPurpose.API_HASH,
                box.encrypt(credentials.api_hash), now,
            )  # fmt: skip
        return StoredLogin(channel.id, name, replaced=replaced, clash_name=None)


def _put_secret(
    session: AsyncSession,
    stored: dict[SecretPurpose, Secret],
    channel_id: int,
    purpose: SecretPurpose,
    ciphertext: str,
    now: datetime,
) -> None:
    existing = stored.get(purpose)
    if existing is None:
        session.add(Secret(channel_id=channel_id, purpose=purpose, ciphertext=ciphertext))
    else:
        existing.ciphertext = ciphertext
        existing.rotated_at = now


def channel_dict(channel: Channel, purposes: set[SecretPurpose]) -> dict[str, Any]:
    """A channel as staff tools see it (never a secret)."""
    is_bot = channel.kind is ChannelKind.BOT
    credential = SecretPurpose.BOT_TOKEN if is_bot else SecretPurpose.TELETHON_SESSION
    has_credentials = credential in purposes
    return {
        "id": channel.id,
        "kind": channel.kind.value,
        "name": channel.name,
        "role": channel.role.value if channel.role else None,
        "group_name": channel.group_name,
        "username": channel.username,
        "telegram_id": channel.telegram_id,
        "enabled": channel.enabled,
        "is_main": channel.is_main,
        "has_credentials": has_credentials,
        "needs_login": (not is_bot)
        and (channel.login_required_at is not None or not has_credentials),
        "login_required_reason": channel.login_required_reason,
        "api_id": channel.api_id,
    }


async def _purposes(session: AsyncSession, channel_id: int) -> set[SecretPurpose]:
    return set(await session.scalars(select(Secret.purpose).where(Secret.channel_id == channel_id)))


def _mask_phone(phone: str) -> str:
    digits = phone.lstrip("+")
    if len(digits) <= 4:
        return phone
    return (
        ("+" if phone.startswith("+") else "") + digits[:1] + "•" * (len(digits) - 3) + digits[-2:]
    )


# --- the service part -------------------------------------------------------------------------


@dataclass
class _PendingLogin:
    project_id: int
    name: str
    credentials: ApiCredentials = field(repr=False)
    state: LoginState = field(repr=False)
    started: float
    step: str = "code_sent"


class ChannelsAdmin:
    """Channel operations of one :class:`WorkspaceService` (it delegates here).

    ``database(project)`` and ``workspace`` come from the service; ``client_factory`` returns
    the Telethon client factory (tests wire one to a fake Telegram); ``on_changed`` is the
    daemon's reload hook (None without a daemon)."""

    def __init__(
        self,
        service: Any,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._logins: dict[str, _PendingLogin] = {}
        self._monotonic = monotonic

    # helpers

    @property
    def _workspace(self) -> Workspace:
        return self._service.workspace  # type: ignore[no-any-return]

    async def _project(self, project: str) -> Project:
        return await self._workspace.get_project(project)  # type: ignore[no-any-return]

    async def _db(self, project: Project) -> ProjectDatabase:
        return await self._service.database(project)  # type: ignore[no-any-return]

    def _factory(self) -> ClientFactory:
        factory = getattr(self._service, "telegram_client_factory", None)
        if factory is not None:
            return factory  # type: ignore[no-any-return]
        from telethon import TelegramClient

        return TelegramClient

    async def _changed(self, project: Project) -> None:
        hook: Callable[[Project], Awaitable[None]] | None = getattr(
            self._service, "on_channels_changed", None
        )
        if hook is not None:
            try:
                await hook(project)
            except Exception:  # stored already; the daemon picks it up at its next start
                log.exception("the running engine could not reload the project's channels")

    # channels

    async def list_channels(self, project: str) -> list[dict[str, Any]]:
        db = await self._db(await self._project(project))
        async with db.sessions() as session:
            channels = (await session.scalars(select(Channel).order_by(Channel.id))).all()
            purposes: dict[int, set[SecretPurpose]] = {}
            for channel_id, purpose in await session.execute(
                select(Secret.channel_id, Secret.purpose)
            ):
                purposes.setdefault(channel_id, set()).add(purpose)
            return [channel_dict(c, purposes.get(c.id, set())) for c in channels]

    async def _channel(self, db: ProjectDatabase, channel_id: int) -> dict[str, Any]:
        async with db.sessions() as session:
            channel = await session.get(Channel, channel_id)
            if channel is None:
                raise ChannelNotFoundError(f"no channel with id {channel_id}")
            return channel_dict(channel, await _purposes(session, channel_id))

    async def add_bot(
        self,
        project: str,
        token: str,
        role: str,
        *,
        name: str | None = None,
        is_main: bool = False,
        api_base: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        from connectors.bot_token import BotTokenError, check_bot_token, redact

        record = await self._project(project)
        token = (token or "").strip()
        if not _TOKEN.match(token):
            raise ChannelInputError(
                "token: this is not a bot token (expected the form 123456789:ABC… from @BotFather)"
            )
        if role not in ROLES:
            raise ChannelInputError(f"role: must be one of {', '.join(ROLES)}, not {role!r}")
        name = _clean_name(name) if name is not None else None
        try:
            identity = await check_bot_token(token, api_base or os.environ.get(BOT_API_ENV))
        except BotTokenError as exc:
            message = redact(str(exc), token)
            if "refused" in message:
                raise ChannelInputError(
                    "Telegram rejected the token (revoked or mistyped)"
                ) from None
            if "not a bot token" in message:
                raise ChannelInputError(f"token: {message}") from None
            raise TelegramUnavailableError(message) from None
        db = await self._db(record)
        channel_id = await store_bot(
            db,
            self._workspace.secret_box(),
            token=token,
            telegram_id=identity.telegram_id,
            username=identity.username,
            role=role,
            name=name,
            is_main=is_main,
        )
        await self._changed(record)
        return await self._channel(db, channel_id)

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
        record = await self._project(project)
        db = await self._db(record)
        restart = False
        try:
            async with db.sessions() as session, session.begin():
                channel = await session.get(Channel, channel_id)
                if channel is None:
                    raise ChannelNotFoundError(f"no channel with id {channel_id}")
                if name is not None:
                    name = _clean_name(name)
                    clash = await session.scalar(
                        select(Channel.id).where(Channel.name == name, Channel.id != channel_id)
                    )
                    if clash is not None:
                        raise ChannelConflictError(
                            f"name: the project already has a channel {name!r}"
                        )
                    restart = restart or name != channel.name
                    channel.name = name
                if role is not None:
                    if channel.kind is not ChannelKind.BOT:
                        raise ChannelInputError("role: only bots have a role")
                    if role not in ROLES:
                        raise ChannelInputError(
                            f"role: must be one of {', '.join(ROLES)}, not {role!r}"
                        )
                    restart = restart or role != channel.role
                    channel.role = BotRole(role)
                if enabled is not None:
                    restart = restart or enabled != channel.enabled
                    channel.enabled = enabled
                if is_main is not None and is_main != channel.is_main:
                    if is_main:
                        await _clear_main(session, channel.kind, channel.group_name, channel.id)
                        await session.flush()
                    channel.is_main = is_main
                    restart = True
        except IntegrityError as exc:
            raise ChannelConflictError(
                f"the change clashes with another channel: {exc.orig}"
            ) from None
        if restart:
            await self._changed(record)
        return await self._channel(db, channel_id)

    async def delete_channel(self, project: str, channel_id: int) -> None:
        """Delete a channel and its secrets. Refused (conflict) while messages or broadcasts
        refer to it: disable it instead, which keeps the history readable."""
        record = await self._project(project)
        db = await self._db(record)
        try:
            async with db.sessions() as session, session.begin():
                channel = await session.get(Channel, channel_id)
                if channel is None:
                    raise ChannelNotFoundError(f"no channel with id {channel_id}")
                await session.delete(channel)
        except IntegrityError:
            raise ChannelConflictError(
                f"channel {channel_id} has messages or broadcasts that refer to it; "
                "disable it instead of deleting it"
            ) from None
        await self._changed(record)

    # manager login

    def _expire(self) -> list[_PendingLogin]:
        now = self._monotonic()
        gone = [k for k, p in self._logins.items() if now - p.started > LOGIN_TTL]
        return [self._logins.pop(k) for k in gone]

    async def _drop_expired(self) -> None:
        from connectors.telegram_user_login import cancel_login

        for pending in self._expire():
            with contextlib.suppress(Exception):
                await cancel_login(pending.state)

    async def _pending(self, project: str, login_id: str) -> tuple[Project, _PendingLogin]:
        await self._drop_expired()
        record = await self._project(project)
        pending = self._logins.get(login_id)
        if pending is None or pending.project_id != record.id:
            raise ChannelNotFoundError(
                f"no login {login_id!r} in progress (finished, cancelled or expired after "
                f"{int(LOGIN_TTL // 60)} minutes); start again"
            )
        return record, pending

    async def begin_manager_login(
        self, project: str, *, name: str, phone: str, api_id: int | None, api_hash: str | None
    ) -> dict[str, Any]:
        from connectors.telegram_user_login import LoginError, LoginFloodWaitError, start_login

        await self._drop_expired()
        record = await self._project(project)
        name = _clean_name(name)
        phone = (phone or "").strip().replace(" ", "").replace("-", "")
        if not re.fullmatch(r"\+?\d{5,15}", phone):
            raise ChannelInputError("phone: expected an international number such as +79991234567")
        if api_id is not None and api_id <= 0:
            raise ChannelInputError("api_id: must be a positive number (from my.telegram.org)")
        credentials = resolve_api_credentials(api_id, api_hash)
        if credentials is None:
            raise ChannelInputError(
                "api_id: no Telegram app credentials: give api_id and api_hash (create an app "
                f"on my.telegram.org) or set {API_ID_ENV} and {API_HASH_ENV}"
            )
        db = await self._db(record)
        async with db.sessions() as session:
            clash = await session.scalar(select(Channel).where(Channel.name == name))
        if clash is not None and clash.kind is not ChannelKind.MANAGER_ACCOUNT:
            raise ChannelInputError(
                f"name: {name!r} is a bot of the project, not a manager account"
            )
        try:
            state = await start_login(
                credentials.api_id, credentials.api_hash, phone, client_factory=self._factory()
            )
        except LoginFloodWaitError as exc:
            raise LoginFailed(str(exc), state="failed", retry_after=exc.seconds) from None
        except LoginError as exc:
            raise LoginFailed(str(exc), state="failed") from None
        login_id = secrets.token_urlsafe(16)
        self._logins[login_id] = _PendingLogin(
            record.id, name, credentials, state, started=self._monotonic()
        )
        return {"login_id": login_id, "state": "code_sent", "phone": _mask_phone(state.phone)}

    async def submit_login_code(self, project: str, login_id: str, code: str) -> dict[str, Any]:
        from connectors.telegram_user_login import (
            LoginError,
            LoginFloodWaitError,
            PasswordNeeded,
            WrongCodeError,
            submit_code,
        )

        record, pending = await self._pending(project, login_id)
        code = (code or "").strip()
        if not code:
            raise ChannelInputError("code: empty; type the code Telegram sent")
        if pending.step != "code_sent":
            raise LoginFailed(
                "the code was accepted already; send the password", state=pending.step
            )
        try:
            outcome = await submit_code(pending.state, code)
        except WrongCodeError as exc:
            raise LoginFailed(str(exc), state="code_sent") from None
        except LoginFloodWaitError as exc:
            raise LoginFailed(str(exc), state="code_sent", retry_after=exc.seconds) from None
        except LoginError as exc:
            await self._abandon(login_id)
            raise LoginFailed(str(exc), state="failed") from None
        if isinstance(outcome, PasswordNeeded):
            pending.step = "password_needed"
            return {"state": "password_needed", "hint": outcome.hint or None}
        return await self._finish(record, login_id, pending, outcome)

    async def submit_login_password(
        self, project: str, login_id: str, password: str
    ) -> dict[str, Any]:
        from connectors.telegram_user_login import (
            LoginError,
            LoginFloodWaitError,
            WrongPasswordError,
            submit_password,
        )

        record, pending = await self._pending(project, login_id)
        if not password:
            raise ChannelInputError("password: empty; type the account's cloud password")
        if pending.step != "password_needed":
            raise LoginFailed("no password was asked for; send the code first", state=pending.step)
        try:
            logged_in = await submit_password(pending.state, password)
        except WrongPasswordError as exc:
            raise LoginFailed(str(exc), state="password_needed") from None
        except LoginFloodWaitError as exc:
            raise LoginFailed(str(exc), state="password_needed", retry_after=exc.seconds) from None
        except LoginError as exc:
            await self._abandon(login_id)
            raise LoginFailed(str(exc), state="failed") from None
        return await self._finish(record, login_id, pending, logged_in)

    async def cancel_manager_login(self, project: str, login_id: str) -> None:
        await self._pending(project, login_id)
        await self._abandon(login_id)

    async def _abandon(self, login_id: str) -> None:
        from connectors.telegram_user_login import cancel_login

        pending = self._logins.pop(login_id, None)
        if pending is not None and not pending.state.finished:
            with contextlib.suppress(Exception):
                await cancel_login(pending.state)

    async def _finish(
        self, record: Project, login_id: str, pending: _PendingLogin, logged_in: LoggedIn
    ) -> dict[str, Any]:
        from connectors.telegram_user_login import LoginError, logout

        self._logins.pop(login_id, None)
        db = await self._db(record)
        try:
            stored = await store_manager_session(
                db, self._workspace.secret_box(), pending.name, logged_in, pending.credentials
            )
        except ChannelInputError as exc:
            raise LoginFailed(str(exc), state="failed") from None
        if stored.clash_name is not None or stored.channel_id is None:
            # The account already runs under another name: leave no second live session.
            with contextlib.suppress(LoginError):
                await logout(
                    logged_in.session,
                    pending.credentials.api_id,
                    pending.credentials.api_hash,
                    client_factory=self._factory(),
                )
            raise ChannelConflictError(
                f"this Telegram account is already manager account {stored.clash_name!r}; log "
                f"in with the name {stored.clash_name!r} to renew its session"
            )
        await self._changed(record)
        return {"state": "done", "channel": await self._channel(db, stored.channel_id)}

    async def logout_manager(self, project: str, channel_id: int) -> None:
        """End the session on Telegram when possible and delete it here either way (a dead
        or unreachable session must not keep the account "logged in")."""
        from connectors.telegram_user import SessionInvalidError
        from connectors.telegram_user_login import LoginError, logout

        record = await self._project(project)
        db = await self._db(record)
        box = self._workspace.secret_box()
        async with db.sessions() as session:
            channel = await session.get(Channel, channel_id)
            if channel is None:
                raise ChannelNotFoundError(f"no channel with id {channel_id}")
            if channel.kind is not ChannelKind.MANAGER_ACCOUNT:
                raise ChannelInputError(f"channel {channel_id} is a bot, not a manager account")
            stored = {
                s.purpose: s.ciphertext
                for s in await session.scalars(
                    select(Secret).where(Secret.channel_id == channel_id)
                )
            }
            api_id = channel.api_id
        ciphertext = stored.get(SecretPurpose.TELETHON_SESSION)
        if ciphertext is None:
            raise ChannelInputError(f"channel {channel_id} is not logged in (no stored session)")
        own_hash = stored.get(SecretPurpose.API_HASH)
        credentials = resolve_api_credentials(
            api_id, None, stored_hash=box.decrypt(own_hash).get_secret_value() if own_hash else None
        )
        if credentials is not None:
            with contextlib.suppress(SessionInvalidError, LoginError, OSError):
                await logout(
                    box.decrypt(ciphertext),
                    credentials.api_id,
                    credentials.api_hash,
                    client_factory=self._factory(),
                )
        async with db.sessions() as session, session.begin():
            row = await session.scalar(
                select(Secret).where(
                    Secret.channel_id == channel_id,
                    Secret.purpose == SecretPurpose.TELETHON_SESSION,
                )
            )
            if row is not None:
                await session.delete(row)
        await self._changed(record)

    # project settings

    async def get_project_settings(self, project: str) -> dict[str, Any]:
        from connectors.telegram_user_label_sync import labels_enabled

        record = await self._project(project)
        async with (await self._db(record)).sessions() as session:
            labels = await labels_enabled(session)
        return {"timezone": record.timezone, "manager_labels": labels}

    async def update_project_settings(
        self, project: str, *, timezone: str | None = None, manager_labels: bool | None = None
    ) -> dict[str, Any]:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from connectors.telegram_user_label_sync import set_labels_enabled
        from db.registry import ProjectRecord

        record = await self._project(project)
        if timezone is not None:
            timezone = timezone.strip()
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ChannelInputError(
                    f"timezone: unknown time zone {timezone!r}; use an IANA name such as "
                    "'Europe/Moscow'"
                ) from None
            sessions = async_sessionmaker(self._workspace.registry_engine, expire_on_commit=False)
            async with sessions() as session, session.begin():
                await session.execute(
                    update(ProjectRecord)
                    .where(ProjectRecord.id == record.id)
                    .values(timezone=timezone)
                )
            if timezone != record.timezone:
                await self._changed(await self._project(project))
        if manager_labels is not None:
            async with (await self._db(record)).sessions() as session, session.begin():
                await set_labels_enabled(session, manager_labels)
        return await self.get_project_settings(project)

    async def close(self) -> None:
        for login_id in list(self._logins):
            await self._abandon(login_id)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ChannelInputError("name: empty")
    if len(name) > 100:
        raise ChannelInputError("name: longer than 100 characters")
    return name


__all__ = [
    "ApiCredentials",
    "ChannelConflictError",
    "ChannelError",
    "ChannelInputError",
    "ChannelNotFoundError",
    "ChannelsAdmin",
    "LoginFailed",
    "StoredLogin",
    "TelegramUnavailableError",
    "channel_dict",
    "resolve_api_credentials",
    "store_bot",
    "store_manager_session",
]
