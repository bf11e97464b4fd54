"""Contacts: search, the contact card, and staff actions through the runtime (R5, R10)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from db.models import (
    Channel,
    Contact,
    ContactChannel,
    ContactTag,
    FunnelVersion,
    HistoryEvent,
    PersonalLink,
    Product,
    Purchase,
    Run,
    Tag,
    Variable,
)
from engine import flows
from engine.api.auth import Editor, ProjectCtx, Reader
from engine.contact_search import contact_search_condition

router = APIRouter(tags=["contacts"])


class ContactOut(BaseModel):
    id: int
    telegram_user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    created_at: datetime
    tags: list[str]


class ContactCardOut(ContactOut):
    channels: list[dict[str, Any]]
    tag_details: list[dict[str, Any]]
    variables: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    history: list[dict[str, Any]]
    purchases: list[dict[str, Any]]
    links: list[dict[str, Any]]


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class TagActionIn(ReasonIn):
    tag: str = Field(min_length=1, max_length=100)


class MoveIn(ReasonIn):
    node: str = Field(min_length=1, max_length=200, description="Node id, id prefix or title")


class ActionOut(BaseModel):
    ok: bool
    changed: bool | None = None
    new_run_id: int | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/projects/{project}/contacts", response_model=list[ContactOut])
async def search_contacts(
    ctx: Reader,
    q: Annotated[
        str | None, Query(max_length=200, description="Telegram id, @username or name")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100, description="Has this tag")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ContactOut]:
    db = await ctx.db()
    query = select(Contact).order_by(Contact.id.desc()).limit(limit).offset(offset)
    condition = contact_search_condition(q or "", db.dialect)
    if condition is not None:
        query = query.where(condition)
    if tag:
        query = query.where(
            Contact.id.in_(select(ContactTag.contact_id).join(Tag).where(Tag.name == tag.strip()))
        )
    async with db.sessions() as session:
        contacts = (await session.scalars(query)).all()
        ids = [c.id for c in contacts]
        tag_rows = (
            await session.execute(
                select(ContactTag.contact_id, Tag.name)
                .join(Tag)
                .where(ContactTag.contact_id.in_(ids))
                .order_by(Tag.name)
            )
        ).all()
    tags: dict[int, list[str]] = {}
    for contact_id, name in tag_rows:
        tags.setdefault(contact_id, []).append(name)
    return [
        ContactOut(
            id=c.id,
            telegram_user_id=c.telegram_user_id,
            username=c.username,
            first_name=c.first_name,
            last_name=c.last_name,
            created_at=c.created_at,
            tags=tags.get(c.id, []),
        )
        for c in contacts
    ]


@router.get("/projects/{project}/contacts/{contact_id}", response_model=ContactCardOut)
async def contact_card(
    contact_id: int,
    ctx: Reader,
    history_limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> ContactCardOut:
    """Everything about a contact: channels, tags (who/when), variables, runs, history,
    purchases, personal links."""
    async with (await ctx.db()).sessions() as s:
        contact = await s.get(Contact, contact_id)
        if contact is None:
            raise HTTPException(404, detail=f"no contact {contact_id}")
        channels = (
            await s.execute(
                select(ContactChannel, Channel.name, Channel.role)
                .join(Channel, Channel.id == ContactChannel.channel_id)
                .where(ContactChannel.contact_id == contact_id)
            )
        ).all()
        tags = (
            await s.execute(
                select(ContactTag, Tag)
                .join(Tag)
                .where(ContactTag.contact_id == contact_id)
                .order_by(ContactTag.added_at)
            )
        ).all()
        variables = (
            await s.scalars(
                select(Variable).where(Variable.contact_id == contact_id).order_by(Variable.name)
            )
        ).all()
        runs = (
            await s.execute(
                select(Run, FunnelVersion.funnel_id, FunnelVersion.version)
                .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                .where(Run.contact_id == contact_id)
                .order_by(Run.id.desc())
            )
        ).all()
        history = (
            await s.scalars(
                select(HistoryEvent)
                .where(HistoryEvent.contact_id == contact_id)
                .order_by(HistoryEvent.at.desc(), HistoryEvent.id.desc())
                .limit(history_limit)
            )
        ).all()
        purchases = (
            await s.execute(
                select(Purchase, Product.name)
                .join(Product)
                .where(Purchase.contact_id == contact_id)
                .order_by(Purchase.recorded_at)
            )
        ).all()
        links = (
            await s.scalars(select(PersonalLink).where(PersonalLink.contact_id == contact_id))
        ).all()
        tag_names = [tag.name for _, tag in tags]
    return ContactCardOut(
        id=contact.id,
        telegram_user_id=contact.telegram_user_id,
        username=contact.username,
        first_name=contact.first_name,
        last_name=contact.last_name,
        created_at=contact.created_at,
        tags=tag_names,
        channels=[
            {
                "channel_id": cc.channel_id,
                "channel": name,
                "role": role.value if role else None,
                "status": cc.status.value,
                "first_seen_at": _iso(cc.first_seen_at),
                "last_seen_at": _iso(cc.last_seen_at),
                "status_changed_at": _iso(cc.status_changed_at),
                "arrived_via": cc.arrived_via,
            }
            for cc, name, role in channels
        ],
        tag_details=[
            {
                "tag": tag.name,
                "is_key": tag.is_key,
                "manager_label": tag.manager_label,
                "added_at": _iso(ct.added_at),
                "added_by": ct.added_by,
                "added_by_run_id": ct.added_by_run_id,
            }
            for ct, tag in tags
        ],
        variables=[
            {
                "name": v.name,
                "value": v.value,
                "retention": v.retention.value,
                "updated_at": _iso(v.updated_at),
            }
            for v in variables
        ],
        runs=[
            {
                "id": r.id,
                "funnel_id": funnel_id,
                "version": version,
                "node_id": r.node_id,
                "status": r.status.value,
                "awaiting": r.awaiting,
                "due_at": _iso(r.due_at),
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "stopped_at": _iso(r.stopped_at),
                "stopped_by_run_id": r.stopped_by_run_id,
                "error": r.error,
            }
            for r, funnel_id, version in runs
        ],
        history=[
            {
                "id": h.id,
                "at": _iso(h.at),
                "kind": h.kind,
                "run_id": h.run_id,
                "node_id": h.node_id,
                "channel_id": h.channel_id,
                "actor": h.actor,
                "details": h.details,
            }
            for h in history
        ],
        purchases=[
            {
                "id": p.id,
                "product": product,
                "amount": str(p.amount) if p.amount is not None else None,
                "currency": p.currency,
                "recorded_at": _iso(p.recorded_at),
            }
            for p, product in purchases
        ],
        links=[
            {
                "id": link.id,
                "product_id": link.product_id,
                "target_channel_id": link.target_channel_id,
                "created_at": _iso(link.created_at),
                "expires_at": _iso(link.expires_at),
                "used_at": _iso(link.used_at),
                "revoked_at": _iso(link.revoked_at),
            }
            for link in links
        ],
    )


# --- actions (through the runtime, audited with the staff login) -------------------------


async def _engine(ctx: ProjectCtx) -> Any:
    return await ctx.state.engine(ctx.project)


async def _check_contact(ctx: ProjectCtx, contact_id: int) -> None:
    async with (await ctx.db()).sessions() as s:
        if await s.get(Contact, contact_id) is None:
            raise HTTPException(404, detail=f"no contact {contact_id}")


async def _check_run(ctx: ProjectCtx, run_id: int) -> None:
    async with (await ctx.db()).sessions() as s:
        if await s.get(Run, run_id) is None:
            raise HTTPException(404, detail=f"no run {run_id}")


@router.post("/projects/{project}/contacts/{contact_id}/tags", response_model=ActionOut)
async def add_tag(contact_id: int, body: TagActionIn, ctx: Editor) -> ActionOut:
    """Put a tag on the contact (tag-added triggers fire); changed=false if it was there."""
    await _check_contact(ctx, contact_id)
    changed = await flows.staff_add_tag(
        await _engine(ctx), contact_id, body.tag, actor=ctx.actor, reason=body.reason
    )
    return ActionOut(ok=True, changed=changed)


@router.delete("/projects/{project}/contacts/{contact_id}/tags/{tag}", response_model=ActionOut)
async def remove_tag(
    contact_id: int,
    tag: str,
    ctx: Editor,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> ActionOut:
    await _check_contact(ctx, contact_id)
    changed = await flows.staff_remove_tag(
        await _engine(ctx), contact_id, tag, actor=ctx.actor, reason=reason
    )
    return ActionOut(ok=True, changed=changed)


@router.post("/projects/{project}/runs/{run_id}/move", response_model=ActionOut)
async def move_run(run_id: int, body: MoveIn, ctx: Editor) -> ActionOut:
    """Put the run on any node of its funnel version; it executes from there."""
    await _check_run(ctx, run_id)
    await flows.move_run(await _engine(ctx), run_id, body.node, actor=ctx.actor, reason=body.reason)
    return ActionOut(ok=True)


@router.post("/projects/{project}/runs/{run_id}/stop", response_model=ActionOut)
async def stop_run(run_id: int, body: ReasonIn, ctx: Editor) -> ActionOut:
    await _check_run(ctx, run_id)
    await flows.stop_run(await _engine(ctx), run_id, actor=ctx.actor, reason=body.reason)
    return ActionOut(ok=True)


@router.post("/projects/{project}/runs/{run_id}/restart", response_model=ActionOut)
async def restart_run(run_id: int, body: ReasonIn, ctx: Editor) -> ActionOut:
    """Stop the run if live and start its funnel again from the trigger."""
    await _check_run(ctx, run_id)
    new = await flows.restart_run(await _engine(ctx), run_id, actor=ctx.actor, reason=body.reason)
    return ActionOut(ok=new is not None, new_run_id=new)


@router.get("/projects/{project}/runs/{run_id}/rollback")
async def rollback_preview(run_id: int, ctx: Reader) -> dict[str, Any]:
    """What rolling the run back would do (runs resumed, tags removed, links revoked)."""
    await _check_run(ctx, run_id)
    plan = await flows.rollback_preview(await _engine(ctx), run_id)
    return dataclasses.asdict(plan)


@router.post("/projects/{project}/runs/{run_id}/rollback")
async def rollback_apply(run_id: int, body: ReasonIn, ctx: Editor) -> dict[str, Any]:
    await _check_run(ctx, run_id)
    plan = await flows.rollback_apply(
        await _engine(ctx), run_id, actor=ctx.actor, reason=body.reason
    )
    return dataclasses.asdict(plan)
