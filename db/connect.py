"""Async engines for project databases: SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from db.errors import UnsupportedDatabaseUrlError

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Applied to every new SQLite connection: these are per-connection settings (WAL persists in
# the file, but setting it again is cheap and repairs a file created elsewhere).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)


def sqlite_url(path: Path) -> str:
    return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string()


def asyncpg_url(url: str | URL) -> URL:
    """The same PostgreSQL URL with the asyncpg driver (``postgresql://`` → ``+asyncpg``)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "postgresql":
        raise UnsupportedDatabaseUrlError(
            f"expected a PostgreSQL URL like postgresql://user@host:5432/postgres, got "
            f"{parsed.render_as_string(hide_password=True)!r}"
        )
    return parsed.set(drivername="postgresql+asyncpg")


def create_database_engine(url: str, **engine_options: Any) -> AsyncEngine:
    """An AsyncEngine for a SQLite or PostgreSQL URL, with the SQLite settings applied."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(parsed.set(drivername="sqlite+aiosqlite"), **engine_options)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        engine_options.setdefault("pool_pre_ping", True)
        return create_async_engine(asyncpg_url(parsed), **engine_options)
    raise UnsupportedDatabaseUrlError(
        f"unsupported database {backend!r}: use SQLite or PostgreSQL "
        f"({parsed.render_as_string(hide_password=True)})"
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Set the PRAGMAs and make SQLite transactions real.

    The sqlite3 driver normally opens a transaction lazily before the first write only, so a
    read-then-write is not atomic. We switch the driver to autocommit and emit BEGIN
    ourselves (the recipe from SQLAlchemy's SQLite docs).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")
