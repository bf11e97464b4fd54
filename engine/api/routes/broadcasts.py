"""Broadcasts (R17): create or schedule, preview the segment, send, follow, cancel.

Sending only queues outbox rows (``engine.broadcasts``); the engine's outbox sender
delivers them under Telegram's limits. Editors create, send and cancel; viewers read and
preview.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from db.models import Broadcast, BroadcastStatus, TagMatch
from engine import broadcasts as bc
from engine.api.auth import Editor, ProjectCtx, Reader
from graph.nodes.message import Media

router = APIRouter(tags=["broadcasts"])

MAX_ID = 2**62
BroadcastId = Annotated[int, Path(ge=1, le=MAX_ID)]
TagName = Annotated[str, Field(min_length=1, max_length=100)]


class ButtonIn(BaseModel):
    text: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2000)


class SegmentIn(BaseModel):
    channel_id: int = Field(ge=1, le=MAX_ID, description="The bot to send through")
    tags_included: list[TagName] = Field(default_factory=list, max_length=50)
    tags_excluded: list[TagName] = Field(default_factory=list, max_length=50)
    include_mode: TagMatch = Field(
        TagMatch.ANY, description="Contacts with any / all of the included tags"
    )

    def segment(self) -> bc.Segment:
        return bc.Segment(
            self.channel_id,
            tuple(self.tags_included),
            tuple(self.tags_excluded),
            self.include_mode,
        )


class BroadcastIn(SegmentIn):
    title: str = Field("", max_length=200)
    text: str = Field(
        "", max_length=4096, description="Telegram HTML; the caption (≤1024) with media"
    )
    media: list[Media] = Field(
        default_factory=list,
        max_length=10,
        description="Files sent with the text, as in a message node: kind and source "
        "(a media/<sha>/<name> path from the media store, an URL or a Telegram file_id)",
    )
    buttons: list[list[ButtonIn]] = Field(
        default_factory=list, max_length=20, description="Rows of URL buttons"
    )
    scheduled_at: AwareDatetime | None = Field(
        None, description="Start automatically at this moment; omitted: a draft"
    )
    send_now: bool = Field(False, description="Start sending right away")


class PreviewOut(BaseModel):
    count: int


class ProgressOut(BaseModel):
    total: int
    pending: int
    sent: int
    failed: int
    uncertain: int
    cancelled: int


class BroadcastOut(BaseModel):
    id: int
    title: str
    text: str
    buttons: list[list[dict[str, Any]]]
    media: list[dict[str, Any]]
    channel_id: int
    tags_included: list[str]
    tags_excluded: list[str]
    include_mode: TagMatch
    status: BroadcastStatus
    scheduled_at: datetime | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    total: int
    sent: int
    failed: int
    progress: ProgressOut | None = None


def _out(b: Broadcast, progress: bc.Progress | None = None) -> BroadcastOut:
    return BroadcastOut(
        id=b.id,
        title=b.title,
        text=b.text,
        buttons=b.buttons or [],
        media=b.media or [],
        channel_id=b.channel_id,
        tags_included=list(b.tags_included or []),
        tags_excluded=list(b.tags_excluded or []),
        include_mode=b.include_mode,
        status=b.status,
        scheduled_at=b.scheduled_at,
        created_by=b.created_by,
        created_at=b.created_at,
        started_at=b.started_at,
        finished_at=b.finished_at,
        cancelled_at=b.cancelled_at,
        cancelled_by=b.cancelled_by,
        total=b.total,
        sent=b.sent,
        failed=b.failed,
        progress=ProgressOut(**vars(progress)) if progress is not None else None,
    )


def _refused(exc: bc.BroadcastError) -> HTTPException:
    if isinstance(exc, bc.BroadcastNotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if isinstance(exc, bc.BroadcastStateError):
        return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))
    return HTTPException(422, detail=str(exc))


async def _engine(ctx: ProjectCtx) -> Any:
    return await ctx.state.engine(ctx.project)


async def _refreshed(ctx: ProjectCtx, broadcast_id: int) -> BroadcastOut:
    engine = await _engine(ctx)
    async with engine.transaction() as s:
        b = await s.get(Broadcast, broadcast_id)
        if b is None:
            raise HTTPException(404, detail=f"no broadcast {broadcast_id}")
        progress = await bc.refresh_progress(s, b, now=engine.clock.now())
        return _out(b, progress)


@router.post(
    "/projects/{project}/broadcasts",
    response_model=BroadcastOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_broadcast(body: BroadcastIn, ctx: Editor) -> BroadcastOut:
    """Create a draft, schedule it (``scheduled_at``) or start it now (``send_now``)."""
    engine = await _engine(ctx)
    try:
        async with engine.transaction() as s:
            b = await bc.create_broadcast(
                s,
                text=body.text,
                segment=body.segment(),
                created_by=f"staff:{ctx.actor}",
                now=engine.clock.now(),
                buttons=[[x.model_dump() for x in row] for row in body.buttons],
                media=[m.model_dump() for m in body.media],
                title=body.title,
                scheduled_at=None if body.send_now else body.scheduled_at,
            )
            broadcast_id = b.id
        if body.send_now:
            await bc.send_now(engine, broadcast_id)
    except bc.BroadcastError as exc:
        raise _refused(exc) from None
    return await _refreshed(ctx, broadcast_id)


@router.get("/projects/{project}/broadcasts", response_model=list[BroadcastOut])
async def list_broadcasts(ctx: Reader) -> list[BroadcastOut]:
    """Every broadcast, newest first; counts of those still sending are refreshed."""
    engine = await _engine(ctx)
    async with engine.transaction() as s:
        rows = list(await s.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(1000)))
        for b in rows:
            if b.status is BroadcastStatus.SENDING:
                await bc.refresh_progress(s, b, now=engine.clock.now())
        return [_out(b) for b in rows]


@router.post("/projects/{project}/broadcasts/preview", response_model=PreviewOut)
async def preview(body: SegmentIn, ctx: Reader) -> PreviewOut:
    """How many contacts the segment reaches now (subscribed in the bot, tags matching)."""
    async with (await ctx.db()).sessions() as s:
        try:
            segment = await bc.check_segment(s, body.segment())
        except bc.BroadcastError as exc:
            raise _refused(exc) from None
        return PreviewOut(count=await bc.preview_count(s, segment))


@router.get("/projects/{project}/broadcasts/{broadcast_id}", response_model=BroadcastOut)
async def get_broadcast(broadcast_id: BroadcastId, ctx: Reader) -> BroadcastOut:
    """The broadcast with its progress (from its outbox rows)."""
    return await _refreshed(ctx, broadcast_id)


@router.post("/projects/{project}/broadcasts/{broadcast_id}/send", response_model=BroadcastOut)
async def send_broadcast(broadcast_id: BroadcastId, ctx: Editor) -> BroadcastOut:
    """Start sending now (also a scheduled one). Repeating it queues nothing twice."""
    try:
        await bc.send_now(await _engine(ctx), broadcast_id)
    except bc.BroadcastError as exc:
        raise _refused(exc) from None
    return await _refreshed(ctx, broadcast_id)


@router.post("/projects/{project}/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
async def cancel_broadcast(broadcast_id: BroadcastId, ctx: Editor) -> BroadcastOut:
    """Cancel: messages not yet handed to Telegram are not sent (409 if already done)."""
    try:
        await bc.cancel(await _engine(ctx), broadcast_id, actor=f"staff:{ctx.actor}")
    except bc.BroadcastError as exc:
        raise _refused(exc) from None
    return await _refreshed(ctx, broadcast_id)
