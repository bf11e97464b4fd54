"""Fixtures shared by every test package."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest_plugins = ["tests.fakes.fixtures"]

DEFAULT_PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


async def _probe_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=5)
    await connection.close()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of a PostgreSQL server where tests may create and drop databases.

    From $VORONKA_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres. When the
    server is unreachable the test is skipped locally but FAILS under CI=true.
    """
    url = os.environ.get("VORONKA_TEST_PG_URL", DEFAULT_PG_SERVER_URL)
    try:
        # In a thread: this fixture may be first requested from inside a running event loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _probe_postgres(url)).result()
    except Exception as exc:
        reason = f"PostgreSQL server {url} unreachable: {type(exc).__name__}: {exc}"
        if _running_in_ci():
            pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
        pytest.skip(reason)
    return url


# --- pytest-xdist (pyproject.toml runs two workers) --------------------------------------

XDIST_GROUPS = {
    # the route coverage check (run last) reads the routes every API test hit, in memory
    "tests/api/": "api",
    # one reference run (a module fixture) serves every test of the module
    "tests/engine/test_crash_safety.py": "crash-safety",
}
"""Node id prefix -> group: a group's tests run on one worker, in collection order; every
other test is scheduled on its own. (pytest-xdist's ``xdist_group`` mark would do this, but
with pytest 9.2 the group suffix it adds to node ids is lost, so the groups are kept here.)"""


def xdist_scope(nodeid: str) -> str:
    """The scheduling unit of a test: its group, else the test itself."""
    return next((g for prefix, g in XDIST_GROUPS.items() if nodeid.startswith(prefix)), nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None  # another --dist given: pytest-xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Largest unit first (pytest-xdist orders units by size), then test by test."""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return GroupScheduling(config, log)


# NodeGraphQt/PySide6 can crash while the interpreter tears down Qt objects after every
# test has passed (a segfault in the destructor order, not in our code), which would turn
# a green run into exit code 139. Once pytest has reported, leave without that teardown.
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    if "PySide6.QtWidgets" in sys.modules and _EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])


_EXIT_STATUS = pytest.StashKey[int]()
