"""Projects (each with its own database), channels, tags, products and synonym groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.models import Product, SynonymGroup, Tag
from db.registry import DEFAULT_TIMEZONE
from db.workspace import Project
from engine.api.auth import AdminDep, CallerDep, Editor, Reader
from engine.api.routes.channels import ChannelOut
from engine.api.state import api_state

router = APIRouter(tags=["projects"])


class ProjectOut(BaseModel):
    id: int
    name: str
    slug: str
    database_kind: str
    timezone: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            slug=project.slug,
            database_kind=project.database_kind.value,
            timezone=project.timezone,
            created_at=project.created_at,
        )


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=64)
    database_url: str | None = Field(
        default=None,
        max_length=1000,
        description="A PostgreSQL server URL; omit for a SQLite file in the workspace",
    )


@router.get("/projects", response_model=list[ProjectOut])
async def list_projects(caller: CallerDep, request: Request) -> list[ProjectOut]:
    """The projects you may open."""
    projects = await api_state(request).service.list_projects()
    return [ProjectOut.of(p) for p in projects if caller.user.can_open(p.id)]


@router.post("/projects", response_model=ProjectOut, status_code=201)
async def create_project(body: ProjectIn, caller: AdminDep, request: Request) -> ProjectOut:
    """Register a project and create its own database (admins)."""
    workspace = api_state(request).service.workspace
    project = await workspace.create_project(
        body.name, database_url=body.database_url, timezone=body.timezone
    )
    return ProjectOut.of(project)


@router.get("/projects/{project}", response_model=ProjectOut)
async def get_project(ctx: Reader) -> ProjectOut:
    return ProjectOut.of(ctx.project)


# --- channels ---------------------------------------------------------------------------


@router.get("/projects/{project}/channels", response_model=list[ChannelOut])
async def list_channels(ctx: Reader) -> list[ChannelOut]:
    """Bots and manager accounts; their tokens and sessions are never returned."""
    return [ChannelOut(**c) for c in await ctx.state.service.list_channels(ctx.project.name)]


# --- tags -------------------------------------------------------------------------------

COLOUR = r"^#[0-9A-Fa-f]{6}$"


class TagOut(BaseModel):
    id: int
    name: str
    colour: str | None
    manager_label: str | None
    is_key: bool


class TagIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    colour: str | None = Field(default=None, pattern=COLOUR)
    manager_label: str | None = Field(default=None, max_length=16)
    is_key: bool = False


class TagPatch(BaseModel):
    colour: str | None = Field(default=None, pattern=COLOUR)
    manager_label: str | None = Field(default=None, max_length=16)
    is_key: bool | None = None


def _tag(tag: Tag) -> TagOut:
    return TagOut(
        id=tag.id,
        name=tag.name,
        colour=tag.colour,
        manager_label=tag.manager_label,
        is_key=tag.is_key,
    )


@router.get("/projects/{project}/tags", response_model=list[TagOut], tags=["tags"])
async def list_tags(ctx: Reader) -> list[TagOut]:
    async with (await ctx.db()).sessions() as session:
        return [_tag(t) for t in await session.scalars(select(Tag).order_by(Tag.name))]


@router.post("/projects/{project}/tags", response_model=TagOut, status_code=201, tags=["tags"])
async def create_tag(body: TagIn, ctx: Editor) -> TagOut:
    name = body.name.strip()
    if not name:
        raise HTTPException(422, detail="name: a tag name cannot be blank")
    async with (await ctx.db()).sessions() as session:
        if await session.scalar(select(Tag.id).where(Tag.name == name)) is not None:
            raise HTTPException(409, detail=f"tag {name!r} already exists")
        tag = Tag(
            name=name, colour=body.colour, manager_label=body.manager_label, is_key=body.is_key
        )
        session.add(tag)
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(409, detail=f"tag {name!r} already exists") from None
        return _tag(tag)


@router.patch("/projects/{project}/tags/{tag_id}", response_model=TagOut, tags=["tags"])
async def update_tag(tag_id: int, body: TagPatch, ctx: Editor) -> TagOut:
    """Change colour, manager label (R15) or the key flag; send null to clear a field."""
    async with (await ctx.db()).sessions() as session, session.begin():
        tag = await session.get(Tag, tag_id)
        if tag is None:
            raise HTTPException(404, detail=f"no tag {tag_id}")
        for name in body.model_fields_set:
            value: Any = getattr(body, name)
            if name == "is_key" and value is None:
                continue
            setattr(tag, name, value)
        return _tag(tag)


# --- products ---------------------------------------------------------------------------


class ProductOut(BaseModel):
    id: int
    name: str
    created_at: datetime


class ProductIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.get("/projects/{project}/products", response_model=list[ProductOut], tags=["products"])
async def list_products(ctx: Reader) -> list[ProductOut]:
    async with (await ctx.db()).sessions() as session:
        products = await session.scalars(select(Product).order_by(Product.name))
        return [ProductOut(id=p.id, name=p.name, created_at=p.created_at) for p in products]


@router.post(
    "/projects/{project}/products", response_model=ProductOut, status_code=201, tags=["products"]
)
async def create_product(body: ProductIn, ctx: Editor) -> ProductOut:
    name = body.name.strip()
    if not name:
        raise HTTPException(422, detail="name: a product name cannot be blank")
    async with (await ctx.db()).sessions() as session:
        if await session.scalar(select(Product.id).where(Product.name == name)) is not None:
            raise HTTPException(409, detail=f"product {name!r} already exists")
        product = Product(name=name)
        session.add(product)
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(409, detail=f"product {name!r} already exists") from None
        return ProductOut(id=product.id, name=product.name, created_at=product.created_at)


# --- synonym groups ---------------------------------------------------------------------


class SynonymGroupOut(BaseModel):
    id: int
    name: str
    words: list[str]


class SynonymGroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    words: list[str] = Field(min_length=1, max_length=500)


@router.get(
    "/projects/{project}/synonym-groups", response_model=list[SynonymGroupOut], tags=["matching"]
)
async def list_synonym_groups(ctx: Reader) -> list[SynonymGroupOut]:
    async with (await ctx.db()).sessions() as session:
        groups = await session.scalars(select(SynonymGroup).order_by(SynonymGroup.name))
        return [SynonymGroupOut(id=g.id, name=g.name, words=list(g.words)) for g in groups]


def _words(words: list[str]) -> list[str]:
    clean = list(dict.fromkeys(w.strip() for w in words if w.strip()))
    if not clean:
        raise HTTPException(422, detail="words: give at least one non-blank word")
    return clean


@router.post(
    "/projects/{project}/synonym-groups",
    response_model=SynonymGroupOut,
    status_code=201,
    tags=["matching"],
)
async def create_synonym_group(body: SynonymGroupIn, ctx: Editor) -> SynonymGroupOut:
    name = body.name.strip()
    words = _words(body.words)
    async with (await ctx.db()).sessions() as session:
        if await session.scalar(select(SynonymGroup.id).where(SynonymGroup.name == name)):
            raise HTTPException(409, detail=f"synonym group {name!r} already exists")
        group = SynonymGroup(name=name, words=words)
        session.add(group)
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(409, detail=f"synonym group {name!r} already exists") from None
        return SynonymGroupOut(id=group.id, name=group.name, words=group.words)


@router.put(
    "/projects/{project}/synonym-groups/{group_id}",
    response_model=SynonymGroupOut,
    tags=["matching"],
)
async def replace_synonym_group(
    group_id: int, body: SynonymGroupIn, ctx: Editor
) -> SynonymGroupOut:
    words = _words(body.words)
    async with (await ctx.db()).sessions() as session:
        group = await session.get(SynonymGroup, group_id)
        if group is None:
            raise HTTPException(404, detail=f"no synonym group {group_id}")
        group.name, group.words = body.name.strip(), words
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(409, detail=f"synonym group {body.name!r} already exists") from None
        return SynonymGroupOut(id=group.id, name=group.name, words=group.words)
