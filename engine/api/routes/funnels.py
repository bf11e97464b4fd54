"""Funnels: drafts with optimistic concurrency, validation, publishing, versions, copies,
JSON export/import."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from db.models import Funnel, FunnelVersion
from db.staff import StaffRole
from engine.api.auth import Editor, Reader, open_project
from engine.funnel_store import FunnelNotFoundError
from graph.document import FunnelDocument
from graph.loading import funnel_to_dict, load_funnel
from graph.problems import Problem

router = APIRouter(tags=["funnels"])

DocumentBody = Annotated[
    dict[str, Any],
    Body(description="A funnel document (our JSON, schema_version 1)"),
]


class FunnelSummaryOut(BaseModel):
    id: int
    name: str
    folder: str
    draft_revision: int
    published_version: int | None
    updated_at: datetime


class DraftOut(BaseModel):
    id: int
    revision: int
    published_version: int | None
    document: dict[str, Any]


class SaveDraftIn(BaseModel):
    document: dict[str, Any]
    revision: int | None = Field(
        default=None, ge=0, description="The revision you edited (or send If-Match)"
    )


class SavedOut(BaseModel):
    id: int
    revision: int


class CreateFunnelIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    folder: str | None = Field(default=None, max_length=200)


class CreatedOut(BaseModel):
    id: int


class ProblemsOut(BaseModel):
    problems: list[dict[str, Any]]
    has_errors: bool


class PublishOut(BaseModel):
    version: int
    warnings: list[dict[str, Any]]
    contacts_on_removed_nodes: int


class VersionOut(BaseModel):
    version: int
    published_at: datetime
    published_by: str | None


class VersionDocOut(VersionOut):
    document: dict[str, Any]


class CopyIn(BaseModel):
    target: str = Field(min_length=1, max_length=64, description="Target project name or slug")


class CopyOut(BaseModel):
    funnel_id: int | None
    plan: dict[str, Any]


def _doc(data: dict[str, Any]) -> FunnelDocument:
    return load_funnel(data)  # FunnelLoadError → 422 with problems (app exception handler)


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in problems]


def _revision(if_match: str | None, body_revision: int | None) -> int:
    if body_revision is not None:
        return body_revision
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if text.isdigit():
            return int(text)
        raise HTTPException(422, detail='If-Match: expected the draft revision, e.g. "3"')
    raise HTTPException(
        428,
        detail="say which revision you edited: the 'revision' field or an If-Match header",
    )


async def _funnel_name(ctx: Reader | Editor, funnel_id: int) -> str:
    async with (await ctx.db()).sessions() as session:
        name = await session.scalar(select(Funnel.name).where(Funnel.id == funnel_id))
    if name is None:
        raise FunnelNotFoundError(f"no funnel with id {funnel_id}")
    return name


@router.get("/projects/{project}/funnels", response_model=list[FunnelSummaryOut])
async def list_funnels(ctx: Reader) -> list[FunnelSummaryOut]:
    return [
        FunnelSummaryOut(
            id=f.id,
            name=f.name,
            folder=f.folder,
            draft_revision=f.draft_revision,
            published_version=f.published_version,
            updated_at=f.updated_at,
        )
        for f in await ctx.state.service.list_funnels(ctx.name)
    ]


@router.post("/projects/{project}/funnels", response_model=CreatedOut, status_code=201)
async def create_funnel(body: CreateFunnelIn, ctx: Editor) -> CreatedOut:
    """A new empty funnel draft."""
    doc = FunnelDocument(
        id=uuid.uuid4(), name=body.name.strip() or body.name, folder=body.folder or None
    )
    return CreatedOut(id=await ctx.state.service.create_funnel(ctx.name, doc, by=ctx.actor))


@router.post("/projects/{project}/funnels/import", response_model=CreatedOut, status_code=201)
async def import_funnel(
    document: DocumentBody,
    ctx: Editor,
    name: Annotated[str | None, Query(max_length=200, description="Rename on import")] = None,
) -> CreatedOut:
    """Create a funnel from an exported document (a bad document → 422 naming the problem)."""
    doc = _doc(document)
    if name and name.strip():
        doc = doc.model_copy(update={"name": name.strip()})
    return CreatedOut(id=await ctx.state.service.create_funnel(ctx.name, doc, by=ctx.actor))


@router.get(
    "/projects/{project}/funnels/{funnel_id}",
    response_model=DraftOut,
    responses={200: {"headers": {"ETag": {"description": "The draft revision"}}}},
)
async def get_draft(funnel_id: int, ctx: Reader, response: Response) -> DraftOut:
    draft = await ctx.state.service.load_draft(ctx.name, funnel_id)
    response.headers["ETag"] = f'"{draft.revision}"'
    return DraftOut(
        id=draft.id,
        revision=draft.revision,
        published_version=draft.published_version,
        document=funnel_to_dict(draft.document),
    )


@router.put(
    "/projects/{project}/funnels/{funnel_id}",
    response_model=SavedOut,
    responses={
        409: {"description": "Someone saved meanwhile"},
        428: {"description": "No revision"},
    },
)
async def save_draft(
    funnel_id: int,
    body: SaveDraftIn,
    ctx: Editor,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> SavedOut:
    """Save the draft if nobody saved since the revision you edited; else 409."""
    expected = _revision(if_match, body.revision)
    revision = await ctx.state.service.save_draft(
        ctx.name, funnel_id, _doc(body.document), expected, by=ctx.actor
    )
    response.headers["ETag"] = f'"{revision}"'
    return SavedOut(id=funnel_id, revision=revision)


@router.delete("/projects/{project}/funnels/{funnel_id}", status_code=204)
async def delete_funnel(funnel_id: int, ctx: Editor) -> Response:
    """Disable the funnel (its versions and history stay for reports)."""
    await ctx.state.service.delete_funnel(ctx.name, funnel_id)
    return Response(status_code=204)


@router.post("/projects/{project}/funnels/{funnel_id}/validate", response_model=ProblemsOut)
async def validate(
    funnel_id: int,
    ctx: Reader,
    document: Annotated[
        dict[str, Any] | None, Body(description="An unsaved document; omit for the draft")
    ] = None,
) -> ProblemsOut:
    """Problems of the saved draft, or of the document sent, against this project."""
    if document is None:
        doc = (await ctx.state.service.load_draft(ctx.name, funnel_id)).document
    else:
        await _funnel_name(ctx, funnel_id)
        doc = _doc(document)
    problems = await ctx.state.service.validate(ctx.name, doc)
    return ProblemsOut(problems=_problems(problems), has_errors=any(p.is_error for p in problems))


@router.post(
    "/projects/{project}/funnels/{funnel_id}/publish",
    response_model=PublishOut,
    responses={422: {"description": "The draft has errors; nothing was published"}},
)
async def publish(funnel_id: int, ctx: Editor) -> PublishOut:
    outcome = await ctx.state.service.publish(ctx.name, funnel_id, by=ctx.actor)
    return PublishOut(
        version=outcome.version,
        warnings=_problems(outcome.warnings),
        contacts_on_removed_nodes=outcome.contacts_on_removed_nodes,
    )


@router.get("/projects/{project}/funnels/{funnel_id}/versions", response_model=list[VersionOut])
async def list_versions(funnel_id: int, ctx: Reader) -> list[VersionOut]:
    await _funnel_name(ctx, funnel_id)
    async with (await ctx.db()).sessions() as session:
        rows = (
            await session.execute(
                select(
                    FunnelVersion.version, FunnelVersion.published_at, FunnelVersion.published_by
                )
                .where(FunnelVersion.funnel_id == funnel_id)
                .order_by(FunnelVersion.version.desc())
            )
        ).all()
    return [VersionOut(version=v, published_at=at, published_by=by) for v, at, by in rows]


@router.get(
    "/projects/{project}/funnels/{funnel_id}/versions/{version}", response_model=VersionDocOut
)
async def get_version(funnel_id: int, version: int, ctx: Reader) -> VersionDocOut:
    async with (await ctx.db()).sessions() as session:
        row = await session.scalar(
            select(FunnelVersion).where(
                FunnelVersion.funnel_id == funnel_id, FunnelVersion.version == version
            )
        )
    if row is None:
        raise HTTPException(404, detail=f"funnel {funnel_id} has no version {version}")
    return VersionDocOut(
        version=row.version,
        published_at=row.published_at,
        published_by=row.published_by,
        document=funnel_to_dict(load_funnel(row.document_json)),
    )


@router.post(
    "/projects/{project}/funnels/{funnel_id}/duplicate", response_model=CreatedOut, status_code=201
)
async def duplicate(funnel_id: int, ctx: Editor) -> CreatedOut:
    """A copy in the same project named "… (копия)"."""
    name = await _funnel_name(ctx, funnel_id)
    return CreatedOut(id=await ctx.state.service.duplicate_funnel(ctx.name, name, by=ctx.actor))


@router.post("/projects/{project}/funnels/{funnel_id}/copy-plan", response_model=CopyOut)
async def copy_plan(funnel_id: int, body: CopyIn, ctx: Reader) -> CopyOut:
    """What copying to another project would do (bots by role, tags/products by name)."""
    target = await open_project(ctx.state, ctx.caller, body.target, StaffRole.VIEWER)
    name = await _funnel_name(ctx, funnel_id)
    plan = await ctx.state.service.plan_copy(ctx.name, name, target.name)
    return CopyOut(funnel_id=None, plan=plan.model_dump(mode="json"))


@router.post(
    "/projects/{project}/funnels/{funnel_id}/copy",
    response_model=CopyOut,
    status_code=201,
    responses={422: {"description": "The copy has blocking problems (see plan)"}},
)
async def copy(funnel_id: int, body: CopyIn, ctx: Editor) -> CopyOut:
    """Copy the draft into another project as a new draft (needs editor there too)."""
    target = await open_project(ctx.state, ctx.caller, body.target, StaffRole.EDITOR)
    name = await _funnel_name(ctx, funnel_id)
    outcome = await ctx.state.service.copy_funnel(ctx.name, name, target.name, by=ctx.actor)
    return CopyOut(funnel_id=outcome.funnel_id, plan=outcome.plan.model_dump(mode="json"))


@router.get(
    "/projects/{project}/funnels/{funnel_id}/export",
    responses={200: {"content": {"application/json": {}}, "description": "The draft document"}},
)
async def export_funnel(funnel_id: int, ctx: Reader) -> JSONResponse:
    """The draft as a document file (import it with POST …/funnels/import)."""
    draft = await ctx.state.service.load_draft(ctx.name, funnel_id)
    filename = f"funnel-{funnel_id}.json"
    return JSONResponse(
        funnel_to_dict(draft.document),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
