"""Channel changes made elsewhere reach a running daemon.

Another engine process on the same PostgreSQL, or the desktop on the same SQLite workspace,
may disable, change or re-enable a bot; this daemon's API never heard of it. The daemon
looks every ``channels_poll`` seconds (ticked explicitly here): a disabled bot's connector
stops, a re-enabled one starts again, and nothing changes when nothing changed. Real
aiogram against the fake Bot API; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import select, update

from db.models import Channel
from db.models.channels import BotRole
from db.workspace import Workspace
from tests.daemon.test_admin_chat_daemon import TOKENS, Setup, setup  # noqa: F401 (fixture)


async def _set_paid_enabled(ctx: Setup, enabled: bool) -> int:
    """Flip the paid bot as another process would: straight in the project database."""
    async with await Workspace.open(ctx.directory) as workspace:
        database = await workspace.open_project_db(ctx.project)
        try:
            async with database.sessions() as session, session.begin():
                paid = await session.scalar(select(Channel.id).where(Channel.role == BotRole.PAID))
                assert paid is not None
                await session.execute(
                    update(Channel).where(Channel.id == paid).values(enabled=enabled)
                )
        finally:
            await database.dispose()
    return paid


async def test_a_bot_disabled_elsewhere_stops_and_comes_back(setup: Setup) -> None:  # noqa: F811
    daemon = await setup.start()
    runtime = setup.runtime
    assert not await daemon.check_channels(runtime)  # nothing changed
    paid = await _set_paid_enabled(setup, False)
    assert paid in runtime.connectors
    assert await daemon.check_channels(runtime)
    assert paid not in runtime.connectors and paid not in runtime.standby
    assert not await daemon.check_channels(runtime)

    await _set_paid_enabled(setup, True)
    assert await daemon.check_channels(runtime)
    assert paid in runtime.connectors or paid in runtime.standby
    user = setup.fake.add_user(5002, "Борис")
    setup.fake.user_sends_start(TOKENS["paid"], user)  # the restarted bot takes updates again
    await setup.fake.wait_for(lambda: not setup.fake.pending_updates(TOKENS["paid"]), timeout=20)
