"""Token buckets: Telegram's limits hold over any window, waits are exact, 429s are honoured."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.ratelimit import BucketSpec, RateLimiter, RateLimits

BOT = "ema/bot/1"


def send_all(
    limiter: RateLimiter, chat: int, n: int, now: float, is_group: bool = False
) -> list[float]:
    """Send ``n`` messages as fast as allowed; return the send times."""
    times: list[float] = []
    while len(times) < n:
        wait = limiter.reserve(BOT, chat, is_group, now)
        if wait == 0:
            times.append(now)
        else:
            now += wait
    return times


def test_private_chat_burst_then_one_per_second() -> None:
    limiter = RateLimiter()
    times = send_all(limiter, chat=5, n=6, now=100.0)
    assert times == pytest.approx([100, 100, 100, 101, 102, 103])


def test_wait_does_not_consume() -> None:
    limiter = RateLimiter(RateLimits(per_private_chat=BucketSpec(rate=1, burst=1)))
    assert limiter.reserve(BOT, 5, False, 0.0) == 0
    assert limiter.reserve(BOT, 5, False, 0.0) == pytest.approx(1.0)
    assert limiter.reserve(BOT, 5, False, 0.5) == pytest.approx(0.5)  # asking again took nothing
    assert limiter.reserve(BOT, 5, False, 1.0) == 0


def test_channel_limit_spans_chats() -> None:
    limiter = RateLimiter(RateLimits(per_channel=BucketSpec(rate=30, burst=30)))
    sent = sum(limiter.reserve(BOT, chat, False, 0.0) == 0 for chat in range(100))
    assert sent == 30
    assert limiter.reserve(BOT, 1000, False, 0.0) == pytest.approx(1 / 30)
    assert limiter.reserve("ema/bot/2", 1000, False, 0.0) == 0  # other bots are separate


def test_group_twenty_per_minute() -> None:
    limiter = RateLimiter(RateLimits(per_group=BucketSpec(rate=20 / 60, burst=1)))
    times = send_all(limiter, chat=-100, n=21, now=0.0, is_group=True)
    assert times[-1] == pytest.approx(60.0)
    assert sum(t < 60 - 1e-9 for t in times) == 20


def test_penalise_chat_blocks_only_that_chat_until_retry_after() -> None:
    limiter = RateLimiter()
    limiter.penalise(BOT, 5, retry_after=10, now=0.0)
    assert limiter.reserve(BOT, 5, False, 0.0) == pytest.approx(10)
    assert limiter.reserve(BOT, 5, False, 9.0) == pytest.approx(1)
    assert limiter.reserve(BOT, 6, False, 0.0) == 0
    assert limiter.reserve(BOT, 5, False, 10.0) == 0  # one send right away when it ends
    assert limiter.reserve(BOT, 5, False, 10.0) > 0  # but no burst saved up meanwhile
    assert limiter.blocked_until(BOT, 5) == 10.0


def test_penalise_channel_blocks_every_chat() -> None:
    limiter = RateLimiter()
    limiter.penalise(BOT, None, retry_after=3, now=1.0)
    assert limiter.reserve(BOT, 5, False, 1.0) == pytest.approx(3)
    assert limiter.reserve(BOT, 6, True, 2.0) == pytest.approx(2)
    assert limiter.reserve(BOT, 6, True, 4.0) == 0
    assert limiter.blocked_until(BOT) == 4.0


def test_penalty_before_first_send_to_a_group_keeps_group_limits() -> None:
    limiter = RateLimiter()
    limiter.penalise(BOT, -100, retry_after=1, now=0.0)
    times = send_all(limiter, chat=-100, n=4, now=0.0, is_group=True)
    assert times[0] == pytest.approx(1.0)
    assert times[-1] - times[0] > 5  # group rate (1 per 3s), not the private 1/s


def test_prune_forgets_idle_buckets_only() -> None:
    limiter = RateLimiter()
    for chat in range(50):
        limiter.reserve(BOT, chat, False, 0.0)
    limiter.penalise(BOT, 7, retry_after=100, now=0.0)
    limiter.prune(now=10.0)
    assert limiter.tracked_chats == 1
    assert limiter.reserve(BOT, 7, False, 10.0) == pytest.approx(90)


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        BucketSpec(rate=0, burst=1)
    with pytest.raises(ValueError):
        BucketSpec(rate=1, burst=0.5)


@given(
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 10),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=200),
)
def test_bucket_never_exceeds_burst_plus_rate_times_window(
    rate: float, burst: int, gaps: list[float]
) -> None:
    limiter = RateLimiter(
        RateLimits(per_channel=BucketSpec(1000, 1000), per_private_chat=BucketSpec(rate, burst))
    )
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        wait = limiter.reserve(BOT, 1, False, now)
        assert wait >= 0
        if wait == 0:
            sent.append(now)
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t - start <= 5.0]
        assert len(in_window) <= burst + rate * 5.0 + 1e-6
