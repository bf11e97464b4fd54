"""ProjectDatabase: the open database of one project (R13), migrated to the latest schema."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.connect import create_database_engine, create_sqlite_writer_engine
from db.migrate import upgrade_to_head


class ProjectDatabase:
    """An AsyncEngine plus a session factory for one project's database.

    Open it with ``await ProjectDatabase.open(url)`` (Alembic migrations are applied first;
    that is a no-op when the schema is current) and ``await db.dispose()`` when done, or use
    ``async with``. Sessions do not expire objects on commit, so loaded rows stay readable.

    ``writer_sessions`` is for the project engine's own transactions (one writer at a
    time): on a SQLite file it is a second engine whose statements run on the event
    loop's thread (see :func:`db.connect.create_sqlite_writer_engine`); elsewhere it is
    ``sessions``.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self.writer_engine: AsyncEngine | None = None
        if engine.dialect.name == "sqlite":
            self.writer_engine = create_sqlite_writer_engine(
                engine.url.render_as_string(hide_password=False)
            )
        self.writer_sessions: async_sessionmaker[AsyncSession] = (
            async_sessionmaker(self.writer_engine, expire_on_commit=False)
            if self.writer_engine is not None
            else self.sessions
        )

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, **engine_options: Any) -> Self:
        engine = create_database_engine(url, **engine_options)
        try:
            if migrate:
                await upgrade_to_head(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> AsyncSession:
        """A new AsyncSession; use as ``async with db.session() as s, s.begin(): …``."""
        return self.sessions()

    async def dispose(self) -> None:
        if self.writer_engine is not None:
            await self.writer_engine.dispose()
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"ProjectDatabase({self.url!r})"
