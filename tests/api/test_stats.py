"""Live stats: one call with a constant number of statements, and the SSE stream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from sqlalchemy import event, select

from db.models import (
    Channel,
    Contact,
    FunnelVersion,
    HistoryEvent,
    OutboxMessage,
    OutboxStatus,
    Run,
    RunStatus,
)
from tests.api.conftest import Api, both_backends

pytestmark = both_backends


async def _seed(api: Api, funnel_id: int, node_id: str, user_id: int, status: RunStatus) -> None:
    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():
        version = await s.scalar(
            select(FunnelVersion.id).where(FunnelVersion.funnel_id == funnel_id)
        )
        channel = await s.scalar(select(Channel.id).limit(1))
        contact = Contact(telegram_user_id=user_id, first_name="Анна")
        s.add(contact)
        await s.flush()
        run = Run(contact_id=contact.id, funnel_version_id=version, node_id=node_id, status=status)
        s.add(run)
        await s.flush()
        s.add(
            HistoryEvent(
                contact_id=contact.id,
                kind="node.entered",
                run_id=run.id,
                funnel_version_id=version,
                node_id=node_id,
            )
        )
        s.add(
            OutboxMessage(
                idempotency_key=f"k{user_id}",
                run_id=run.id,
                contact_id=contact.id,
                channel_id=channel,
                funnel_version_id=version,
                node_id=node_id,
                payload={},
                status=OutboxStatus.SENT,
                sent_at=datetime.now(UTC),
            )
        )


async def _funnel_and_node(api: Api) -> tuple[int, str]:
    funnel = (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()[0]
    draft = (
        await api.client.get(f"{api.p}/funnels/{funnel['id']}", headers=api.auth("viewer"))
    ).json()
    return funnel["id"], draft["document"]["nodes"][0]["id"]


async def test_stats_figures_and_statement_count(api: Api) -> None:
    funnel_id, node_id = await _funnel_and_node(api)
    await _seed(api, funnel_id, node_id, 501, RunStatus.WAITING)
    await _seed(api, funnel_id, node_id, 502, RunStatus.STOPPED)
    db = await api.service.database(api.demo)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        r = await api.client.get(f"{api.p}/funnels/{funnel_id}/stats", headers=api.auth("viewer"))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert r.status_code == 200
    assert r.json()["nodes"][node_id] == {
        "now": 1,
        "entered": 2,
        "passed": 0,
        "dropped": 1,
        "sent_today": 2,
    }
    assert len(statements) <= 5, statements
    missing = await api.client.get(f"{api.p}/funnels/999/stats", headers=api.auth("viewer"))
    assert missing.status_code == 404


async def test_contacts_on_node(api: Api) -> None:
    funnel_id, node_id = await _funnel_and_node(api)
    await _seed(api, funnel_id, node_id, 601, RunStatus.WAITING)
    await _seed(api, funnel_id, node_id, 602, RunStatus.STOPPED)  # left the node: not listed
    await _seed(api, funnel_id, node_id, 603, RunStatus.ACTIVE)
    url = f"{api.p}/funnels/{funnel_id}/nodes/{node_id}/contacts"
    r = await api.client.get(url, headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [(c["telegram_user_id"], c["status"]) for c in rows] == [
        (601, "waiting"),
        (603, "active"),
    ]
    assert rows[0]["first_name"] == "Анна" and rows[0]["version"] == 1
    limited = await api.client.get(url, params={"limit": 1}, headers=api.auth("viewer"))
    assert [c["telegram_user_id"] for c in limited.json()] == [601]
    missing = await api.client.get(
        f"{api.p}/funnels/999/nodes/{node_id}/contacts", headers=api.auth("viewer")
    )
    assert missing.status_code == 404


async def test_stream_bounded_by_max_events(api: Api) -> None:
    funnel_id, _node_id = await _funnel_and_node(api)
    r = await api.client.get(
        f"{api.p}/funnels/{funnel_id}/stats/stream",
        params={"max_events": 1},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith("id: 1\nevent: snapshot\n")


@pytest.fixture
async def served(api: Api) -> AsyncIterator[str]:
    """The app on a real HTTP server (ASGITransport buffers whole responses)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict]]:
    name = None
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


async def test_stream_pushes_diffs(api: Api, served: str) -> None:
    funnel_id, node_id = await _funnel_and_node(api)
    url = f"{served}{api.p}/funnels/{funnel_id}/stats/stream"
    async with (
        asyncio.timeout(15),
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", url, headers=api.auth("viewer")) as response,
    ):
        assert response.status_code == 200
        events = _events(response.aiter_lines())
        kind, first = await anext(events)
        assert kind == "snapshot" and node_id not in first["nodes"]
        await _seed(api, funnel_id, node_id, 777, RunStatus.ACTIVE)
        kind, diff = await anext(events)
        assert kind == "diff"
        assert diff["nodes"] == {
            node_id: {"now": 1, "entered": 1, "passed": 0, "dropped": 0, "sent_today": 1}
        }
    unauth = httpx.AsyncClient(timeout=5)
    async with unauth:
        assert (await unauth.get(url)).status_code == 401
