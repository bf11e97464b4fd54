"""Telegram bot intake on the fake Bot API (127.0.0.1 only, never Telegram), end to end.

N ``/start`` updates from ``--users`` users are queued for a bot, then the bot is started
and we time until N answers are recorded by the fake (its flood limits off). Side by side,
in one run:

(a) a bare aiogram ``Dispatcher`` echo bot (answers in the handler);
(b) our engine as the daemon runs it: :class:`connectors.telegram_bot.TelegramBotConnector`
    polling → :class:`engine.project_engine.ProjectEngine` (contact, trigger match, a
    one-message funnel with re-entry "always", history, outbox row — all committed to the
    project database, a SQLite file unless ``--postgres``) →
    :meth:`engine.outbox.OutboxSender.run_forever` sending the answer through the same
    connector;
(c) for reference, the connector alone with a sink that answers via ``send()`` (no engine,
    no persistence);
(d) intake only: (b) without the sender, timed until every outbox row is committed.

Goal (issue #4): (b) ≥ 70% of (a). Sending at the 30 msg/s limit is ``bench/bench_send.py``.

"CPU ms/update" is this process's CPU time per update (``time.process_time``); the fake Bot
API runs in the same process, so it includes the fake's share (the same in every case).

Run: ``.venv/bin/python bench/bench_bot_echo.py [--updates 2000] [--users 50] [--runs 1]``
(``--only b`` runs one case; ``--profile FILE`` writes a cProfile of (b) to ``FILE``;
``--postgres URL`` puts the project database of (b) and (d) on a PostgreSQL server).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


@dataclass
class Figure:
    """Updates per second and CPU milliseconds per update over the timed window."""

    rate: float
    cpu_ms: float


class Timer:
    """Wall and CPU time from construction to :meth:`stop`."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self, updates: int) -> Figure:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        return Figure(updates / wall, 1000 * cpu / updates)


def _queue_updates(fake: FakeTelegramBotAPI, bot: FakeBot, updates: int, users: int) -> None:
    for i in range(updates):
        fake.user_sends_start(bot, 1_000 + i % users)


async def _wait_sent(fake: FakeTelegramBotAPI, bot: FakeBot, count: int) -> None:
    await fake.wait_for(lambda: fake.sent_count(bot) >= count, timeout=600, interval=0.002)


async def bench_bare_aiogram(updates: int, users: int) -> Figure:
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        fake_bot = fake.add_bot(username="bare_echo_bot")
        _queue_updates(fake, fake_bot, updates, users)
        bot = Bot(fake_bot.token, session=AiohttpSession(api=fake.api_server))
        dp = Dispatcher()

        @dp.message()
        async def echo(message: Message) -> None:
            await message.answer(ANSWER)

        timer = Timer()
        task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        await _wait_sent(fake, fake_bot, updates)
        figure = timer.stop(updates)
        await dp.stop_polling()
        await task
        await bot.session.close()
        return figure


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


async def bench_connector(updates: int, users: int) -> Figure:
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        fake_bot = fake.add_bot(username="voronka_echo_bot")
        _queue_updates(fake, fake_bot, updates, users)
        connector = _connector(fake, fake_bot)
        sink = EchoSink(connector)
        timer = Timer()
        await connector.start(sink)
        await _wait_sent(fake, fake_bot, updates)
        figure = timer.stop(updates)
        await connector.stop()
        assert sink.failed == 0, f"{sink.failed} echoes failed"
        return figure


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


async def bench_engine(
    updates: int, users: int, directory: Path, database_url: str | None = None
) -> tuple[Figure, int]:
    """(updates/s, outbox rows sent) for the connector + ProjectEngine + OutboxSender."""
    async with await Workspace.open(directory / "ws") as workspace:
        project = await make_project(workspace, [one_message_funnel()], database_url=database_url)
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
            timer = Timer()
            sending = asyncio.create_task(sender.run_forever())
            await connector.start(engine)
            await _wait_sent(fake, fake_bot, updates)
            figure = timer.stop(updates)
            await connector.stop()
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            sent = len(fake.sent(fake_bot))
        await db.dispose()
        if database_url is not None:
            await workspace.delete_project(project.name)  # drops its database
    return figure, sent


async def bench_intake_only(
    updates: int, users: int, directory: Path, database_url: str | None = None
) -> Figure:
    """(b) without the sender: updates/s until all answers are committed to the outbox."""
    async with await Workspace.open(directory / "ws") as workspace:
        project = await make_project(workspace, [one_message_funnel()], database_url=database_url)
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
            timer = Timer()
            await connector.start(engine)
            while True:
                async with db.sessions() as session:
                    queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
                if (queued or 0) >= updates:
                    break
                await asyncio.sleep(0.01)
            figure = timer.stop(updates)
            await connector.stop()
        await db.dispose()
        if database_url is not None:
            await workspace.delete_project(project.name)  # drops its database
    return figure


async def _profiled(path: str | None, run: Callable[[], Awaitable[Any]]) -> Any:
    if path is None:
        return await run()
    profile = cProfile.Profile()
    profile.enable()
    try:
        return await run()
    finally:
        profile.disable()
        profile.dump_stats(path)


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1, help="repeat the comparison")
    parser.add_argument("--only", default="abcd", help="cases to run, e.g. 'bd'")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of (b) here")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="project database on this PostgreSQL server (b, d), e.g. "
        "postgresql://postgres@127.0.0.1:5432/postgres; default: a SQLite file",
    )
    args = parser.parse_args()
    n, users = args.updates, args.users
    print(
        f"{datetime.now(UTC):%Y-%m-%d} /start → one answer, {n} updates from "
        f"{users} users, fake Bot API on 127.0.0.1 (flood limits off), "
        f"{'PostgreSQL' if args.postgres else 'SQLite'} project database; "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    async def engine_case() -> Figure:
        with tempfile.TemporaryDirectory(prefix="voronka-echo-") as tmp:
            figure, sent = await bench_engine(n, users, Path(tmp), args.postgres)
        assert sent >= n, f"only {sent} answers"
        return figure

    async def intake_case() -> Figure:
        with tempfile.TemporaryDirectory(prefix="voronka-intake-") as tmp:
            return await bench_intake_only(n, users, Path(tmp), args.postgres)

    cases: dict[str, tuple[str, Callable[[], Awaitable[Figure]]]] = {
        "a": ("bare aiogram Dispatcher echo         ", lambda: bench_bare_aiogram(n, users)),
        "b": ("connector + ProjectEngine + outbox   ", engine_case),
        "c": ("connector + answering sink, no engine", lambda: bench_connector(n, users)),
        "d": ("(b) without the sender (intake only) ", intake_case),
    }
    for run in range(args.runs):
        figures: dict[str, Figure] = {}
        for key in args.only:
            case = cases[key][1]
            profile = args.profile if key == "b" else None
            figures[key] = await _profiled(profile, case)
        print(f"run {run + 1} (load average {os.getloadavg()[0]:.2f}):")
        for key, figure in figures.items():
            share = f" ({figure.rate / figures['a'].rate:4.0%} of (a))" if "a" in figures else ""
            print(
                f"  ({key}) {cases[key][0]}: {figure.rate:6.0f} updates/s{share}, "
                f"{figure.cpu_ms:5.2f} CPU ms/update"
            )


if __name__ == "__main__":
    asyncio.run(main())
