"""What the outbox sender asks the limiter before reading its queue (engine.ratelimit)."""

from __future__ import annotations

import pytest

from engine.ratelimit import BucketSpec, RateLimiter, RateLimits

BOT = "p:bot:1"


def test_channel_room_counts_whole_slots_and_takes_nothing() -> None:
    limiter = RateLimiter(RateLimits(per_channel=BucketSpec(rate=30, burst=10)))
    assert limiter.channel_room(BOT, 0.0) == (10, 0.0)  # a bot not seen yet: a full bucket
    assert limiter.channel_room(BOT, 0.0) == (10, 0.0)  # asking twice took nothing
    for chat in range(10):
        assert limiter.reserve(BOT, chat, False, 0.0) == 0
    room, wait = limiter.channel_room(BOT, 0.0)
    assert room == 0 and wait == pytest.approx(1 / 30)
    assert limiter.channel_room(BOT, 0.1)[0] == 3
    limiter.penalise(BOT, None, 5.0, 0.1)  # a 429 for the whole bot
    room, wait = limiter.channel_room(BOT, 1.0)
    assert room == 0 and wait == pytest.approx(4.1)


def test_default_bot_burst_leaves_telegram_slack() -> None:
    """Telegram's bucket is 30; ours is smaller so network jitter never overruns it."""
    spec = RateLimits().per_channel
    assert spec.rate == 30.0 and spec.burst < 30
