"""Telegram bot throughput on the fake Bot API (127.0.0.1 only, never Telegram).

1. Echo, end to end: N text updates queued for the bot, then the bot is started and we time
   until N echoes are recorded by the fake. Compared: a bare aiogram Dispatcher echo bot
   vs. :class:`connectors.telegram_bot.TelegramBotConnector` with a sink that echoes through
   ``send()`` (the full engine plugs in here later). Fake rate limits off.
2. Sending under Telegram's limits: for ``--duration`` seconds, messages to different chats
   paced by ``engine.ratelimit.RateLimiter`` (30 msg/s per bot) against the fake with its
   flood limits ON; reports sustained msg/s and how many 429s the fake answered.

Run: ``.venv/bin/python bench/bench_bot_echo.py [--updates 2000] [--users 50] [--duration 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.types import Message

from connectors.base import OutgoingMessage
from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from engine.events import ChannelKind, ChannelRef, ContactMessage, Event
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from tests.fakes import FakeBot, FakeTelegramBotAPI


def _queue_updates(fake: FakeTelegramBotAPI, bot: FakeBot, updates: int, users: int) -> None:
    for i in range(updates):
        fake.user_sends_text(bot, 1_000 + i % users, f"hello {i}")


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
            await message.answer(message.text or "")

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
        if isinstance(event, ContactMessage):
            result = await self.connector.send(
                OutgoingMessage(
                    channel=self.connector.channel,
                    chat_id=event.contact.user_id,
                    text=event.text,
                    idempotency_key=f"echo-{event.update_id}",
                )
            )
            self.failed += 0 if result.ok else 1


def _connector(fake: FakeTelegramBotAPI, bot: FakeBot) -> TelegramBotConnector:
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


async def bench_paced_sending(duration: float, rate: float) -> tuple[float, int, int, int]:
    """(sustained msg/s, delivered, 429s from the fake, other failures)."""
    async with FakeTelegramBotAPI(rate_limits=True) as fake:
        fake_bot = fake.add_bot(username="voronka_sender_bot")
        connector = _connector(fake, fake_bot)
        limiter = RateLimiter(RateLimits(per_channel=BucketSpec(rate=rate, burst=rate)))
        key = connector.channel.key
        loop = asyncio.get_running_loop()
        delivered = failed = 0
        in_flight: set[asyncio.Task[None]] = set()

        async def send_one(chat_id: int, n: int) -> None:
            nonlocal delivered, failed
            message = OutgoingMessage(
                channel=connector.channel,
                chat_id=chat_id,
                text=f"news #{n}",
                idempotency_key=f"paced-{n}",
            )
            for _attempt in range(3):  # a 429 is honoured, then the same message retried
                result = await connector.send(message)
                if result.ok:
                    delivered += 1
                    return
                failed += 1
                if result.error is None or result.error.retry_after is None:
                    return
                limiter.penalise(key, None, result.error.retry_after, loop.time())
                await asyncio.sleep(result.error.retry_after)

        started = loop.time()
        n = 0
        while loop.time() - started < duration:
            wait = limiter.reserve(key, 10_000 + n, False, loop.time())
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            task = asyncio.create_task(send_one(10_000 + n, n))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
        if in_flight:
            await asyncio.gather(*in_flight)
        elapsed = loop.time() - started
        await connector.stop()
        too_many = sum(1 for r in fake.requests(fake_bot, "sendMessage") if r.status == 429)
        return delivered / elapsed, delivered, too_many, failed - too_many


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # 429 warnings would interleave with figures
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of paced sending")
    parser.add_argument("--rate", type=float, default=30.0, help="limiter's per-bot msg/s")
    args = parser.parse_args()
    print(f"echo, {args.updates} updates from {args.users} users, fake rate limits off")
    bare = await bench_bare_aiogram(args.updates, args.users)
    print(f"  bare aiogram Dispatcher echo : {bare:8.0f} updates/s")
    ours = await bench_connector(args.updates, args.users)
    print(f"  TelegramBotConnector + sink  : {ours:8.0f} updates/s  ({ours / bare:.2f}x bare)")
    print(f"paced sending for {args.duration:.0f} s to distinct chats, fake flood limits on")
    rate, delivered, too_many, other = await bench_paced_sending(args.duration, args.rate)
    print(
        f"  limiter {args.rate:.0f}/s: sustained {rate:.1f} msg/s, delivered {delivered},"
        f" 429 answers from the fake {too_many} (retried after retry_after)"
    )
    if other:
        print(f"  other failures: {other}")


if __name__ == "__main__":
    asyncio.run(main())
