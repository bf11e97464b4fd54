"""Injectable time for the engine.

Everything that needs "now" or has to wait for a moment takes a :class:`Clock`, so tests
and the ``simulate`` command can run days of funnel time in milliseconds with a
:class:`VirtualClock`, while the daemon uses :class:`SystemClock`. All datetimes are
timezone-aware UTC; naive datetimes are rejected because a funnel's "tomorrow at 10:00"
is meaningless without a zone.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

# A system sleeper re-reads the wall clock at least this often, so NTP steps or a
# suspended laptop never make a timer fire hours late.
_MAX_SYSTEM_NAP = 30.0


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; refuse naive datetimes (their zone is unknown)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when.isoformat()} — give a time zone")
    return when.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """Source of the current time and of waiting until a moment."""

    def now(self) -> datetime:
        """The current moment, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when`` (at once if already past). Cancellable."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        when = ensure_utc(when)
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(min(left, _MAX_SYSTEM_NAP))


class VirtualClock:
    """A clock that moves only when told to; deterministic for tests and simulation.

    ``set``/``advance`` jump at once and wake every sleeper whose deadline passed, in
    deadline order (ties in the order they started sleeping). ``run_until``/``run_for``
    instead step through each deadline, letting woken tasks run with ``now()`` equal to
    their deadline — so a timer loop sees each timer fire at its own moment and timers
    it schedules inside the jump fire too.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start else datetime(2024, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        when = ensure_utc(when)
        if when <= self._now:
            await asyncio.sleep(0)  # still a suspension point, like a real sleep
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), fut))
        await fut  # cancellation leaves a cancelled future; _wake skips it

    async def sleep(self, delay: timedelta) -> None:
        await self.sleep_until(self._now + delay)

    @property
    def pending(self) -> int:
        """How many tasks are sleeping on this clock."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def next_deadline(self) -> datetime | None:
        """The earliest deadline anyone is sleeping for, if any."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards) and wake sleepers that are due."""
        when = ensure_utc(when)
        if when < self._now:
            raise ValueError(f"virtual time cannot go back: {when} < {self._now}")
        self._now = when
        self._wake_due()

    def advance(self, delta: timedelta) -> None:
        """Jump forward by ``delta`` and wake sleepers that are due."""
        if delta < timedelta(0):
            raise ValueError("virtual time cannot go back")
        self.set(self._now + delta)

    async def run_until(
        self, when: datetime, settle: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Move to ``when`` deadline by deadline, letting woken tasks run at each one.

        ``settle`` waits until the woken tasks have done their work; by default the
        loop is yielded to a few times, enough for tasks that wait only on each other.
        Pass a stronger one (e.g. "the engine's queue is empty") when tasks do real I/O.
        """
        when = ensure_utc(when)
        if when < self._now:
            raise ValueError(f"virtual time cannot go back: {when} < {self._now}")
        wait = settle or _yield_to_loop
        await wait()
        while (deadline := self.next_deadline()) is not None and deadline <= when:
            self._now = max(self._now, deadline)
            self._wake_due()
            await wait()
        self._now = when
        await wait()

    async def run_for(
        self, delta: timedelta, settle: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """``run_until(now() + delta)``."""
        await self.run_until(self._now + delta, settle)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


async def _yield_to_loop(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_until_or_event(clock: Clock, when: datetime, event: asyncio.Event) -> bool:
    """Wait until ``when`` or until ``event`` is set, whichever comes first.

    The primitive of a timer loop: sleep until the earliest due timer, but wake early when
    a new, earlier timer is added. Returns True if the event woke us (the event is left
    set; the caller clears it).
    """
    if event.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep_until(when))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waiter):
            if not task.done():
                task.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)
    return event.is_set()
