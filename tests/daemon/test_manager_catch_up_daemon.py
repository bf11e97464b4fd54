"""Catch-up age limit in the daemon: a code phrase typed more than 24 h before the engine
came back does not start the paid flow; it is recorded in the contact's history and the
admins get a notification, once even if the catch-up replays it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from db.models import Contact, HistoryEvent, Notification
from engine.clock import SystemClock
from engine.daemon import DaemonSettings, EngineDaemon
from engine.service import WorkspaceService
from tests.daemon.test_manager_accounts_daemon import (  # noqa: F401 (the fixture)
    ANNA,
    PAID_FLOW,
    PHRASE,
    PROJECT,
    Setup,
    eventually,
    setup,
    setup_state,
)


class LaterClock(SystemClock):
    """The real clock, ``offset`` ahead: the engine comes back long after the phrase."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


async def start(ctx: Setup, offset: timedelta = timedelta()) -> EngineDaemon:
    ctx.service = await WorkspaceService.open(str(ctx.directory))
    ctx.daemon = EngineDaemon(
        ctx.service,
        settings=DaemonSettings(bot_api_base=ctx.fake.base_url, cluster_poll=0.2),
        clock=LaterClock(offset),
        client_factory=ctx.account.client_factory(),
    )
    await ctx.daemon.start()
    return ctx.daemon


async def test_a_phrase_from_before_a_long_downtime_is_reported_not_fired(
    setup: Setup,  # noqa: F811
) -> None:
    account = setup.account
    await start(setup)
    account.manager_writes_elsewhere(ANNA, "Здравствуйте, Анна!")

    async def contact_known() -> bool:
        found = await setup.scalar(select(Contact.id).where(Contact.telegram_user_id == ANNA))
        return found is not None

    await eventually(contact_known, "the manager's first message reaches the engine")
    await setup.stop()
    before_phrase = await setup_state(setup)

    account.manager_writes_elsewhere(ANNA, PHRASE)  # the engine is down for 30 hours
    await start(setup, timedelta(hours=30))

    async def notified() -> bool:
        return bool(await setup.scalar(select(func.count(Notification.id))))

    await eventually(notified, "the admins are told about the skipped phrase")
    [note] = await _notifications(setup)
    assert f"Фраза «{PHRASE}»" in note.text
    assert "пропущена: отправлена 30 ч назад, пока движок был остановлен" in note.text
    assert PAID_FLOW in note.text and note.details["stale_manager_phrase"] is True
    skipped = await setup.scalar(
        select(HistoryEvent).where(HistoryEvent.kind == "manager.message.skipped")
    )
    assert skipped is not None and skipped.details["text"] == PHRASE
    await asyncio.sleep(0.3)
    assert await setup.runs(ANNA, PAID_FLOW) == []
    assert setup.links_to(ANNA) == []
    await setup.stop()

    # a replay of the same message (stored state behind) is not reported twice
    await setup_state(setup, before_phrase)
    daemon = await start(setup, timedelta(hours=30))

    async def replayed() -> bool:
        health = daemon.health()["projects"][PROJECT]["channels"]["Менеджер"]
        return health["update_pts"] == account.pts

    await eventually(replayed, "the catch-up replays the phrase")
    await asyncio.sleep(0.3)
    assert len(await _notifications(setup)) == 1
    assert await setup.runs(ANNA, PAID_FLOW) == []


async def _notifications(ctx: Setup) -> list[Notification]:
    async with ctx.runtime.database.sessions() as session:
        return list((await session.scalars(select(Notification))).all())
