"""Several engine processes on one PostgreSQL project database (DESIGN: Scale).

PostgreSQL is the coordinator; there is no home-made consensus:

- **Process liveness.** Each process joins a project database as a :class:`ClusterMember`:
  a dedicated connection (outside the SQLAlchemy pool) that holds the session-level
  advisory lock of the process's random key for as long as the process lives. When the
  process dies (even by SIGKILL) the server closes that session and the lock is gone, so
  "is process K alive?" is "is advisory lock K held?" (:meth:`ClusterMember.alive`).
- **Intake ownership.** A bot's (or manager account's) update intake runs only in the
  process holding :func:`intake_key` of that channel, taken with ``pg_try_advisory_lock``
  on the same connection; the others retry and take over when the owner's session ends.
- **Claims.** Timers and outbox rows are claimed with ``FOR UPDATE SKIP LOCKED`` (see
  :mod:`engine.project_engine` and :mod:`engine.outbox`); an outbox row in ``sending``
  names the claiming process's key in its ``error`` column (:func:`claim_note`), so only
  rows of dead processes are turned ``uncertain``.

Keys are non-negative 63-bit integers (the one-argument ``bigint`` advisory lock form).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterable
from typing import Any

from db.project_database import ProjectDatabase

_CLAIM = re.compile(r"\[process (\d+)\]")


def lock_key(*parts: object) -> int:
    """A stable non-negative 63-bit advisory-lock key for ``parts``."""
    digest = hashlib.sha256(":".join(str(p) for p in ("voronka", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def intake_key(channel_id: int) -> int:
    """The advisory lock that owns the update intake of one channel (bot or account)."""
    return lock_key("intake", channel_id)


def claim_note(key: int | None, label: str) -> str:
    """What an outbox row in ``sending`` keeps in ``error``: who claimed it."""
    if key is None:
        return f"sending by {label}"
    return f"sending by {label} [process {key}]"


def claim_owner(note: str | None) -> int | None:
    """The process key in a :func:`claim_note`, None when it names none."""
    found = _CLAIM.search(note or "")
    return int(found.group(1)) if found else None


def asyncpg_dsn(database: ProjectDatabase) -> str:
    """The plain ``postgresql://`` DSN of a project database (for a raw asyncpg session)."""
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class ClusterMember:
    """This process as a member of one PostgreSQL project database's cluster."""

    def __init__(self, connection: Any, key: int, label: str) -> None:
        self._connection = connection
        self.key = key
        self.label = label
        self.owned: set[int] = set()
        self._lock = asyncio.Lock()  # one asyncpg session runs one query at a time

    @classmethod
    async def join(cls, database: ProjectDatabase, *, label: str | None = None) -> ClusterMember:
        """Open the dedicated session and take this process's liveness lock."""
        import asyncpg

        if database.dialect != "postgresql":
            raise ValueError("several engine processes need a PostgreSQL project database")
        label = label or f"{socket.gethostname()}:{os.getpid()}"
        key = lock_key("process", label, uuid.uuid4().hex)
        connection = await asyncpg.connect(
            asyncpg_dsn(database),
            server_settings={
                "application_name": f"voronka-engine {label}"[:63],
                # a host that vanishes without closing its socket (power, network) loses
                # its locks after ~25 s of silence, not after the OS default of hours
                "tcp_keepalives_idle": "10",
                "tcp_keepalives_interval": "5",
                "tcp_keepalives_count": "3",
            },
        )
        try:
            await connection.execute("SELECT pg_advisory_lock($1)", key)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, key, label)

    @property
    def connected(self) -> bool:
        return not self._connection.is_closed()

    def note(self) -> str:
        return claim_note(self.key, self.label)

    async def try_own(self, key: int) -> bool:
        """Take an ownership lock (e.g. :func:`intake_key`) without waiting."""
        if key in self.owned:
            return True
        async with self._lock:
            got = bool(await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
        if got:
            self.owned.add(key)
        return got

    async def release(self, key: int) -> None:
        if key not in self.owned:
            return
        self.owned.discard(key)
        async with self._lock:
            await self._connection.fetchval("SELECT pg_advisory_unlock($1)", key)

    async def alive(self, keys: Iterable[int]) -> set[int]:
        """Which of the process ``keys`` hold their liveness lock in this database."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        async with self._lock:
            rows = await self._connection.fetch(
                """
                SELECT (classid::bigint << 32) | objid::bigint AS key
                FROM pg_locks
                WHERE locktype = 'advisory' AND objsubid = 1 AND granted
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND ((classid::bigint << 32) | objid::bigint) = ANY($1::bigint[])
                """,
                wanted,
            )
        return {int(r["key"]) for r in rows}

    async def check(self) -> bool:
        """True while the session (and so every lock of this process) is alive."""
        if not self.connected:
            return False
        try:
            async with self._lock:
                await self._connection.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Leave: the session ends, so the liveness and ownership locks are freed."""
        self.owned.clear()
        if self.connected:
            try:
                await self._connection.close(timeout=5)
            except Exception:
                self._connection.terminate()
