"""A manager registered for Telegram Business only (no Telethon session): the message
nodes on her account are sent by the project bot she connected, on her behalf
(sendMessage with business_connection_id), through the fake Bot API."""

from __future__ import annotations

from sqlalchemy import delete, select

from db.models import Channel, ChannelKind, RunStatus, Secret
from db.workspace import Workspace
from engine.cli.manager_cmd import register_business_account
from tests.daemon.test_manager_accounts_daemon import (  # noqa: F401 (the fixture)
    ANNA,
    LINK,
    MANAGER_ID,
    PAID_FLOW,
    PHRASE,
    PROJECT,
    TOKENS,
    Setup,
    business_message,
    eventually,
    setup,
)


async def business_only(ctx: Setup) -> None:
    """The demo's manager account without its Telethon session, registered by user id."""
    async with await Workspace.open(ctx.directory) as workspace:
        database = await workspace.open_project_db(PROJECT)
        try:
            async with database.sessions() as session, session.begin():
                channel = await session.scalar(
                    select(Channel).where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
                )
                assert channel is not None
                await session.execute(delete(Secret).where(Secret.channel_id == channel.id))
                name = channel.name
        finally:
            await database.dispose()
        code = await register_business_account(
            workspace, PROJECT, name, MANAGER_ID, out=lambda line: None
        )
        assert code == 0


async def test_a_business_only_manager_sends_through_the_connected_bot(
    setup: Setup,  # noqa: F811
) -> None:
    fake, account = setup.fake, setup.account
    await business_only(setup)
    fake.add_user(MANAGER_ID, "Мария")
    daemon = await setup.start()
    manager = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
    assert manager["state"] == "running" and manager["sends_through"] == "telegram_business"

    fake.user_sends_start(TOKENS["open"], ANNA)

    async def greeted() -> bool:
        return len(fake.sent(TOKENS["open"], ANNA)) >= 2

    await eventually(greeted, "the open bot greets Анна")
    fake.push_update(
        TOKENS["open"], fake.add_business_connection(TOKENS["open"], "bc-1", MANAGER_ID)
    )
    fake.push_update(TOKENS["open"], business_message(77, (ANNA, "Анна"), PHRASE))

    async def link_sent() -> bool:
        return any(LINK.search(m.text or "") for m in fake.sent(TOKENS["open"], ANNA))

    await eventually(link_sent, "the personal link goes out on the manager's behalf")
    [link] = [m for m in fake.sent(TOKENS["open"], ANNA) if LINK.search(m.text or "")]
    assert link.params["business_connection_id"] == "bc-1"
    assert link.message["from"]["id"] == MANAGER_ID
    assert link.message["sender_business_bot"]["is_bot"] is True
    assert await setup.runs(ANNA, PAID_FLOW) == [RunStatus.WAITING]
    assert account.sent_messages() == []  # no Telethon session was used
