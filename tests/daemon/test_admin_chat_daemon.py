"""R9 in the daemon: notifications reach the Telegram admin chat through the project's
main bot — real aiogram against the fake Bot API on 127.0.0.1 — exactly once, also across
a restart; a chat the bot cannot post to never stops the engine and is retried later.

A contact starts the demo open bot and never answers; the watchdog, looking a day later
(its ``now`` given explicitly, the reply timeout not fired), raises a stuck-contact
notification, and the forwarder copies it. Both tasks are ticked explicitly; their loops
in the daemon poll rarely here. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Channel, Notification, NotificationKind, Secret, SecretPurpose
from db.workspace import Workspace
from engine.cli.notify_cmd import set_notify_chat, show_notify_chat
from engine.daemon import DaemonSettings, EngineDaemon
from engine.demo_setup import DEMO_BOT_USERNAMES, install_demo_project
from engine.service import WorkspaceService
from engine.stuck import check_stuck
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI, Fault

TOKENS = {
    "open": "111111111:AAOpenBotTokenForTestsOnly_abcdefgh",
    "paid": "222222222:AAPaidBotTokenForTestsOnly_abcdefgh",
}
ADMIN = -1009876543210


@dataclass
class Setup:
    directory: Path
    fake: FakeTelegramBotAPI
    project: str
    daemon: EngineDaemon | None = None
    service: WorkspaceService | None = None

    async def start(self) -> EngineDaemon:
        self.service = await WorkspaceService.open(str(self.directory))
        self.daemon = EngineDaemon(
            self.service,
            settings=DaemonSettings(
                bot_api_base=self.fake.base_url,
                cluster_poll=0.2,
                notify_poll=3600.0,  # the tests tick the forwarder themselves
                stuck_every=3600.0,
            ),
        )
        await self.daemon.start()
        return self.daemon

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
        if self.service is not None:
            await self.service.close()
        self.daemon = self.service = None

    @property
    def runtime(self) -> Any:
        assert self.daemon is not None
        return self.daemon.projects[self.project]

    def in_admin_chat(self) -> list[str]:
        return [m.text or "" for m in self.fake.sent(TOKENS["open"], ADMIN)]

    def admin_chat_calls(self) -> int:
        return sum(
            1
            for r in self.fake.requests(TOKENS["open"], "sendMessage")
            if str(r.params.get("chat_id")) == str(ADMIN)
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def setup(
    request: pytest.FixtureRequest, fake_telegram: FakeTelegramBotAPI, tmp_path: Path
) -> AsyncIterator[Setup]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    fake_telegram.rate_limits.enabled = False
    for role, token in TOKENS.items():
        fake_telegram.add_bot(token, username=DEMO_BOT_USERNAMES[role])
    directory = tmp_path / "ws"
    name = f"Демо {uuid.uuid4().hex[:6]}"
    async with await Workspace.open(directory) as workspace:
        project = await install_demo_project(workspace, name, database_url=url)
        box = workspace.secret_box()
        database = await workspace.open_project_db(project)
        async with database.sessions() as session, session.begin():
            for channel in (await session.scalars(select(Channel))).all():
                if channel.role is not None and channel.role.value in TOKENS:
                    session.add(
                        Secret(
                            channel_id=channel.id,
                            purpose=SecretPurpose.BOT_TOKEN,
                            ciphertext=box.encrypt(TOKENS[channel.role.value]),
                        )
                    )
        await database.dispose()
        lines: list[str] = []
        assert await set_notify_chat(workspace, name, str(ADMIN), out=lines.append) == 0
        assert "Открытый бот" in lines[0]  # the main bot posts (R13)
    ctx = Setup(directory, fake_telegram, name)
    try:
        yield ctx
    finally:
        await ctx.stop()
        if url is not None:
            async with await Workspace.open(directory) as workspace:
                await workspace.delete_project(name)


async def test_a_stuck_contact_reaches_the_admin_chat_once_across_a_restart(
    setup: Setup,
) -> None:
    await setup.start()
    anna = setup.fake.add_user(5001, "Анна", username="anna")
    setup.fake.user_sends_start(TOKENS["open"], anna)
    await setup.fake.wait_for_sent(2, TOKENS["open"], anna, timeout=20)

    a_day_later = datetime.now(UTC) + timedelta(days=1, hours=1)
    runtime = setup.runtime
    raised = (await check_stuck(runtime.engine, now=a_day_later)).raised
    assert len(raised) == 1
    await runtime.admin_chat.tick()
    [text] = setup.in_admin_chat()
    assert text.startswith(f"🔔 <b>Застрявший контакт</b> · {setup.project} · №{raised[0]}")
    assert "«Ждём дату»" in text and "Telegram ID 5001" in text and "@anna" in text
    [request] = [
        r
        for r in setup.fake.requests(TOKENS["open"], "sendMessage")
        if str(r.params.get("chat_id")) == str(ADMIN)
    ]
    assert request.params.get("parse_mode") == "HTML" and request.status == 200
    assert setup.daemon is not None
    health = setup.daemon.health()
    assert health["projects"][setup.project]["notify_chat"]["forwarded"] == 1

    await setup.stop()  # a restart: nothing is told or sent again
    await setup.start()
    runtime = setup.runtime
    assert (await check_stuck(runtime.engine, now=a_day_later)).raised == []
    assert await runtime.admin_chat.tick() == 0
    assert setup.admin_chat_calls() == 1 and len(setup.in_admin_chat()) == 1


async def test_a_chat_the_bot_cannot_post_to_does_not_stop_the_engine(setup: Setup) -> None:
    setup.fake.add_fault(
        "sendMessage",
        Fault.forbidden("Forbidden: bot was kicked from the supergroup chat"),
        chat_id=ADMIN,
        times=None,
    )
    daemon = await setup.start()
    runtime = setup.runtime
    async with runtime.engine.transaction() as session:
        session.add(
            Notification(
                kind=NotificationKind.LOST_RECEIPT,
                text="Менеджер отметил оплату, а контакт не пришёл в платного бота",
                details={},
                created_at=datetime.now(UTC),
            )
        )
    now = datetime.now(UTC)
    assert await runtime.admin_chat.tick(now) == 0
    assert setup.admin_chat_calls() == 1 and setup.in_admin_chat() == []
    health = daemon.health()
    assert health["status"] == "ok"  # every loop of the project still runs
    shown = health["projects"][setup.project]["notify_chat"]
    assert shown["state"] == "error" and "kicked" in shown["error"]
    assert setup.service is not None
    workspace = setup.service.workspace
    lines: list[str] = []
    assert await show_notify_chat(workspace, setup.project, out=lines.append) == 1
    assert any("kicked" in line for line in lines)

    # The engine keeps serving contacts meanwhile.
    boris = setup.fake.add_user(5002, "Борис", username="boris")
    setup.fake.user_sends_start(TOKENS["open"], boris)
    await setup.fake.wait_for_sent(2, TOKENS["open"], boris, timeout=20)

    assert await runtime.admin_chat.tick(now + timedelta(seconds=10)) == 0
    assert setup.admin_chat_calls() == 1  # not retried before its back-off
    setup.fake.clear_faults()  # staff add the bot back to the chat
    assert await runtime.admin_chat.tick(now + timedelta(seconds=31)) == 1
    [text] = setup.in_admin_chat()
    assert "Потерянный чек" in text and "не пришёл в платного бота" in text
    assert daemon.health()["projects"][setup.project]["notify_chat"]["error"] is None
    lines.clear()
    assert await show_notify_chat(workspace, setup.project, out=lines.append) == 0
