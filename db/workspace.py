"""The workspace: a directory with the project registry and the projects' SQLite files.

Layout::

    <workspace>/workspace.sqlite3        registry of projects (db.registry)
    <workspace>/projects/<slug>.sqlite3  a project's own database (unless on PostgreSQL)
    <workspace>/secret.key               encryption key of secrets (db.secrets), mode 0600
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from sqlalchemy import delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import postgres
from db.connect import create_database_engine, sqlite_url
from db.errors import (
    DatabaseExistsError,
    InvalidTimezoneError,
    ProjectExistsError,
    ProjectNotFoundError,
    UnsupportedDatabaseUrlError,
    WorkspaceError,
)
from db.naming import normalize_project_name, project_name_key, slugify
from db.project_database import ProjectDatabase
from db.registry import (
    DEFAULT_TIMEZONE,
    REGISTRY_SCHEMA_VERSION,
    DatabaseKind,
    ProjectRecord,
    RegistryBase,
    upgrade_registry,
)
from db.secrets import SecretBox, load_secret_box

WORKSPACE_ENV = "VORONKA_WORKSPACE"
REGISTRY_FILE_NAME = "workspace.sqlite3"
PROJECTS_DIR_NAME = "projects"
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
SEALED_PREFIX = "fernet:"
"""A PostgreSQL URL holding a password is stored encrypted (the workspace's SecretBox)."""


def resolve_workspace_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace directory: ``explicit`` if given, else $VORONKA_WORKSPACE, else the
    user's data directory (e.g. ~/.local/share/voronka). Not created here."""
    if explicit is not None and str(explicit).strip():
        chosen = Path(explicit)
    elif os.environ.get(WORKSPACE_ENV, "").strip():
        chosen = Path(os.environ[WORKSPACE_ENV].strip())
    else:
        chosen = Path(platformdirs.user_data_dir("voronka", appauthor=False))
    return chosen.expanduser().resolve()


@dataclass(frozen=True, slots=True)
class Project:
    """A registered project. ``database_url`` is ready for ProjectDatabase.open()."""

    id: int
    name: str
    slug: str
    database_kind: DatabaseKind
    database_url: str
    timezone: str
    created_at: datetime

    @property
    def display_location(self) -> str:
        """Where the data lives, for people: the SQLite file path or the URL without password."""
        url = make_url(self.database_url)
        if self.database_kind is DatabaseKind.SQLITE:
            return url.database or ""
        return url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        shown = make_url(self.database_url).render_as_string(hide_password=True)
        return (
            f"Project(id={self.id!r}, name={self.name!r}, slug={self.slug!r}, "
            f"database_kind={self.database_kind.value!r}, database_url={shown!r}, "
            f"timezone={self.timezone!r})"
        )


class Workspace:
    """The project registry of one workspace directory. Open with ``await Workspace.open()``."""

    def __init__(self, directory: Path, registry: AsyncEngine) -> None:
        self.directory = directory
        self._registry = registry
        self._sessions = async_sessionmaker(registry, expire_on_commit=False)

    @classmethod
    async def open(cls, directory: str | os.PathLike[str] | None = None) -> Self:
        """Open (creating if needed) the workspace at ``resolve_workspace_dir(directory)``."""
        root = resolve_workspace_dir(directory)
        try:
            (root / PROJECTS_DIR_NAME).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create workspace directory {root}: {exc}") from exc
        engine = create_database_engine(sqlite_url(root / REGISTRY_FILE_NAME))
        try:
            async with engine.begin() as conn:
                version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
                if version > REGISTRY_SCHEMA_VERSION:
                    raise WorkspaceError(
                        f"workspace {root} was written by a newer Voronka "
                        f"(registry schema {version}, this one knows {REGISTRY_SCHEMA_VERSION})"
                    )
                await conn.run_sync(upgrade_registry, version)
                await conn.run_sync(RegistryBase.metadata.create_all)
                await conn.exec_driver_sql(f"PRAGMA user_version={REGISTRY_SCHEMA_VERSION}")
        except BaseException:
            await engine.dispose()
            raise
        workspace = cls(root, engine)
        try:
            await workspace._seal_plain_urls()
        except BaseException:
            await engine.dispose()
            raise
        return workspace

    def _seal(self, location: str) -> str:
        """A PostgreSQL URL as stored: encrypted when it holds a password."""
        if make_url(location).password is None:
            return location
        return SEALED_PREFIX + self.secret_box().encrypt(location)

    def _unseal(self, location: str) -> str:
        if not location.startswith(SEALED_PREFIX):
            return location
        return self.secret_box().decrypt(location.removeprefix(SEALED_PREFIX)).get_secret_value()

    async def _seal_plain_urls(self) -> None:
        """Encrypt PostgreSQL URLs with a password stored in clear by earlier versions —
        and leave no copy of them behind in free pages or the WAL."""
        sealed = False
        async with self._sessions() as session, session.begin():
            await session.execute(text("PRAGMA secure_delete=ON"))  # zero the old row
            records = await session.scalars(
                select(ProjectRecord).where(ProjectRecord.database_kind == DatabaseKind.POSTGRESQL)
            )
            for record in records:
                location = record.database_location
                if not location.startswith(SEALED_PREFIX) and make_url(location).password:
                    record.database_location = self._seal(location)
                    sealed = True
        if sealed:
            async with self._registry.connect() as connection:
                await connection.commit()  # end the implicit transaction: checkpoint outside
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def registry_engine(self) -> AsyncEngine:
        """The registry's engine (db.staff keeps the API's users in the same file)."""
        return self._registry

    @property
    def registry_path(self) -> Path:
        return self.directory / REGISTRY_FILE_NAME

    @property
    def projects_dir(self) -> Path:
        return self.directory / PROJECTS_DIR_NAME

    def secret_box(self) -> SecretBox:
        """The SecretBox for this workspace (creates secret.key on first use)."""
        return load_secret_box(self.directory)

    async def create_project(
        self,
        name: str,
        database_url: str | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> Project:
        """Register a project and create its own, migrated, database.

        Without ``database_url`` the database is ``projects/<slug>.sqlite3``; with a
        PostgreSQL server URL (``postgresql://user@host:5432/postgres``) a new database
        ``voronka_<slug>`` is created on that server.
        """
        clean_name = normalize_project_name(name)
        _check_timezone(timezone)
        server_url = _postgres_server_url(database_url) if database_url is not None else None
        async with self._sessions() as session:
            if await _find_by_name(session, clean_name) is not None:
                raise ProjectExistsError(f"project {clean_name!r} already exists")
            slug = await self._free_slug(session, slugify(clean_name))

        if server_url is None:
            kind, location = DatabaseKind.SQLITE, f"{PROJECTS_DIR_NAME}/{slug}.sqlite3"
            url = sqlite_url(self.directory / location)
        else:
            kind = DatabaseKind.POSTGRESQL
            created = await postgres.create_database(
                server_url, postgres.project_database_name(slug)
            )
            url = created.render_as_string(hide_password=False)
            location = self._seal(url)

        record = ProjectRecord(
            name=clean_name,
            name_key=project_name_key(clean_name),
            slug=slug,
            database_kind=kind,
            database_location=location,
            timezone=timezone,
        )
        try:
            database = await ProjectDatabase.open(url)
            await database.dispose()
            async with self._sessions() as session, session.begin():
                session.add(record)
        except BaseException as exc:
            await self._drop_data(kind, location)
            if isinstance(exc, IntegrityError):
                raise ProjectExistsError(
                    f"project {clean_name!r} already exists (created concurrently)"
                ) from exc
            raise
        return self._to_project(record)

    async def list_projects(self) -> list[Project]:
        async with self._sessions() as session:
            records = await session.scalars(select(ProjectRecord).order_by(ProjectRecord.id))
            return [self._to_project(record) for record in records]

    async def find_project(self, name_or_slug: str) -> Project | None:
        """The project with this name (case-insensitive) or slug, or None."""
        async with self._sessions() as session:
            record = await _find(session, name_or_slug)
        return None if record is None else self._to_project(record)

    async def get_project(self, name_or_slug: str) -> Project:
        project = await self.find_project(name_or_slug)
        if project is None:
            raise ProjectNotFoundError(f"no project named {name_or_slug.strip()!r}")
        return project

    async def delete_project(self, name_or_slug: str, *, drop_database: bool = True) -> None:
        """Unregister a project and, unless told otherwise, destroy its database."""
        async with self._sessions() as session, session.begin():
            record = await _find(session, name_or_slug)
            if record is None:
                raise ProjectNotFoundError(f"no project named {name_or_slug.strip()!r}")
            await session.execute(delete(ProjectRecord).where(ProjectRecord.id == record.id))
            if drop_database:  # inside the transaction: a failed drop keeps the project listed
                await self._drop_data(record.database_kind, record.database_location, strict=True)
        if drop_database:  # the project's files (uploaded media) go with its database
            shutil.rmtree(self.project_files_dir(record.slug), ignore_errors=True)

    async def open_project_db(self, project: Project | str) -> ProjectDatabase:
        """Open a project's database (migrating it to the latest schema); dispose() it after."""
        if isinstance(project, str):
            project = await self.get_project(project)
        return await ProjectDatabase.open(project.database_url)

    async def close(self) -> None:
        await self._registry.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.directory)!r})"

    async def _free_slug(self, session: AsyncSession, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``… so that neither the registry nor a leftover
        SQLite file already uses it (a leftover file is never overwritten)."""
        taken = set(await session.scalars(select(ProjectRecord.slug)))
        candidate, counter = base, 1
        while (
            candidate in taken
            or self._sqlite_file_exists(candidate)
            or self.project_files_dir(candidate).exists()
        ):
            counter += 1
            candidate = f"{base}-{counter}"
        return candidate

    def project_files_dir(self, slug: str) -> Path:
        """The project's file folder (uploaded media; see ``engine.media_store``)."""
        return self.projects_dir / slug

    def _sqlite_file_exists(self, slug: str) -> bool:
        return (self.projects_dir / f"{slug}.sqlite3").exists()

    async def _drop_data(self, kind: DatabaseKind, location: str, *, strict: bool = False) -> None:
        if kind is DatabaseKind.SQLITE:
            base = self.directory / location
            for suffix in SQLITE_SUFFIXES:
                with contextlib.suppress(FileNotFoundError):
                    base.with_name(base.name + suffix).unlink()
            return
        url = make_url(self._unseal(location))
        try:
            await postgres.drop_database(url.set(database="postgres"), url.database or "")
        except WorkspaceError:
            if strict:
                raise

    def _to_project(self, record: ProjectRecord) -> Project:
        if record.database_kind is DatabaseKind.SQLITE:
            url = sqlite_url(self.directory / record.database_location)
        else:
            url = self._unseal(record.database_location)
        return Project(
            id=record.id,
            name=record.name,
            slug=record.slug,
            database_kind=record.database_kind,
            database_url=url,
            timezone=record.timezone,
            created_at=record.created_at,
        )


async def _find_by_name(session: AsyncSession, name: str) -> ProjectRecord | None:
    key = project_name_key(name)
    return await session.scalar(select(ProjectRecord).where(ProjectRecord.name_key == key))


async def _find(session: AsyncSession, name_or_slug: str) -> ProjectRecord | None:
    """By name first (case-insensitive), then by slug."""
    by_name = await _find_by_name(session, name_or_slug)
    if by_name is not None:
        return by_name
    key = project_name_key(name_or_slug)
    return await session.scalar(select(ProjectRecord).where(ProjectRecord.slug == key))


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezoneError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'Europe/Moscow'"
        ) from exc


def _postgres_server_url(database_url: str) -> str:
    try:
        parsed = make_url(database_url)
    except ArgumentError as exc:
        raise UnsupportedDatabaseUrlError(f"malformed database URL {database_url!r}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise UnsupportedDatabaseUrlError(
            "database URL must point to a PostgreSQL server "
            "(postgresql://user@host:5432/postgres); omit it for a SQLite file in the workspace"
        )
    return parsed.render_as_string(hide_password=False)


__all__ = [
    "DEFAULT_TIMEZONE",
    "DatabaseExistsError",
    "DatabaseKind",
    "Project",
    "Workspace",
    "resolve_workspace_dir",
]
