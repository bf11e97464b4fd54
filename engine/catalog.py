"""What a project's funnels may refer to, read from its database, and creating missing names."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Channel, ChannelKind, Funnel, Product, Tag
from graph.project_catalog import ProjectCatalog


async def project_catalog(session: AsyncSession) -> ProjectCatalog:
    """Bots (role, name), tags, products, funnels and manager accounts of the project."""
    channels = (await session.scalars(select(Channel).where(Channel.enabled))).all()
    return ProjectCatalog(
        bots=[(str(c.role), c.name) for c in channels if c.kind == ChannelKind.BOT and c.role],
        manager_accounts={c.name for c in channels if c.kind == ChannelKind.MANAGER_ACCOUNT},
        tags=set((await session.scalars(select(Tag.name))).all()),
        products=set((await session.scalars(select(Product.name))).all()),
        funnels=set((await session.scalars(select(Funnel.name))).all()),
    )


async def ensure_tags(session: AsyncSession, names: Iterable[str]) -> list[Tag]:
    """The tags with these names, created when missing (copying a funnel, R14)."""
    wanted = sorted({n.strip() for n in names if n.strip()})
    existing = {
        t.name: t for t in (await session.scalars(select(Tag).where(Tag.name.in_(wanted)))).all()
    }
    for name in wanted:
        if name not in existing:
            existing[name] = Tag(name=name)
            session.add(existing[name])
    await session.flush()
    return [existing[n] for n in wanted]


async def ensure_products(session: AsyncSession, names: Iterable[str]) -> list[Product]:
    """The products with these names, created when missing."""
    wanted = sorted({n.strip() for n in names if n.strip()})
    existing = {
        p.name: p
        for p in (await session.scalars(select(Product).where(Product.name.in_(wanted)))).all()
    }
    for name in wanted:
        if name not in existing:
            existing[name] = Product(name=name)
            session.add(existing[name])
    await session.flush()
    return [existing[n] for n in wanted]
