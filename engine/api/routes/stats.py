"""Live per-node figures of a funnel (R5): one call, and a Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from db.models import Funnel
from engine.api.auth import ProjectCtx, Reader
from engine.funnel_store import FunnelNotFoundError
from engine.stats import funnel_node_stats

router = APIRouter(tags=["stats"])

HEARTBEAT_SECONDS = 15.0


class NodeFigures(BaseModel):
    now: int
    """Contacts on the node now (active or waiting runs)."""
    entered: int
    passed: int
    dropped: int
    """Runs stopped or failed on this node (entered − passed − now)."""
    sent_today: int


class FunnelStatsOut(BaseModel):
    funnel_id: int
    at: datetime
    nodes: dict[str, NodeFigures]


async def funnel_stats(ctx: ProjectCtx, funnel_id: int) -> dict[str, NodeFigures]:
    """A fixed number of statements (one check + the runtime's grouped queries)."""
    async with (await ctx.db()).sessions() as session:
        if await session.scalar(select(Funnel.id).where(Funnel.id == funnel_id)) is None:
            raise FunnelNotFoundError(f"no funnel with id {funnel_id}")
        stats = await funnel_node_stats(
            session, funnel_id, now=datetime.now(UTC), tz=ZoneInfo(ctx.project.timezone)
        )
    return {
        node_id: NodeFigures(
            now=s.on_node,
            entered=s.entered,
            passed=s.passed,
            dropped=max(0, s.entered - s.passed - s.on_node),
            sent_today=s.sent_today,
        )
        for node_id, s in stats.items()
    }


@router.get("/projects/{project}/funnels/{funnel_id}/stats", response_model=FunnelStatsOut)
async def get_stats(funnel_id: int, ctx: Reader) -> FunnelStatsOut:
    """Per node: now, entered, passed, dropped, sent today (project time zone)."""
    return FunnelStatsOut(
        funnel_id=funnel_id, at=datetime.now(UTC), nodes=await funnel_stats(ctx, funnel_id)
    )


class NodeContactOut(BaseModel):
    contact_id: int
    telegram_user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    run_id: int
    status: str
    since: datetime
    """When the run reached the node (its last change)."""
    version: int


@router.get(
    "/projects/{project}/funnels/{funnel_id}/nodes/{node_id}/contacts",
    response_model=list[NodeContactOut],
)
async def node_contacts(
    funnel_id: int,
    node_id: Annotated[str, Path(max_length=64)],
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[NodeContactOut]:
    """Contacts on the node now (active or waiting runs of any version), longest there
    first — what a click on the canvas badge lists."""
    found = await ctx.state.service.contacts_on_node(ctx.name, funnel_id, node_id, limit=limit)
    return [NodeContactOut(**asdict(c)) for c in found]


def _sse(event: str, data: object, event_id: int) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


@router.get(
    "/projects/{project}/funnels/{funnel_id}/stats/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "Server-Sent Events: first `snapshot` (all nodes), then `diff` events with "
                "only the nodes whose figures changed; a comment line every 15 s otherwise."
            ),
        }
    },
)
async def stream_stats(
    funnel_id: int,
    ctx: Reader,
    request: Request,
    max_events: Annotated[
        int | None, Query(ge=1, le=10_000, description="Close after this many events")
    ] = None,
) -> StreamingResponse:
    first = await funnel_stats(ctx, funnel_id)  # 404 before the stream starts
    interval = ctx.state.stats_interval

    async def events() -> AsyncIterator[bytes]:
        sent = 1
        previous = {k: v.model_dump() for k, v in first.items()}
        yield _sse("snapshot", {"funnel_id": funnel_id, "nodes": previous}, sent)
        quiet = 0.0
        while max_events is None or sent < max_events:
            await asyncio.sleep(interval)
            if await request.is_disconnected():
                return
            try:
                current = {
                    k: v.model_dump() for k, v in (await funnel_stats(ctx, funnel_id)).items()
                }
            except FunnelNotFoundError:
                return
            zero = dict.fromkeys(NodeFigures.model_fields, 0)
            changed = {
                k: current.get(k, zero)
                for k in current.keys() | previous.keys()
                if current.get(k, zero) != previous.get(k, zero)
            }
            previous = current
            if changed:
                sent += 1
                quiet = 0.0
                yield _sse("diff", {"funnel_id": funnel_id, "nodes": changed}, sent)
            else:
                quiet += interval
                if quiet >= HEARTBEAT_SECONDS:
                    quiet = 0.0
                    yield b": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
