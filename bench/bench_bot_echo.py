"""Telegram bot intake on the fake Bot API (127.0.0.1 only, never Telegram), end to end.

N ``/start`` updates from ``--users`` users are queued for a bot, then the bot is started
and we time until N answers are recorded by the fake (its flood limits off). Side by side,
in one run:

(a) a bare aiogram ``Dispatcher`` echo bot (answers in the handler);
(b) our engine as the daemon runs it: :class:`connectors.telegram_bot.TelegramBotConnector`
    polling → :class:`engine.project_engine.ProjectEngine` (contact, trigger match, a
    one-message funnel with re-entry "always", history, outbox row — all committed to a
    SQLite project database) → :meth:`engine.outbox.OutboxSender.run_forever` sending the
    answer through the same connector;
(c) for reference, the connector alone with a sink that answers via ``send()`` (no engine,
    no persistence);
(d) intake only: (b) without the sender, timed until every outbox row is committed.

Goal (issue #4): (b) ≥ 70% of (a). Sending at the 30 msg/s limit is ``bench/bench_send.py``.

Run: ``.venv/bin/python bench/bench_bot_echo.py [--updates 2000] [--users 50] [--runs 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.types import Message
from sqlalchemy import func, select

from connectors.base import OutgoingMessage
from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from db.models import OutboxMessage
from db.workspace import Workspace
from engine.clock import SystemClock
from engine.events import ChannelKind, ChannelRef, Event, Start
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, make_project
from tests.fakes import FakeBot, FakeTelegramBotAPI

OPEN = "t_open_bot"
ANSWER = "Привет! Это воронка из одного сообщения."


def _queue_updates(fake: FakeTelegramBotAPI, bot: FakeBot, updates: int, users: int) -> None:
    for i in range(updates):
        fake.user_sends_start(bot, 1_000 + i % users)


async def _wait_sent(fake: FakeTelegramBotAPI, bot: FakeBot, count: int) -> None:
    await fake.wait_for(lambda: len(fake.sent(bot)) >= count, timeout=600, interval=0.002)


async def bench_bare_aiogram(updates: int, users: int) -> float:
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        fake_bot = fake.add_bot(username="bare_echo_bot")
        _queue_updates(fake, fake_bot, updates, users)
        bot = Bot(fake_bot.token, session=AiohttpSession(api=fake.api_server))
        dp = Dispatcher()

        @dp.message()
        async def echo(message: Message) -> None:
            await message.answer(ANSWER)

        started = time.perf_counter()
        task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        await _wait_sent(fake, fake_bot, updates)
        elapsed = time.perf_counter() - started
        await dp.stop_polling()
        await task
        await bot.session.close()
        return updates / elapsed


class EchoSink:
    def __init__(self, connector: TelegramBotConnector) -> None:
        self.connector = connector
        self.failed = 0

    async def submit(self, event: Event) -> None:
        if isinstance(event, Start):
            result = await self.connector.send(
                OutgoingMessage(
                    channel=self.connector.channel,
                    chat_id=event.contact.user_id,
                    text=ANSWER,
                    idempotency_key=f"echo-{event.update_id}",
                )
            )
            self.failed += 0 if result.ok else 1


def _connector(
    fake: FakeTelegramBotAPI, bot: FakeBot, channel: ChannelRef | None = None
) -> TelegramBotConnector:
    if channel is None:
        channel = ChannelRef(
            project="bench", kind=ChannelKind.BOT, channel_id=str(bot.id), name=bot.username
        )
    return TelegramBotConnector(
        TelegramBotConfig(
            token=bot.token,
            username=bot.username,
            channel=channel,
            api_base=fake.base_url,
            poll_timeout=1,
        )
    )


async def bench_connector(updates: int, users: int) -> float:
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        fake_bot = fake.add_bot(username="voronka_echo_bot")
        _queue_updates(fake, fake_bot, updates, users)
        connector = _connector(fake, fake_bot)
        sink = EchoSink(connector)
        started = time.perf_counter()
        await connector.start(sink)
        await _wait_sent(fake, fake_bot, updates)
        elapsed = time.perf_counter() - started
        await connector.stop()
        assert sink.failed == 0, f"{sink.failed} echoes failed"
        return updates / elapsed


def one_message_funnel() -> FunnelDocument:
    return funnel(
        "Эхо",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Ответ": ("message", {"text": ANSWER}),
            "Конец": ("end", {}),
        },
        [("Старт", "next", "Ответ"), ("Ответ", "next", "Конец")],
        reentry="always",
    )


async def bench_engine(updates: int, users: int, directory: Path) -> tuple[float, int]:
    """(updates/s, outbox rows sent) for the connector + ProjectEngine + OutboxSender."""
    async with await Workspace.open(directory / "ws") as workspace:
        project = await make_project(workspace, [one_message_funnel()])
        db = await workspace.open_project_db(project)
        engine = ProjectEngine(
            db, project=project.name, timezone=project.timezone, clock=SystemClock()
        )
        await engine.start()
        channel = next(c for c in engine.channels.values() if c.username == OPEN)
        async with FakeTelegramBotAPI(rate_limits=False) as fake:
            fake_bot = fake.add_bot(username=OPEN)
            _queue_updates(fake, fake_bot, updates, users)
            connector = _connector(fake, fake_bot, channel.ref)
            roomy = BucketSpec(rate=100_000.0, burst=100_000.0)  # the fake's limits are off
            sender = OutboxSender(
                engine,
                {channel.id: connector},
                limiter=RateLimiter(RateLimits(per_channel=roomy, per_private_chat=roomy)),
            )
            started = time.perf_counter()
            sending = asyncio.create_task(sender.run_forever())
            await connector.start(engine)
            await _wait_sent(fake, fake_bot, updates)
            elapsed = time.perf_counter() - started
            await connector.stop()
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            sent = len(fake.sent(fake_bot))
        await db.dispose()
    return updates / elapsed, sent


async def bench_intake_only(updates: int, users: int, directory: Path) -> float:
    """(b) without the sender: updates/s until all answers are committed to the outbox."""
    async with await Workspace.open(directory / "ws") as workspace:
        project = await make_project(workspace, [one_message_funnel()])
        db = await workspace.open_project_db(project)
        engine = ProjectEngine(
            db, project=project.name, timezone=project.timezone, clock=SystemClock()
        )
        await engine.start()
        channel = next(c for c in engine.channels.values() if c.username == OPEN)
        async with FakeTelegramBotAPI(rate_limits=False) as fake:
            fake_bot = fake.add_bot(username=OPEN)
            _queue_updates(fake, fake_bot, updates, users)
            connector = _connector(fake, fake_bot, channel.ref)
            started = time.perf_counter()
            await connector.start(engine)
            while True:
                async with db.sessions() as session:
                    queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
                if (queued or 0) >= updates:
                    break
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            await connector.stop()
        await db.dispose()
    return updates / elapsed


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1, help="repeat the comparison")
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d} /start → one answer, {args.updates} updates from "
        f"{args.users} users, fake Bot API on 127.0.0.1 (flood limits off)"
    )
    for run in range(args.runs):
        bare = await bench_bare_aiogram(args.updates, args.users)
        with tempfile.TemporaryDirectory(prefix="voronka-echo-") as tmp:
            ours, sent = await bench_engine(args.updates, args.users, Path(tmp))
        alone = await bench_connector(args.updates, args.users)
        with tempfile.TemporaryDirectory(prefix="voronka-intake-") as tmp:
            intake = await bench_intake_only(args.updates, args.users, Path(tmp))
        print(f"run {run + 1}:")
        print(f"  (a) bare aiogram Dispatcher echo          : {bare:8.0f} updates/s")
        print(
            f"  (b) connector + ProjectEngine + outbox    : {ours:8.0f} updates/s "
            f"({ours / bare:.0%} of (a); goal >= 70%), {sent} answers"
        )
        print(f"  (c) connector + answering sink, no engine : {alone:8.0f} updates/s")
        print(
            f"  (d) (b) without the sender (intake only)  : {intake:8.0f} updates/s "
            f"({intake / bare:.0%} of (a))"
        )


if __name__ == "__main__":
    asyncio.run(main())
