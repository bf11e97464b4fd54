"""Telegram sending limits for the outbox sender, as token buckets (DESIGN: step loop).

Three buckets guard each send: the channel's (≈30 msg/s per bot), the chat's (1 msg/s in
a private chat, small burst) or the group's (20/min). ``reserve`` either takes one token
from every bucket involved and returns 0, or takes nothing and returns how long to wait —
so a sender can wait, then ask again, without a phantom reservation starving other chats.
A 429's ``retry_after`` is honoured by ``penalise``. Time is a monotonic number of seconds
passed in by the caller, which keeps the limiter pure and its tests deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class BucketSpec:
    """``rate`` tokens per second refill up to ``burst`` tokens."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a bucket needs rate > 0 and burst >= 1, got {self}")


@dataclass(frozen=True)
class RateLimits:
    """Defaults follow Telegram's documented bot limits; all are configurable. The bot's
    burst is kept below Telegram's (30): a send reserved here reaches Telegram a few
    milliseconds later, and with equal buckets that jitter alone draws an occasional 429;
    the unused part of Telegram's bucket absorbs it, and the sustained rate stays 30/s."""

    per_channel: BucketSpec = BucketSpec(rate=30.0, burst=10.0)
    per_private_chat: BucketSpec = BucketSpec(rate=1.0, burst=3.0)
    per_group: BucketSpec = BucketSpec(rate=20.0 / 60.0, burst=3.0)


@dataclass
class _Bucket:
    spec: BucketSpec
    tokens: float
    updated: float
    blocked_until: float = 0.0

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.spec.burst, self.tokens + (now - self.updated) * self.spec.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 if now); assumes ``refill(now)``."""
        blocked = max(0.0, self.blocked_until - now)
        if blocked:
            return blocked
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.spec.rate

    def block(self, until: float) -> None:
        """No sends before ``until``; then one send at once, but no burst saved up."""
        if until > self.blocked_until:
            self.blocked_until = until
            self.tokens = 1.0
            self.updated = max(self.updated, until)

    def idle(self, now: float) -> bool:
        return now >= self.blocked_until and self.tokens >= self.spec.burst


@dataclass
class RateLimiter:
    """Per-channel and per-chat token buckets keyed by ``channel_key`` and ``chat_id``."""

    limits: RateLimits = field(default_factory=RateLimits)
    prune_every: int = 10_000
    _channels: dict[str, _Bucket] = field(default_factory=dict, init=False)
    _chats: dict[tuple[str, int], _Bucket] = field(default_factory=dict, init=False)
    _calls: int = field(default=0, init=False)

    def reserve(self, channel_key: str, chat_id: int, is_group: bool, now: float) -> float:
        """Take a send slot: 0.0 if the message may go now (slot taken), else seconds to
        wait before asking again (nothing taken)."""
        self._calls += 1
        if self._calls % self.prune_every == 0:
            self.prune(now)
        buckets = (
            self._channel(channel_key, now),
            self._chat(channel_key, chat_id, is_group, now),
        )
        for bucket in buckets:
            bucket.refill(now)
        wait = max(bucket.wait(now) for bucket in buckets)
        if wait > 0:
            return wait
        for bucket in buckets:
            bucket.tokens -= 1.0
        return 0.0

    def channel_room(self, channel_key: str, now: float) -> tuple[int, float]:
        """(sends the channel's own bucket allows now, seconds until the next one if none);
        takes nothing. Lets a sender read no more of its queue than can go now, and none
        while the whole bot is at its limit."""
        bucket = self._channels.get(channel_key)
        if bucket is None:
            return int(self.limits.per_channel.burst), 0.0
        bucket.refill(now)
        wait = bucket.wait(now)
        if wait > 0:
            return 0, wait
        return max(1, int(bucket.tokens + 1e-9)), 0.0

    def penalise(
        self, channel_key: str, chat_id: int | None, retry_after: float, now: float
    ) -> None:
        """Honour a 429: block the chat (or, with ``chat_id=None``, the whole channel)
        for ``retry_after`` seconds."""
        until = now + max(0.0, retry_after)
        if chat_id is None:
            self._channel(channel_key, now).block(until)
        else:
            bucket = self._chats.get((channel_key, chat_id))
            if bucket is None:
                bucket = self._chat(channel_key, chat_id, False, now)
            bucket.block(until)

    def blocked_until(self, channel_key: str, chat_id: int | None = None) -> float:
        """The monotonic time before which sends there are refused by a penalty (0 if none)."""
        bucket = (
            self._channels.get(channel_key)
            if chat_id is None
            else self._chats.get((channel_key, chat_id))
        )
        return bucket.blocked_until if bucket else 0.0

    def prune(self, now: float) -> None:
        """Forget buckets that are full and unblocked — they equal fresh ones."""
        _prune(self._channels, now)
        _prune(self._chats, now)

    @property
    def tracked_chats(self) -> int:
        return len(self._chats)

    def _channel(self, key: str, now: float) -> _Bucket:
        bucket = self._channels.get(key)
        if bucket is None:
            spec = self.limits.per_channel
            bucket = self._channels[key] = _Bucket(spec, spec.burst, now)
        return bucket

    def _chat(self, channel_key: str, chat_id: int, is_group: bool, now: float) -> _Bucket:
        key = (channel_key, chat_id)
        bucket = self._chats.get(key)
        spec = self.limits.per_group if is_group else self.limits.per_private_chat
        if bucket is None:
            bucket = self._chats[key] = _Bucket(spec, spec.burst, now)
        elif bucket.spec != spec:  # first seen by ``penalise``, which cannot tell the kind
            bucket.refill(now)
            bucket.spec = spec
            bucket.tokens = min(bucket.tokens, spec.burst)
        return bucket


def _prune(table: dict[K, _Bucket], now: float) -> None:
    stale = []
    for key, bucket in table.items():
        bucket.refill(now)
        if bucket.idle(now):
            stale.append(key)
    for key in stale:
        del table[key]
