"""Building small funnels and projects for the engine tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from db.models import Channel, ChannelKind, Funnel, FunnelVersion
from db.models.channels import BotRole
from db.workspace import Project, Workspace
from engine.project_engine import ProjectEngine
from graph.demo import load_demo_funnels
from graph.document import FunnelDocument
from graph.loading import dump_funnel, load_funnel

NS = uuid.UUID("00000000-0000-0000-0000-00000000f00d")


def nid(funnel: str, title: str) -> str:
    return str(uuid.uuid5(NS, f"{funnel}/{title}"))


def funnel(
    name: str,
    nodes: dict[str, tuple[str, dict[str, Any]]],
    edges: list[tuple[str, str, str]],
    **settings: Any,
) -> FunnelDocument:
    """``nodes``: title -> (type, props); ``edges``: (source title, port, target title)."""
    return load_funnel(
        {
            "schema_version": 1,
            "id": str(uuid.uuid5(NS, name)),
            "name": name,
            "settings": settings,
            "nodes": [
                {"id": nid(name, t), "type": ty, "title": t, "props": props}
                for t, (ty, props) in nodes.items()
            ],
            "edges": [
                {"source": nid(name, s), "source_port": p, "target": nid(name, d)}
                for s, p, d in edges
            ],
        }
    )


async def make_project(
    workspace: Workspace,
    docs: list[FunnelDocument] | None = None,
    *,
    database_url: str | None = None,
    name: str | None = None,
) -> Project:
    """A project with bots open/paid/free, the manager account "Менеджер" and ``docs``
    published (the demo funnels when None)."""
    project = await workspace.create_project(
        name or f"T {uuid.uuid4().hex[:8]}", database_url=database_url
    )
    db = await workspace.open_project_db(project)
    try:
        async with db.sessions() as session, session.begin():
            for role in ("open", "paid", "free"):
                session.add(
                    Channel(
                        kind=ChannelKind.BOT,
                        name=f"{role} bot",
                        role=BotRole(role),
                        username=f"t_{role}_bot",
                        group_name=role,
                    )
                )
            session.add(Channel(kind=ChannelKind.MANAGER_ACCOUNT, name="Менеджер"))
            for doc in load_demo_funnels() if docs is None else docs:
                text = dump_funnel(doc)
                f = Funnel(name=doc.name, draft_json=text)
                session.add(f)
                await session.flush()
                session.add(FunnelVersion(funnel_id=f.id, version=1, document_json=text))
    finally:
        await db.dispose()
    return project


@contextlib.asynccontextmanager
async def running_engine(
    workspace: Workspace, docs: list[FunnelDocument], *, database_url: str | None = None
) -> AsyncIterator[ProjectEngine]:
    """A started :class:`ProjectEngine` on a new project with ``docs`` published."""
    project = await make_project(workspace, docs, database_url=database_url)
    db = await workspace.open_project_db(project)
    engine = ProjectEngine(db, project=project.name, timezone=project.timezone)
    await engine.start()
    try:
        yield engine
    finally:
        await db.dispose()


async def broadcast_draft(
    engine: ProjectEngine, bot_username: str, first_user: int, audience: int, now: Any
) -> Any:
    """``audience`` new contacts subscribed to the bot (Telegram ids from ``first_user``)
    and a broadcast to the bot's subscribers, created but not started (one transaction)."""
    from sqlalchemy import insert, select

    from db.models import Contact, ContactChannel
    from engine import broadcasts as bc

    bot = next(c.id for c in engine.channels.values() if c.username == bot_username)
    async with engine.transaction() as s:
        await s.execute(
            insert(Contact),
            [{"telegram_user_id": first_user + i, "first_name": f"U{i}"} for i in range(audience)],
        )
        ids = (
            await s.scalars(select(Contact.id).where(Contact.telegram_user_id >= first_user))
        ).all()
        await s.execute(
            insert(ContactChannel),
            [
                {
                    "contact_id": i,
                    "channel_id": bot,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "status_changed_at": now,
                }
                for i in ids
            ],
        )
        return await bc.create_broadcast(
            s, text="Скидка", segment=bc.Segment(bot), created_by="staff:test", now=now
        )
