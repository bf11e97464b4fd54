"""Sending at Telegram's per-bot limit through the engine's outbox (issue #4).

A broadcast to more contacts than ``--duration`` seconds can carry at 30 msg/s is queued in a
SQLite project (the real :mod:`engine.broadcasts` code), then the daemon's sender loop
(:meth:`engine.outbox.OutboxSender.run_forever` with its default limiter) delivers it
through the real aiogram connector (:class:`connectors.telegram_bot.TelegramBotConnector`)
to the fake Bot API on 127.0.0.1, whose documented flood limits are ON (30 msg/s per bot,
burst 30; 1 msg/s per chat): any send over the limit is answered with a 429.

Reports the sustained rate (messages the fake accepted per second, after the first second's
burst and over the whole run), how many 429s the fake answered, and the process's CPU time
per message delivered after the first second (the fake runs in the same process, so its
share is included).

Run: ``.venv/bin/python bench/bench_send.py [--duration 60]``
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

from sqlalchemy import insert, select

from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from db.models import Contact, ContactChannel
from db.workspace import Workspace
from engine import broadcasts as bc
from engine.clock import SystemClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from tests.engine.helpers import make_project
from tests.fakes import FakeTelegramBotAPI

OPEN = "t_open_bot"
TOKEN = "555555555:AASendBenchTokenForTestsOnly_abcdefg"
FIRST_USER = 20_000_000


async def queue_broadcast(engine: ProjectEngine, channel_id: int, audience: int) -> None:
    now = engine.clock.now()
    async with engine.transaction() as s:
        await s.execute(
            insert(Contact),
            [{"telegram_user_id": FIRST_USER + i, "first_name": f"U{i}"} for i in range(audience)],
        )
        ids = (
            await s.scalars(select(Contact.id).where(Contact.telegram_user_id >= FIRST_USER))
        ).all()
        await s.execute(
            insert(ContactChannel),
            [
                {
                    "contact_id": i,
                    "channel_id": channel_id,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "status_changed_at": now,
                }
                for i in ids
            ],
        )
        b = await bc.create_broadcast(
            s, text="Новости недели", segment=bc.Segment(channel_id), created_by="bench", now=now
        )
        await bc.start_broadcast(s, b.id, project=engine.project, now=now)


async def bench(duration: float, directory: Path) -> None:
    audience = int(duration * 30 * 1.2) + 100
    async with await Workspace.open(directory / "ws") as workspace:
        project = await make_project(workspace, [])
        db = await workspace.open_project_db(project)
        engine = ProjectEngine(
            db, project=project.name, timezone=project.timezone, clock=SystemClock()
        )
        await engine.start()
        channel = next(c for c in engine.channels.values() if c.username == OPEN)
        t0 = time.perf_counter()
        await queue_broadcast(engine, channel.id, audience)
        print(f"queued a broadcast of {audience:,} rows in {time.perf_counter() - t0:.1f} s")

        async with FakeTelegramBotAPI(rate_limits=True) as fake:
            bot = fake.add_bot(TOKEN, username=OPEN)
            for i in range(audience):
                fake.add_user(FIRST_USER + i, f"U{i}")
            connector = TelegramBotConnector(
                TelegramBotConfig(
                    token=TOKEN, username=OPEN, channel=channel.ref, api_base=fake.base_url
                )
            )
            sender = OutboxSender(engine, {channel.id: connector})  # default limits
            started = time.monotonic()
            task = asyncio.create_task(sender.run_forever())
            warm = min(1.0, duration / 2)  # first sends build aiogram's models: not counted
            await asyncio.sleep(warm)
            cpu, sent_before = time.process_time(), len(fake.sent(bot))
            await asyncio.sleep(duration - warm)
            cpu, sent_since = time.process_time() - cpu, len(fake.sent(bot)) - sent_before
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            elapsed = time.monotonic() - started
            await connector.stop()

            requests = fake.requests(bot, "sendMessage")
            ok = [r.at for r in requests if r.status == 200]
            too_many = sum(1 for r in requests if r.status == 429)
            other = sum(1 for r in requests if r.status not in (200, 429))
            t_first = min(ok) if ok else 0.0
            steady = [t for t in ok if t >= t_first + 1.0]
            span = (max(steady) - min(steady)) if len(steady) > 1 else 0.0
            print(
                f"{datetime.now(UTC):%Y-%m-%d} sending for {elapsed:.1f} s through "
                f"OutboxSender.run_forever + TelegramBotConnector, fake flood limits on"
            )
            print(f"  delivered {len(ok):,} ({len(ok) / elapsed:.2f} msg/s over the run)")
            if span:
                print(f"  sustained after the first second: {(len(steady) - 1) / span:.2f} msg/s")
            print(f"  429 answers from the fake: {too_many}; other errors: {other}")
            print(f"  rows still in flight when stopped: {sender.in_flight}")
            if sent_since:
                print(
                    f"  CPU after the first {warm:.0f} s: "
                    f"{1000 * cpu / sent_since:.2f} ms per delivered message"
                )
        await db.dispose()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending")
    parser.add_argument("--dir", type=Path, default=None, help="workspace parent (temp dir)")
    args = parser.parse_args()
    if args.dir is not None:
        asyncio.run(bench(args.duration, args.dir))
        return
    with tempfile.TemporaryDirectory(prefix="voronka-send-") as tmp:
        asyncio.run(bench(args.duration, Path(tmp)))


if __name__ == "__main__":
    main()
