"""Every route of the app has a functional test on SQLite and on PostgreSQL.

The ``api`` fixture records each 2xx answer as (backend, method, route template)
(tests/api/conftest.py); this module runs after all others (conftest reorders it) and
compares the record with the app's routes: a project route needs a 2xx with the project's
database on SQLite and one on PostgreSQL, a workspace route (auth, users, the project
list) needs one at all. It only judges a complete run of tests/api.
"""

from __future__ import annotations

import inspect
import os
import sys

import pytest

from tests.api import conftest
from tests.api.conftest import Api
from tests.api.test_routes import _routes

PROJECT_BACKENDS = ("sqlite", "postgresql")


def missing_routes(
    routes: list[tuple[str, str]], hits: set[tuple[str, str, str]], backends: tuple[str, ...]
) -> list[str]:
    """Routes without a recorded 2xx where they need one, e.g. 'GET /x (postgresql)'."""
    missing = []
    for method, path in routes:
        if "{project}" in path:
            for backend in backends:
                if (backend, method, path) not in hits:
                    missing.append(f"{method} {path} ({backend})")
        elif not any((method, path) == (m, p) for _, m, p in hits):
            missing.append(f"{method} {path}")
    return missing


def _incomplete_selection(session: pytest.Session) -> str | None:
    """Why this session cannot judge coverage (some tests of tests/api not run), or None."""
    if conftest.DESELECTED:
        return f"{len(conftest.DESELECTED)} tests of tests/api deselected"
    if conftest.FAILED:
        return f"failed earlier: {', '.join(conftest.FAILED[:3])}"
    selected = {
        (item.path.name, getattr(item, "originalname", item.name)) for item in session.items
    }
    for path in sorted(conftest.API_DIR.glob("test_*.py")):
        module = sys.modules.get(f"tests.api.{path.stem}")
        if module is None:
            return f"{path.name} not collected"
        for name, value in vars(module).items():
            if (
                name.startswith("test_")
                and inspect.isfunction(value)
                and value.__module__ == module.__name__
                and (path.name, name) not in selected
            ):
                return f"{path.name}::{name} not selected"
    return None


def test_missing_routes_is_strict() -> None:
    routes = [("GET", "/health"), ("GET", "/projects/{project}/tags")]
    hits = {("workspace", "GET", "/health"), ("sqlite", "GET", "/projects/{project}/tags")}
    assert missing_routes(routes, hits, PROJECT_BACKENDS) == [
        "GET /projects/{project}/tags (postgresql)"
    ]
    assert missing_routes(routes, set(), ("sqlite",)) == [
        "GET /health",
        "GET /projects/{project}/tags (sqlite)",
    ]


async def test_every_route_has_a_functional_test_on_both_backends(
    api: Api, request: pytest.FixtureRequest
) -> None:
    why = _incomplete_selection(request.session)
    if why is not None:
        pytest.skip(f"route coverage needs a complete run of tests/api ({why})")
    backends: tuple[str, ...] = PROJECT_BACKENDS
    pg_ran = any(backend == "postgresql" for backend, _, _ in conftest.ROUTE_HITS)
    if not pg_ran and os.environ.get("CI", "").strip().lower() not in {"1", "true", "yes"}:
        backends = ("sqlite",)  # no PostgreSQL server here: those tests were skipped
    missing = missing_routes(_routes(api), conftest.ROUTE_HITS, backends)
    assert not missing, "routes without a functional (2xx) test:\n  " + "\n  ".join(missing)
