"""Staff users of the engine API and their bearer tokens, kept in the workspace registry.

- Passwords are hashed with scrypt (``hashlib.scrypt``, N=2**14, r=8, p=1, 16-byte salt);
  the hash string carries its parameters so they can be raised later.
- API tokens are random (``vk_`` + 32 bytes, URL-safe), shown once; only their SHA-256 is
  stored. A login issues a session token that expires; named tokens (for scripts, the
  desktop's "remember me") may live longer or forever. Revoked or expired → refused.
- A user's ``projects`` is the set of project ids they may open, or None for all projects.

The daemon/CLI creates the first administrator with :func:`ensure_admin`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from types import EllipsisType

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.column_types import utcnow
from db.errors import WorkspaceError
from db.registry import ApiTokenRecord, StaffRole, StaffUserRecord
from db.workspace import Workspace

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "vk_"
LOGIN_MAX = 64

__all__ = [
    "ApiToken",
    "StaffDirectory",
    "StaffError",
    "StaffRole",
    "StaffUser",
    "StaffUserExistsError",
    "StaffUserNotFoundError",
    "ensure_admin",
    "hash_password",
    "verify_password",
]


class StaffError(WorkspaceError, ValueError):
    """A staff-user operation was refused; the message says why in one line."""


class StaffUserExistsError(StaffError):
    pass


class StaffUserNotFoundError(StaffError, LookupError):
    pass


# --- passwords -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$<salt b64>$<hash b64>``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN, maxmem=256 * 1024 * 1024
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _login_key(login: str) -> str:
    return login.strip().casefold()


def _check_login(login: str) -> str:
    clean = login.strip()
    if not clean or len(clean) > LOGIN_MAX or any(c.isspace() for c in clean):
        raise StaffError(f"login must be 1…{LOGIN_MAX} characters without spaces")
    return clean


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


# --- plain data ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    login: str
    role: StaffRole
    projects: frozenset[int] | None
    """Project ids this user may open; None = all projects."""
    disabled: bool
    created_at: datetime

    def can_open(self, project_id: int) -> bool:
        return self.projects is None or project_id in self.projects

    @property
    def actor(self) -> str:
        """How history and audit rows name this user."""
        return f"staff:{self.login}"


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _user(record: StaffUserRecord) -> StaffUser:
    return StaffUser(
        id=record.id,
        login=record.login,
        role=StaffRole(record.role),
        projects=None if record.project_ids is None else frozenset(record.project_ids),
        disabled=record.disabled,
        created_at=record.created_at,
    )


def _token(record: ApiTokenRecord) -> ApiToken:
    return ApiToken(
        id=record.id,
        user_id=record.user_id,
        name=record.name,
        created_at=record.created_at,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
        revoked_at=record.revoked_at,
    )


class StaffDirectory:
    """Staff users and tokens of one workspace."""

    LAST_USED_GRANULARITY = timedelta(minutes=1)

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._sessions = async_sessionmaker(workspace.registry_engine, expire_on_commit=False)

    async def _find(self, session: AsyncSession, login: str) -> StaffUserRecord | None:
        return await session.scalar(
            select(StaffUserRecord).where(StaffUserRecord.login_key == _login_key(login))
        )

    async def _get(self, session: AsyncSession, login: str) -> StaffUserRecord:
        record = await self._find(session, login)
        if record is None:
            raise StaffUserNotFoundError(f"no staff user {login.strip()!r}")
        return record

    async def create_user(
        self,
        login: str,
        password: str,
        role: StaffRole,
        projects: AbstractSet[int] | None = None,
    ) -> StaffUser:
        clean = _check_login(login)
        _check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._sessions() as session, session.begin():
            if await self._find(session, clean) is not None:
                raise StaffUserExistsError(f"staff user {clean!r} already exists")
            record = StaffUserRecord(
                login=clean,
                login_key=_login_key(clean),
                password_hash=hashed,
                role=StaffRole(role),
                project_ids=None if projects is None else sorted(projects),
                disabled=False,
            )
            session.add(record)
            await session.flush()
            return _user(record)

    async def list_users(self) -> list[StaffUser]:
        async with self._sessions() as session:
            records = await session.scalars(select(StaffUserRecord).order_by(StaffUserRecord.id))
            return [_user(r) for r in records]

    async def find_user(self, login: str) -> StaffUser | None:
        async with self._sessions() as session:
            record = await self._find(session, login)
            return None if record is None else _user(record)

    async def update_user(
        self,
        login: str,
        *,
        role: StaffRole | None = None,
        projects: AbstractSet[int] | EllipsisType | None = ...,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> StaffUser:
        """Change what is given. A new password or disabling revokes the user's tokens."""
        hashed = None
        if password is not None:
            _check_password(password)
            hashed = await asyncio.to_thread(hash_password, password)
        async with self._sessions() as session, session.begin():
            record = await self._get(session, login)
            if role is not None:
                record.role = StaffRole(role)
            if not isinstance(projects, EllipsisType):
                record.project_ids = None if projects is None else sorted(projects)
            if disabled is not None:
                record.disabled = disabled
            if hashed is not None:
                record.password_hash = hashed
                record.password_changed_at = utcnow()
            if hashed is not None or disabled:
                await self._revoke_all(session, record.id)
            return _user(record)

    async def delete_user(self, login: str) -> None:
        async with self._sessions() as session, session.begin():
            record = await self._get(session, login)
            await self._revoke_all(session, record.id)
            await session.delete(record)

    async def count_admins(self) -> int:
        async with self._sessions() as session:
            records = await session.scalars(
                select(StaffUserRecord).where(
                    StaffUserRecord.role == StaffRole.ADMIN, StaffUserRecord.disabled.is_(False)
                )
            )
            return len(records.all())

    async def authenticate(self, login: str, password: str) -> StaffUser | None:
        """The user if the password is right and the user is enabled, else None (the same
        amount of hashing work is done for an unknown login)."""
        async with self._sessions() as session:
            record = await self._find(session, login)
        stored = record.password_hash if record is not None else _dummy_hash()
        ok = await asyncio.to_thread(verify_password, password, stored)
        if record is None or not ok or record.disabled:
            return None
        return _user(record)

    # --- tokens ----------------------------------------------------------------------

    async def issue_token(
        self, user_id: int, name: str, *, ttl: timedelta | None = None
    ) -> tuple[str, ApiToken]:
        """A new token: the plain text (shown once) and its record."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            record = ApiTokenRecord(
                user_id=user_id,
                name=name[:100],
                token_hash=token_hash(plain),
                created_at=now,
                expires_at=now + ttl if ttl is not None else None,
            )
            session.add(record)
            await session.flush()
            return plain, _token(record)

    async def resolve_token(self, plain: str) -> tuple[StaffUser, ApiToken] | None:
        """The enabled user and the live token behind a bearer token, or None."""
        if not plain.startswith(TOKEN_PREFIX):
            return None
        now = utcnow()
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiTokenRecord, StaffUserRecord)
                    .join(StaffUserRecord, StaffUserRecord.id == ApiTokenRecord.user_id)
                    .where(ApiTokenRecord.token_hash == token_hash(plain))
                )
            ).one_or_none()
            if row is None:
                return None
            token, user = row
            if token.revoked_at is not None or user.disabled:
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
            if token.last_used_at is None or now - token.last_used_at > self.LAST_USED_GRANULARITY:
                await session.execute(
                    update(ApiTokenRecord)
                    .where(ApiTokenRecord.id == token.id)
                    .values(last_used_at=now)
                )
                await session.commit()
            return _user(user), _token(token)

    async def list_tokens(self, user_id: int) -> list[ApiToken]:
        async with self._sessions() as session:
            records = await session.scalars(
                select(ApiTokenRecord)
                .where(ApiTokenRecord.user_id == user_id)
                .order_by(ApiTokenRecord.id)
            )
            return [_token(r) for r in records]

    async def revoke_token(self, user_id: int, token_id: int) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(ApiTokenRecord)
                .where(
                    ApiTokenRecord.id == token_id,
                    ApiTokenRecord.user_id == user_id,
                    ApiTokenRecord.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    async def _revoke_all(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(
            update(ApiTokenRecord)
            .where(ApiTokenRecord.user_id == user_id, ApiTokenRecord.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


@cache
def _dummy_hash() -> str:
    return hash_password("not a real password")


async def ensure_admin(workspace: Workspace, login: str, password: str) -> StaffUser:
    """Make sure ``login`` exists as an enabled administrator of all projects.

    Creates the user with ``password`` when missing; an existing user keeps their password
    (call it on every daemon start) but is made admin, enabled and given every project.
    """
    directory = StaffDirectory(workspace)
    if await directory.find_user(login) is None:
        try:
            return await directory.create_user(login, password, StaffRole.ADMIN)
        except StaffUserExistsError:  # created concurrently
            pass
    return await directory.update_user(login, role=StaffRole.ADMIN, projects=None, disabled=False)
