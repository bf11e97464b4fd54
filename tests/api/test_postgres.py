"""Creating a project on PostgreSQL through the API (skips locally without a server, fails
under CI=true). Every route's own tests also run on PostgreSQL (``both_backends``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import Api

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_project(api: Api, pg_server_url: str) -> AsyncIterator[str]:
    r = await api.client.post(
        "/projects",
        # Unique: other test runs may create databases on the same server at the same time.
        json={"name": f"PG проект {secrets.token_hex(4)}", "database_url": pg_server_url},
        headers=api.auth("admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["database_kind"] == "postgresql"
    slug = r.json()["slug"]
    try:
        yield f"/projects/{slug}"
    finally:
        # Close the service's connection to that database first, then drop it.
        for database in api.service._databases.values():
            await database.dispose()
        api.service._databases.clear()
        await api.service.workspace.delete_project(slug)


async def test_postgres_project_flow(api: Api, pg_project: str) -> None:
    p = pg_project
    r = await api.client.post(
        f"{p}/tags", json={"name": "купил", "is_key": True}, headers=api.auth("editor")
    )
    assert r.status_code == 201
    assert (
        await api.client.post(f"{p}/tags", json={"name": "купил"}, headers=api.auth("editor"))
    ).status_code == 409
    funnel = (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()[0]
    exported = (
        await api.client.get(f"{api.p}/funnels/{funnel['id']}/export", headers=api.auth("viewer"))
    ).json()
    created = await api.client.post(
        f"{p}/funnels/import", json=exported, headers=api.auth("editor")
    )
    assert created.status_code == 201, created.text
    url = f"{p}/funnels/{created.json()['id']}"
    draft = (await api.client.get(url, headers=api.auth("viewer"))).json()
    body = {"document": draft["document"], "revision": draft["revision"]}
    assert (await api.client.put(url, json=body, headers=api.auth("editor"))).status_code == 200
    assert (await api.client.put(url, json=body, headers=api.auth("editor"))).status_code == 409
    stats = await api.client.get(f"{url}/stats", headers=api.auth("viewer"))
    assert stats.status_code == 200 and stats.json()["nodes"] == {}
    assert (
        await api.client.get(f"{p}/contacts", params={"q": "Мари"}, headers=api.auth("viewer"))
    ).json() == []
    assert (
        await api.client.get(f"{p}/purchases/export", headers=api.auth("viewer"))
    ).status_code == 200
