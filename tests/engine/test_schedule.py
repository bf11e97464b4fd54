"""Delay ends are right in the project's zone, across DST, and respect allowed windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.schedule import (
    Window,
    after_duration,
    at_time_of_day,
    is_allowed,
    next_allowed,
    parse_duration,
    parse_time_of_day,
    resolve_wall_time,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
ALMATY = ZoneInfo("Asia/Almaty")
ZONES = [MSK, BERLIN, ALMATY, ZoneInfo("America/New_York")]


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def test_duration_in_moscow() -> None:
    start = local(MSK, 2024, 5, 6, 22, 30)
    assert after_duration(start, timedelta(hours=2), MSK) == local(MSK, 2024, 5, 7, 0, 30)
    assert after_duration(start, timedelta(0), MSK) == start
    with pytest.raises(ValueError, match="negative"):
        after_duration(start, timedelta(seconds=-1), MSK)


def test_days_are_calendar_days_across_dst_hours_are_elapsed() -> None:
    # Berlin springs forward on 2024-03-31 at 02:00 → 03:00.
    start = local(BERLIN, 2024, 3, 30, 10, 0)
    one_day = after_duration(start, timedelta(days=1), BERLIN)
    assert one_day.astimezone(BERLIN) == local(BERLIN, 2024, 3, 31, 10, 0)
    assert one_day - start == timedelta(hours=23)
    # timedelta cannot tell 24h from 1d: whole days are calendar days, the rest elapsed.
    assert after_duration(start, timedelta(hours=24), BERLIN) == one_day
    hours = after_duration(start, timedelta(hours=23), BERLIN)
    assert hours - start == timedelta(hours=23)
    assert hours.astimezone(BERLIN).hour == 10
    # 01:30 + 1h elapsed crosses the gap: 01:30 CET → 03:30 CEST.
    night = local(BERLIN, 2024, 3, 31, 1, 30)
    assert after_duration(night, timedelta(hours=1), BERLIN).astimezone(BERLIN).hour == 3
    # ... and falls back on 2024-10-27: a day is 25 hours long.
    autumn = local(BERLIN, 2024, 10, 26, 10, 0)
    assert after_duration(autumn, timedelta(days=1), BERLIN) - autumn == timedelta(hours=25)


def test_until_time_of_day_today_or_tomorrow() -> None:
    morning = local(MSK, 2024, 5, 6, 8, 0)
    assert at_time_of_day(morning, time(10, 0), MSK) == local(MSK, 2024, 5, 6, 10, 0)
    evening = local(MSK, 2024, 5, 6, 12, 0)
    assert at_time_of_day(evening, time(10, 0), MSK) == local(MSK, 2024, 5, 7, 10, 0)
    exact = local(MSK, 2024, 5, 6, 10, 0)
    assert at_time_of_day(exact, time(10, 0), MSK) == exact


def test_time_of_day_in_dst_gap_and_overlap() -> None:
    before = local(BERLIN, 2024, 3, 31, 0, 0)
    due = at_time_of_day(before, time(2, 30), BERLIN)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2024, 3, 31, 3, 0)
    autumn = local(BERLIN, 2024, 10, 27, 0, 0)
    due = at_time_of_day(autumn, time(2, 30), BERLIN)
    assert due == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # first 02:30, still summer time


def test_almaty_changed_its_offset_in_2024() -> None:
    # Kazakhstan moved from UTC+6 to UTC+5 at 2024-03-01 00:00 local.
    start = local(ALMATY, 2024, 2, 29, 12, 0)
    assert start.utcoffset() == timedelta(hours=6)
    due = after_duration(start, timedelta(days=1), ALMATY)
    assert due.astimezone(ALMATY).replace(tzinfo=None) == datetime(2024, 3, 1, 12, 0)
    assert due - start == timedelta(hours=25)
    assert at_time_of_day(start, time(9, 0), ALMATY).astimezone(ALMATY).hour == 9


def test_window_wrapping_midnight() -> None:
    night = Window(time(21, 0), time(9, 0))
    assert is_allowed(local(MSK, 2024, 5, 6, 23, 0), MSK, night)
    assert is_allowed(local(MSK, 2024, 5, 6, 8, 59), MSK, night)
    assert not is_allowed(local(MSK, 2024, 5, 6, 9, 0), MSK, night)
    noon = local(MSK, 2024, 5, 6, 12, 0)
    assert next_allowed(noon, MSK, night) == local(MSK, 2024, 5, 6, 21, 0)


def test_due_time_outside_hours_and_weekdays_moves_to_next_allowed() -> None:
    office = Window(time(10, 0), time(19, 0), weekdays=frozenset(range(5)))  # Mon–Fri
    friday_evening = local(MSK, 2024, 5, 10, 18, 0)
    due = after_duration(friday_evening, timedelta(hours=2), MSK, office)
    assert due == local(MSK, 2024, 5, 13, 10, 0)  # Monday 10:00
    due = at_time_of_day(local(MSK, 2024, 5, 11, 12, 0), time(12, 0), MSK, office)
    assert due == local(MSK, 2024, 5, 13, 10, 0)


def test_window_start_inside_dst_gap() -> None:
    window = Window(time(2, 30), time(5, 0))
    due = next_allowed(local(BERLIN, 2024, 3, 31, 1, 0), BERLIN, window)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2024, 3, 31, 3, 0)
    vanished = Window(time(2, 0), time(3, 0))  # does not exist that day
    due = next_allowed(local(BERLIN, 2024, 3, 31, 1, 0), BERLIN, vanished)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2024, 4, 1, 2, 0)


def test_repeated_hour_opens_the_window_again() -> None:
    # 02:45 summer time is outside [00:00, 02:30); the clock falls back to 02:00 and is inside.
    window = Window(time(0, 0), time(2, 30))
    first_245 = datetime(2024, 10, 27, 0, 45, tzinfo=UTC)
    assert first_245.astimezone(BERLIN).hour == 2
    assert next_allowed(first_245, BERLIN, window) == datetime(2024, 10, 27, 1, 0, tzinfo=UTC)


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="weekday"):
        Window(weekdays=frozenset())
    with pytest.raises(ValueError, match="0 \\(Monday\\)"):
        Window(weekdays=frozenset({7}))
    assert Window().all_day


def test_resolve_wall_time_ordinary() -> None:
    assert resolve_wall_time(datetime(2024, 5, 6, 10, 0), MSK) == datetime(
        2024, 5, 6, 7, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1d2h", timedelta(days=1, hours=2)),
        (" 1d 2h 30m ", timedelta(days=1, hours=2, minutes=30)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "2x", "h", "2h1d", "1h1h", "1.5h", "2h and", "-1h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_time_of_day() -> None:
    assert parse_time_of_day("9:05") == time(9, 5)
    for bad in ("24:00", "12:60", "noon", "12"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_time_of_day(bad)


# --- properties ------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(
    Window,
    start=quarter_hours,
    end=quarter_hours,
    weekdays=st.frozensets(st.integers(0, 6), min_size=1),
)
zones = st.sampled_from(ZONES)


@given(
    instants, windows, zones, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))
)
def test_after_duration_is_later_and_allowed(
    start: datetime, window: Window, tz: ZoneInfo, delay: timedelta
) -> None:
    due = after_duration(start, delay, tz, window)
    assert due >= start
    assert is_allowed(due, tz, window)
    assert next_allowed(due, tz, window) == due  # idempotent


@given(instants, windows, zones, quarter_hours)
def test_at_time_of_day_is_later_and_allowed(
    start: datetime, window: Window, tz: ZoneInfo, at: time
) -> None:
    due = at_time_of_day(start, at, tz, window)
    assert start <= due
    assert is_allowed(due, tz, window)
    assert due - start < timedelta(days=9)


@given(instants, windows, zones)
def test_next_allowed_is_identity_when_allowed(
    moment: datetime, window: Window, tz: ZoneInfo
) -> None:
    if is_allowed(moment, tz, window):
        assert next_allowed(moment, tz, window) == moment


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.replace(second=0, microsecond=0)),
    windows,
    zones,
)
def test_next_allowed_is_the_earliest(moment: datetime, window: Window, tz: ZoneInfo) -> None:
    """Brute force minute by minute: no allowed minute lies before the answer."""
    due = next_allowed(moment, tz, window)
    probe = moment
    while probe < due:
        assert not is_allowed(probe, tz, window), probe
        probe += timedelta(minutes=1)
