"""Async engines for project databases: SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
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


def create_sqlite_writer_engine(url: str, **engine_options: Any) -> AsyncEngine | None:
    """An AsyncEngine for the project's single writer (the engine's transactions): its
    statements run on the event loop's thread instead of aiosqlite's worker thread, and
    every transaction starts with ``BEGIN IMMEDIATE``. None for an in-memory database
    (a second engine would see another database).

    Why: each statement through aiosqlite costs several thread hand-offs (cursor,
    execute, fetch, close), which dominated the engine's per-event cost. SQLite
    statements on a WAL database are microseconds, so running them inline is cheaper.
    The one call that may *wait* — taking the write lock while another connection
    writes — is ``BEGIN IMMEDIATE``: tried at once (busy timeout 0), and if the lock is
    taken, retried in a worker thread with the usual busy timeout, so the loop never
    blocks on a lock another coroutine holds. Once the write lock is held, WAL never
    makes a statement wait (readers do not block the writer).
    """
    parsed = make_url(url)
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or (database.startswith("file:") and "memory" in database)
    ):
        return None
    connector = partial(sqlite3.connect, database, check_same_thread=False)

    async def creator() -> InlineSqliteConnection:
        return await InlineSqliteConnection(connector)

    engine_options.setdefault("pool_size", 1)
    engine = create_async_engine(
        parsed.set(drivername="sqlite+aiosqlite"), async_creator=creator, **engine_options
    )
    _configure_sqlite(engine, begin="BEGIN IMMEDIATE", pragmas=("PRAGMA busy_timeout=0",))
    return engine


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Any]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection interface executed on the calling thread (no worker
    thread), except ``BEGIN…`` which may wait for the write lock and runs in the default
    executor. Used only by :func:`create_sqlite_writer_engine`."""

    def __init__(self, connector: Any) -> None:
        super().__init__(connector, 64)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if args and isinstance(args[0], str) and args[0].lstrip()[:5].upper() == "BEGIN":
            try:  # the writer connection's busy timeout is 0: this never waits
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            # another connection is writing: wait for the lock in a worker thread
            pending = asyncio.get_running_loop().run_in_executor(
                None, partial(self._begin_waiting, fn, *args, **kwargs)
            )
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                # never touch the connection while the thread still uses it
                await asyncio.wait([pending])
                raise
        return fn(*args, **kwargs)

    def _begin_waiting(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    async def _connect(self) -> InlineSqliteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Any:
        return self._connect().__await__()

    def stop(self) -> None:  # type: ignore[override]
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def fold_text(value: str | None) -> str | None:
    """Lower case, ё as е: how contact search compares text (SQLite's own ``lower()``
    folds ASCII only; registered as ``voronka_fold`` on every SQLite connection)."""
    return value.lower().replace("ё", "е") if value is not None else None


def _configure_sqlite(
    engine: AsyncEngine, *, begin: str = "BEGIN", pragmas: tuple[str, ...] = ()
) -> None:
    """Set the PRAGMAs and make SQLite transactions real.

    The sqlite3 driver normally opens a transaction lazily before the first write only, so a
    read-then-write is not atomic. We switch the driver to autocommit and emit BEGIN
    ourselves (the recipe from SQLAlchemy's SQLite docs).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.create_function("voronka_fold", 1, fold_text, deterministic=True)
        cursor = dbapi_connection.cursor()
        try:
            for pragma in (*SQLITE_PRAGMAS, *pragmas):
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
