"""Administrative commands on a PostgreSQL server: create and drop per-project databases."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from db.connect import asyncpg_url
from db.errors import DatabaseExistsError, DatabaseServerError

PROJECT_DATABASE_PREFIX = "voronka_"
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def project_database_name(slug: str) -> str:
    """``voronka_<slug>`` with '-' as '_', so the name needs no quoting anywhere."""
    return PROJECT_DATABASE_PREFIX + slug.replace("-", "_")


def database_url_on_server(server_url: str | URL, database: str) -> URL:
    """The asyncpg URL of ``database`` on the server that ``server_url`` points to."""
    return asyncpg_url(server_url).set(database=database)


async def database_exists(server_url: str | URL, database: str) -> bool:
    async with _admin_connection(server_url) as conn:
        found = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        )
    return found is not None


async def create_database(server_url: str | URL, database: str) -> URL:
    """CREATE DATABASE on the server and return its asyncpg URL; refuse an existing one."""
    _check_name(database)
    async with _admin_connection(server_url) as conn:
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        )
        if exists is not None:
            raise DatabaseExistsError(
                f"PostgreSQL database {database!r} already exists on {_shown(server_url)}; "
                "drop it or choose another project name"
            )
        try:
            await conn.execute(text(f"CREATE DATABASE \"{database}\" ENCODING 'UTF8'"))
        except DBAPIError as exc:
            raise DatabaseServerError(
                f"cannot create database {database!r} on {_shown(server_url)}: {exc.orig}"
            ) from exc
    return database_url_on_server(server_url, database)


async def drop_database(server_url: str | URL, database: str) -> None:
    """DROP DATABASE IF EXISTS, disconnecting its remaining sessions (PostgreSQL 13+)."""
    _check_name(database)
    async with _admin_connection(server_url) as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@asynccontextmanager
async def _admin_connection(server_url: str | URL) -> AsyncIterator[AsyncConnection]:
    # CREATE/DROP DATABASE cannot run inside a transaction block, hence AUTOCOMMIT.
    engine = create_async_engine(
        asyncpg_url(server_url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        try:
            conn = await engine.connect()
        except (OperationalError, DBAPIError, OSError) as exc:
            raise DatabaseServerError(
                f"cannot connect to PostgreSQL at {_shown(server_url)}: {exc}"
            ) from exc
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def _check_name(database: str) -> None:
    if not _SAFE_NAME.match(database):
        raise DatabaseServerError(
            f"refusing database name {database!r}: expected lowercase letters, digits and '_'"
        )


def _shown(server_url: str | URL) -> str:
    return asyncpg_url(server_url).render_as_string(hide_password=True)
