"""R15 in the daemon: a tag added by a funnel shows as its label in the contact's name in
the manager's Telegram contact list (contacts.addContact on the fake MTProto wire).

The manager types the code phrase to Анна → the personal link goes out from her account →
Анна opens it in the paid bot → the paid bot's funnel adds «купил» (label 💰) → the daemon
renames Анна to «Анна 💰» in the manager's contacts. A restart neither redoes nor loses
it; a project with labels off writes nothing.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from telethon import functions

from db.models import Channel, ChannelKind
from db.workspace import Workspace
from engine.cli.manager_cmd import set_manager_labels
from engine.daemon import DaemonSettings, EngineDaemon
from engine.service import WorkspaceService
from tests.daemon.test_manager_accounts_daemon import (  # noqa: F401 (the fixture)
    ANNA,
    LINK,
    PHRASE,
    PROJECT,
    TOKENS,
    Setup,
    eventually,
    setup,
)


def renames(ctx: Setup) -> list[functions.contacts.AddContactRequest]:
    return ctx.account.requests_of(functions.contacts.AddContactRequest)


async def anna_buys(ctx: Setup) -> None:
    """The phrase from the manager's account, the link opened in the paid bot."""
    ctx.account.manager_writes_elsewhere(ANNA, PHRASE)

    async def link_sent() -> bool:
        return len(ctx.links_to(ANNA)) == 1

    await eventually(link_sent, "the personal link goes out from the manager account")
    match = LINK.search(ctx.links_to(ANNA)[0])
    assert match is not None
    ctx.fake.user_sends_start(TOKENS["paid"], ANNA, match.group(1))


async def labels(ctx: Setup, enabled: bool) -> None:
    async with await Workspace.open(ctx.directory) as workspace:
        assert await set_manager_labels(workspace, PROJECT, enabled, out=lambda line: None) == 0


async def test_a_tag_added_by_a_funnel_shows_in_the_managers_contact_name(
    setup: Setup,  # noqa: F811
) -> None:
    await labels(setup, True)
    daemon = await start(setup)
    await anna_buys(setup)

    async def renamed() -> bool:
        return any(r.first_name == "Анна 💰" for r in renames(setup))

    await eventually(renamed, "Анна is renamed with the label of «купил»")
    [request] = renames(setup)
    assert getattr(request.id, "user_id", None) == ANNA
    manager = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
    assert manager["labels"]["enabled"] and manager["labels"]["written"] == 1
    assert manager["labels"]["last_error"] is None

    async def mark_saved() -> bool:
        mark = await setup.scalar(
            select(Channel.labels_history_id).where(Channel.kind == ChannelKind.MANAGER_ACCOUNT)
        )
        return bool(mark)

    await eventually(mark_saved, "the high-water mark is stored")
    await setup.stop()

    daemon = await start(setup)  # a restart does not redo it
    await asyncio.sleep(0.5)
    assert len(renames(setup)) == 1
    assert daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]["labels"]["written"] == 0


async def test_labels_turned_on_while_the_daemon_is_down_are_written_after_the_restart(
    setup: Setup,  # noqa: F811
) -> None:
    await start(setup)
    await anna_buys(setup)  # labels off: the tag is added, nothing is written

    async def paid_bot_answered() -> bool:
        return len(setup.fake.sent(TOKENS["paid"], ANNA)) >= 1

    await eventually(paid_bot_answered, "the paid bot's funnel runs (and adds the tag)")
    await asyncio.sleep(0.3)
    await setup.stop()
    assert renames(setup) == []

    await labels(setup, True)
    await start(setup)

    async def renamed() -> bool:
        return any(r.first_name == "Анна 💰" for r in renames(setup))

    await eventually(renamed, "the tag added before is shown once labels are on")
    await asyncio.sleep(0.3)
    assert len(renames(setup)) == 1


async def test_labels_off_write_nothing(setup: Setup) -> None:  # noqa: F811
    daemon = await start(setup)
    await anna_buys(setup)

    async def paid_bot_answered() -> bool:
        return len(setup.fake.sent(TOKENS["paid"], ANNA)) >= 1

    await eventually(paid_bot_answered, "the paid bot's funnel runs (and adds the tag)")
    await asyncio.sleep(0.5)
    assert renames(setup) == []
    labels_health = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]["labels"]
    assert labels_health["enabled"] is False and labels_health["written"] == 0


async def start(ctx: Setup) -> EngineDaemon:
    """The daemon with a fast label poll."""
    ctx.service = await WorkspaceService.open(str(ctx.directory))
    ctx.daemon = EngineDaemon(
        ctx.service,
        settings=DaemonSettings(bot_api_base=ctx.fake.base_url, cluster_poll=0.2, labels_poll=0.05),
        client_factory=ctx.account.client_factory(),
    )
    await ctx.daemon.start()
    return ctx.daemon
