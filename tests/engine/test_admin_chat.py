"""R9: notifications copied to a Telegram admin chat (:mod:`engine.admin_chat`).

The forwarder runs over the real engine and database with the simulated Telegram and a
virtual clock; each test drives it by explicit ticks at chosen moments. On SQLite and on
PostgreSQL. (Against the fake Bot API through the daemon: tests/daemon.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from connectors.base import Connector, SendErrorKind
from db.models import Channel, Notification, NotificationKind
from db.workspace import Workspace
from engine import admin_chat
from engine.admin_chat import AdminChatForwarder, NotifyChatError
from engine.clock import VirtualClock
from engine.simulation import Harness
from engine.stuck import check_stuck
from tests.engine.conftest import START
from tests.engine.helpers import make_project
from tests.engine.test_stuck import ANNA, OPEN, waiting_robot

ADMIN = -1001234567890


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def h(
    request: pytest.FixtureRequest, workspace: Workspace, clock: VirtualClock
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    project = await make_project(workspace, [waiting_robot()], database_url=url)  # type: ignore[list-item]
    opened = await Harness.open(workspace, project, clock)
    try:
        yield opened
    finally:
        await opened.close()


def bots(h: Harness) -> dict[int, Connector]:
    return {cid: h.world.connector(c.ref.name) for cid, c in h.engine.channels.items() if c.is_bot}


def bot_id(h: Harness, role: str) -> int:
    return next(cid for cid, c in h.engine.channels.items() if c.role == role)


def forwarder(h: Harness, **options: Any) -> AdminChatForwarder:
    return AdminChatForwarder(h.engine, bots(h), **options)


async def set_chat(h: Harness, chat: int | str | None, bot: int | None = None) -> None:
    async with h.engine.transaction() as s:
        await admin_chat.set_notify_chat(s, chat, bot)


async def info(h: Harness) -> dict[str, Any] | None:
    async with h.engine.db.sessions() as s:
        return await admin_chat.notify_chat_info(s)


async def notify(h: Harness, text: str, kind: NotificationKind = NotificationKind.OTHER) -> int:
    async with h.engine.transaction() as s:
        note = Notification(kind=kind, text=text, details={}, created_at=h.clock.now())
        s.add(note)
        await s.flush()
        return note.id


def chat(h: Harness, role: str = "open") -> list[str]:
    """What the bot of ``role`` posted in the admin chat."""
    name = h.engine.channels[bot_id(h, role)].ref.name
    return [e.text for e in h.world.received(name, ADMIN)]


async def test_the_setting_is_checked_and_the_main_bot_posts_by_default(h: Harness) -> None:
    for wrong, field in [
        ("abc", "chat_id"), (0, "chat_id"), (10**15, "chat_id"), (True, "chat_id"),
    ]:  # fmt: skip
        with pytest.raises(NotifyChatError, match=field):
            await set_chat(h, wrong)  # type: ignore[arg-type]
    manager = next(cid for cid, c in h.engine.channels.items() if not c.is_bot)
    for wrong_bot in (manager, 999_999):
        with pytest.raises(NotifyChatError, match="bot_id"):
            await set_chat(h, ADMIN, wrong_bot)
    assert await info(h) is None

    await set_chat(h, f" {ADMIN} ")
    shown = await info(h)
    assert shown is not None
    assert (shown["chat_id"], shown["bot_id"], shown["bot"]) == (ADMIN, None, "open bot")
    assert shown["error"] is None and shown["pending"] == 0

    async with h.engine.transaction() as s:  # R13: the main bot posts
        await s.execute(update(Channel).where(Channel.id == bot_id(h, "paid")).values(is_main=True))
    assert (await info(h) or {})["bot"] == "paid bot"
    await set_chat(h, ADMIN, bot_id(h, "free"))
    assert (await info(h) or {})["bot"] == "free bot"
    await set_chat(h, None)
    assert await info(h) is None


async def test_each_new_notification_goes_to_the_chat_once(h: Harness) -> None:
    await notify(h, "Старое уведомление, до настройки чата")
    await set_chat(h, ADMIN)
    await h.world.contact_starts(OPEN, ANNA)
    await h.settle()
    # Анна's timer stalls: the watchdog raises a stuck-contact notification.
    await check_stuck(h.engine, now=START + timedelta(hours=1, minutes=20))
    await notify(h, "Оплата <b>прошла</b>, а контакт не пришёл", NotificationKind.LOST_RECEIPT)
    assert (await info(h) or {})["pending"] == 2

    f = forwarder(h)
    now = h.clock.now()
    assert await f.tick(now) == 2  # two waiting notifications share one message
    [message] = chat(h)
    assert "Старое" not in message
    stuck, lost = message.split("\n\n")
    assert stuck.startswith("🔔 <b>Застрявший контакт</b> · ")
    assert "«Пауза»" in stuck
    contact_id = await h.contact_id(ANNA.user_id)
    assert stuck.endswith(
        f"👤 Анна Смирнова · @anna_s · Telegram ID {ANNA.user_id} · контакт №{contact_id}"
    )
    assert lost.startswith("🔔 <b>Потерянный чек</b>")
    assert "Оплата &lt;b&gt;прошла&lt;/b&gt;" in lost  # staff text is never markup
    async with h.engine.db.sessions() as s:
        unforwarded = await s.scalar(
            select(func.count()).where(Notification.forwarded_at.is_(None))
        )
    assert unforwarded == 1  # the old one only
    assert f.health()["state"] == "ok" and f.health()["forwarded"] == 2

    assert await f.tick(now + timedelta(seconds=10)) == 0 and len(chat(h)) == 1
    third = await notify(h, "Контакт просит менеджера", NotificationKind.ADMIN_MESSAGE)
    assert await f.tick(now + timedelta(seconds=1)) == 0  # one message per interval at most
    assert await f.tick(now + timedelta(seconds=12)) == 1
    assert f"№{third}" in chat(h)[-1] and len(chat(h)) == 2

    # A restart (a new forwarder over the same database) repeats nothing.
    again = forwarder(h)
    assert await again.tick(now + timedelta(minutes=1)) == 0
    assert len(chat(h)) == 2 and h.world.duplicate_sends == []
    assert (await info(h) or {})["pending"] == 0


async def test_a_backlog_goes_in_a_few_paced_messages(h: Harness) -> None:
    await set_chat(h, ADMIN)
    for i in range(25):
        await notify(h, f"Ошибка отправки {i}", NotificationKind.SEND_ERROR)
    f = forwarder(h, interval=3.0, batch=10)
    now = h.clock.now()
    sent = [await f.tick(now + timedelta(seconds=s)) for s in (0, 1, 3, 4, 6, 9)]
    assert sent == [10, 0, 10, 0, 5, 0]
    assert len(chat(h)) == 3


async def test_a_chat_error_is_kept_and_retried_with_back_off(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await set_chat(h, ADMIN)
    await notify(h, "Контакт не пришёл", NotificationKind.LOST_RECEIPT)
    f = forwarder(h)
    world_bot = h.world.connector(h.engine.channels[bot_id(h, "open")].ref.name)
    h.world.fail_next(
        world_bot.channel,
        SendErrorKind.BAD_REQUEST,
        times=2,
        description="Bad Request: chat not found",
    )
    now = h.clock.now()
    with caplog.at_level(logging.WARNING, logger="engine.admin_chat"):
        assert await f.tick(now) == 0
        shown = await info(h) or {}
        assert "chat not found" in shown["error"] and "open bot" in shown["error"]
        assert shown["error_at"] == now.isoformat() and shown["pending"] == 1
        assert f.health()["state"] == "error" and f.health()["retry_at"] is not None

        assert await f.tick(now + timedelta(seconds=20)) == 0  # back-off: not even tried
        assert len(world_bot.faults) == 1
        assert await f.tick(now + timedelta(seconds=31)) == 0  # tried: the same error
        assert len(world_bot.faults) == 0
    warnings = [r for r in caplog.records if "not forwarded" in r.getMessage()]
    assert len(warnings) == 1  # the error is logged once
    shown = await info(h) or {}
    assert shown["error_at"] == now.isoformat()  # since the first failure
    assert datetime.fromisoformat(shown["retry_at"]) == now + timedelta(seconds=31 + 60)

    assert await f.tick(now + timedelta(seconds=31 + 59)) == 0  # the back-off doubled
    assert await f.tick(now + timedelta(seconds=31 + 61)) == 1
    assert len(chat(h)) == 1
    shown = await info(h) or {}
    assert shown["error"] is None and shown["pending"] == 0 and shown["last_sent_at"]
    assert f.health()["state"] == "ok"


async def test_a_changed_setting_is_tried_at_once(h: Harness) -> None:
    await set_chat(h, ADMIN)
    await notify(h, "Контакт не пришёл", NotificationKind.LOST_RECEIPT)
    f = AdminChatForwarder(h.engine, {}, failed={bot_id(h, "open"): "no token stored"})
    now = h.clock.now()
    assert await f.tick(now) == 0
    assert "«open bot» не запущен: no token stored" in ((await info(h)) or {})["error"]

    f.connectors = bots(h)
    assert await f.tick(now + timedelta(seconds=1)) == 0  # still backing off
    await set_chat(h, ADMIN, bot_id(h, "paid"))  # staff pick another bot: tried at once
    assert ((await info(h)) or {})["error"] is None
    assert await f.tick(now + timedelta(seconds=2)) == 1
    assert len(chat(h, "paid")) == 1


async def test_a_bot_run_by_another_process_is_left_to_it(h: Harness) -> None:
    await set_chat(h, ADMIN)
    await notify(h, "Контакт не пришёл", NotificationKind.LOST_RECEIPT)
    f = AdminChatForwarder(h.engine, {}, standby={bot_id(h, "open")})
    assert await f.tick() == 0
    assert f.health()["state"] == "standby" and f.health()["error"] is None
    assert ((await info(h)) or {})["error"] is None and chat(h) == []


async def test_nothing_is_sent_without_a_chat(h: Harness) -> None:
    await notify(h, "Контакт не пришёл", NotificationKind.LOST_RECEIPT)
    f = forwarder(h)
    assert await f.tick() == 0 and f.health()["state"] == "off"
    await set_chat(h, ADMIN)
    await f.stop()
    assert await f.tick() == 0  # stopped: nothing more
    assert chat(h) == []


async def test_a_bot_that_runs_again_clears_its_error(h: Harness) -> None:
    await set_chat(h, ADMIN)
    f = AdminChatForwarder(h.engine, {}, failed={bot_id(h, "open"): "no token stored"})
    now = h.clock.now()
    assert await f.tick(now) == 0
    assert "не запущен" in ((await info(h)) or {})["error"]  # told even with nothing to send
    f.connectors = bots(h)  # staff stored the token; the daemon started the bot
    assert await f.tick(now + timedelta(seconds=31)) == 0
    shown = await info(h) or {}
    assert shown["error"] is None and shown["error_at"] is None
    assert f.health()["state"] == "idle" and f.health()["error"] is None
