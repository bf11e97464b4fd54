"""The virtual clock wakes sleepers deterministically, in deadline order, without real time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.clock import Clock, SystemClock, VirtualClock, wait_until_or_event

T0 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)


def test_clocks_satisfy_protocol_and_are_aware_utc() -> None:
    for clock in (SystemClock(), VirtualClock(T0)):
        assert isinstance(clock, Clock)
        assert clock.now().utcoffset() == timedelta(0)


def test_virtual_clock_normalises_start_and_refuses_naive_and_backwards() -> None:
    msk = timezone(timedelta(hours=3))
    clock = VirtualClock(datetime(2024, 5, 6, 10, 0, tzinfo=msk))
    assert clock.now() == T0 and clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        VirtualClock(datetime(2024, 5, 6))
    with pytest.raises(ValueError, match="back"):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="back"):
        clock.advance(timedelta(seconds=-1))


async def test_advance_wakes_due_sleepers_in_deadline_order() -> None:
    clock = VirtualClock(T0)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, after: timedelta) -> None:
        await clock.sleep_until(T0 + after)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper("c", timedelta(hours=3))),
        asyncio.create_task(sleeper("a", timedelta(hours=1))),
        asyncio.create_task(sleeper("b", timedelta(hours=2))),
        asyncio.create_task(sleeper("late", timedelta(days=2))),
    ]
    await asyncio.sleep(0)
    assert clock.pending == 4 and woke == []
    clock.advance(timedelta(minutes=59))
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(timedelta(hours=5))
    for _ in range(3):
        await asyncio.sleep(0)
    assert [name for name, _ in woke] == ["a", "b", "c"]
    assert clock.pending == 1 and clock.next_deadline() == T0 + timedelta(days=2)
    tasks[-1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.pending == 0 and clock.next_deadline() is None


async def test_sleep_until_past_returns_at_once() -> None:
    clock = VirtualClock(T0)
    await asyncio.wait_for(clock.sleep_until(T0 - timedelta(days=1)), timeout=1)
    await asyncio.wait_for(clock.sleep_until(T0), timeout=1)


async def test_run_until_lets_each_timer_fire_at_its_own_moment() -> None:
    """A timer loop that re-arms itself every hour sees each tick at the exact hour."""
    clock = VirtualClock(T0)
    ticks: list[datetime] = []

    async def hourly() -> None:
        while True:
            await clock.sleep(timedelta(hours=1))
            ticks.append(clock.now())

    task = asyncio.create_task(hourly())
    await clock.run_for(timedelta(hours=3, minutes=30))
    assert ticks == [T0 + timedelta(hours=h) for h in (1, 2, 3)]
    assert clock.now() == T0 + timedelta(hours=3, minutes=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_cancelled_sleeper_is_not_woken_and_does_not_block_others() -> None:
    clock = VirtualClock(T0)
    first = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=1)))
    second = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=2)))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert clock.next_deadline() == T0 + timedelta(minutes=2)
    clock.advance(timedelta(minutes=2))
    await asyncio.wait_for(second, timeout=1)


async def test_wait_until_or_event_wakes_on_event_or_deadline() -> None:
    clock = VirtualClock(T0)
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_until_or_event(clock, T0 + timedelta(hours=1), event))
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.wait_for(waiter, timeout=1) is True
    assert clock.pending == 0  # the sleeper was cleaned up

    event.clear()
    waiter = asyncio.create_task(wait_until_or_event(clock, T0 + timedelta(hours=1), event))
    await asyncio.sleep(0)
    clock.advance(timedelta(hours=1))
    assert await asyncio.wait_for(waiter, timeout=1) is False


async def test_system_clock_sleep_until_past_is_immediate() -> None:
    clock = SystemClock()
    await asyncio.wait_for(clock.sleep_until(clock.now() - timedelta(seconds=5)), timeout=1)
