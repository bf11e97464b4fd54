"""The demo project a new user sees on first start: three bots, a manager account, tags,
products and the three demo funnels (resources/demo/), all published."""

from __future__ import annotations

from db.models import BotRole, Channel, ChannelKind, Tag
from db.workspace import Project, Workspace
from engine.catalog import ensure_products
from engine.funnel_store import create_funnel, publish_funnel
from graph.demo import demo_project_data, load_demo_project

DEMO_PROJECT_NAME = "Демо"
DEMO_BOT_USERNAMES = {"open": "demo_open_bot", "paid": "demo_paid_bot", "free": "demo_free_bot"}
KEY_TAGS = {"написал дату рождения": "📅", "получил анализ": "📊", "купил": "💰"}


async def install_demo_project(
    workspace: Workspace, name: str = DEMO_PROJECT_NAME, *, database_url: str | None = None
) -> Project:
    """Create the demo project with its channels, tags, products and published funnels
    (``database_url``: a PostgreSQL server for its database, as in create_project)."""
    demo = load_demo_project()
    data = demo_project_data()
    project = await workspace.create_project(
        name, database_url=database_url, timezone=demo.time_zone
    )
    database = await workspace.open_project_db(project)
    try:
        async with database.sessions() as session, session.begin():
            for bot in data["bots"]:
                role = BotRole(bot["role"])
                session.add(
                    Channel(
                        kind=ChannelKind.BOT,
                        name=bot["name"],
                        role=role,
                        is_main=role == BotRole.OPEN,
                        username=DEMO_BOT_USERNAMES.get(bot["role"]),
                    )
                )
            for account in data["manager_accounts"]:
                session.add(Channel(kind=ChannelKind.MANAGER_ACCOUNT, name=account, is_main=True))
            for tag in data["tags"]:
                session.add(Tag(name=tag, is_key=tag in KEY_TAGS, manager_label=KEY_TAGS.get(tag)))
            await ensure_products(session, data["products"])
            await session.flush()
            funnels = [await create_funnel(session, doc, by="demo") for doc in demo.funnels]
            # Publish after all funnels exist: goto_funnel references must resolve.
            for funnel in funnels:
                await publish_funnel(session, funnel.id, by="demo")
    finally:
        await database.dispose()
    return project


async def ensure_demo_project(workspace: Workspace) -> Project | None:
    """Install the demo project into an empty workspace; returns it, or None if the
    workspace already has projects."""
    if await workspace.list_projects():
        return None
    return await install_demo_project(workspace)
