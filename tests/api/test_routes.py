"""Every route refuses anonymous callers (401) and users without access (403)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts

from tests.api.conftest import Api

OPEN_ROUTES = {("GET", "/health"), ("POST", "/auth/login")}
# Routes about the caller themself: any authenticated user may call them.
SELF_SERVICE = {
    ("GET", "/projects"),
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/tokens"),
    ("POST", "/auth/tokens"),
    ("DELETE", "/auth/tokens/{token_id}"),
}
SAMPLE = {"login": "viewer"}


def _routes(api: Api) -> list[tuple[str, str]]:
    """(method, path) of every API route of the app, included routers flattened."""
    found = []
    for context in iter_route_contexts(api.app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            for method in sorted((context.methods or set()) - {"HEAD"}):
                found.append((method, context.path))
    return found


def _url(api: Api, path: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "project":
            return api.demo.slug
        return SAMPLE.get(name, "1")

    return re.sub(r"\{(\w+)\}", fill, path)


async def _call(api: Api, method: str, path: str, who: str | None) -> int:
    headers = api.auth(who) if who else {}
    kwargs: dict[str, object] = {"headers": headers}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    response = await api.client.request(method, _url(api, path), **kwargs)  # type: ignore[arg-type]
    return response.status_code


async def test_every_route_needs_a_token(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) > 25
    assert set(routes) >= OPEN_ROUTES
    for method, path in routes:
        if (method, path) in OPEN_ROUTES:
            continue
        assert await _call(api, method, path, None) == 401, (method, path)


async def test_every_route_refuses_users_without_access(api: Api) -> None:
    checked = 0
    for method, path in _routes(api):
        if (method, path) in OPEN_ROUTES | SELF_SERVICE:
            continue
        # The outsider is an editor of another project only: project routes are 403 by
        # access, the remaining (users, creating projects) are 403 by role.
        assert await _call(api, method, path, "outsider") == 403, (method, path)
        checked += 1
    assert checked > 20


async def test_unknown_project_is_403_for_restricted_users(api: Api) -> None:
    r = await api.client.get("/projects/nope/funnels", headers=api.auth("outsider"))
    assert r.status_code == 403
    r = await api.client.get("/projects/nope/funnels", headers=api.auth("admin"))
    assert r.status_code == 404


async def test_project_list_is_filtered(api: Api) -> None:
    r = await api.client.get("/projects", headers=api.auth("outsider"))
    assert [p["slug"] for p in r.json()] == [api.other.slug]
    r = await api.client.get("/projects", headers=api.auth("viewer"))
    assert {p["slug"] for p in r.json()} == {api.demo.slug, api.other.slug}


async def test_openapi_lists_bearer_security(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "token" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/projects/{project}/funnels/{funnel_id}"]["put"]["security"]
