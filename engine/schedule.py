"""When a delay ends: pure functions over aware datetimes in the project's time zone (R3).

Semantics (chosen so a funnel reads the way staff think about it):

- A **duration** adds whole days on the calendar (``1d`` from 10:00 is 10:00 the next day,
  even across a DST switch) and the rest as elapsed time (``2h`` is two real hours). A
  ``timedelta`` cannot tell ``24h`` from ``1d``, so every whole 24 hours counts as a day.
- **Until a time of day** ends at the next occurrence of that wall time: today if it has
  not passed yet (exactly now counts as today), else tomorrow.
- An optional :class:`Window` (allowed hours ``[start, end)``, wrapping midnight when
  ``start > end``, e.g. 21:00–09:00; and allowed weekdays of the *local calendar day*)
  moves a due time that falls outside to the earliest allowed moment after it.
- Wall times that do not exist (spring-forward gap) resolve to the first moment after
  the gap; repeated wall times (fall-back) resolve to their first occurrence.

All inputs and outputs are timezone-aware; results are in UTC.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from engine.clock import ensure_utc

_SEARCH_DAYS = 9  # a week plus slack for DST oddities; every valid window recurs within it


@dataclass(frozen=True)
class Window:
    """Allowed sending moments. ``start == end`` means all day; weekdays 0=Monday…6=Sunday."""

    start: time = time(0, 0)
    end: time = time(0, 0)
    weekdays: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise ValueError("a window needs at least one allowed weekday")
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays are 0 (Monday)…6 (Sunday), got {sorted(self.weekdays)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window hours are wall times of the project's zone, without tzinfo")

    @property
    def all_day(self) -> bool:
        return self.start == self.end

    def allows_wall_time(self, t: time) -> bool:
        if self.all_day:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # wraps midnight

    def local_intervals(self) -> list[tuple[time, time | None]]:
        """Allowed ``[from, to)`` wall-time intervals of one day; ``None`` = end of day."""
        if self.all_day:
            return [(time(0), None)]
        if self.start < self.end:
            return [(self.start, self.end)]
        return [(time(0), self.end), (self.start, None)]


def is_allowed(moment: datetime, tz: tzinfo, window: Window | None) -> bool:
    """Whether ``moment`` lies inside the window, judged on the project's wall clock."""
    if window is None:
        return True
    local = ensure_utc(moment).astimezone(tz)
    return local.weekday() in window.weekdays and window.allows_wall_time(
        local.time().replace(tzinfo=None)
    )


def resolve_wall_time(naive: datetime, tz: tzinfo) -> datetime:
    """The UTC instant of a wall time in ``tz`` (gap → first moment after; repeat → first)."""
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 gives an instant before the jump, fold=0 one after; find the jump.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


def _candidates(moment: datetime, tz: tzinfo, window: Window) -> list[datetime]:
    """Instants where an allowed stretch may begin, over the next days (unsorted)."""
    day0 = moment.astimezone(tz).date()
    found: list[datetime] = []
    for offset in range(_SEARCH_DAYS):
        day = day0 + timedelta(days=offset)
        for start, _ in window.local_intervals():
            naive = datetime.combine(day, start)
            found.append(resolve_wall_time(naive, tz))
            # A repeated wall time: its second occurrence may also open a stretch.
            second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
            found.append(second)
        found.extend(_offset_changes(day, tz))
    return found


@functools.lru_cache(maxsize=4096)
def _offset_changes(day: date, tz: tzinfo) -> tuple[datetime, ...]:
    """UTC instants on ``day`` where the zone's offset changes (a DST switch). Cached:
    a pure function of the day and zone, asked for every delay with a time window."""
    begin = resolve_wall_time(datetime.combine(day, time(0)), tz)
    end = resolve_wall_time(datetime.combine(day + timedelta(days=1), time(0)), tz)
    if begin.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset():
        return ()
    lo, hi = begin, end
    before = lo.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return (hi.replace(microsecond=0),)


def next_allowed(moment: datetime, tz: tzinfo, window: Window | None) -> datetime:
    """The earliest allowed moment at or after ``moment`` (``moment`` itself if allowed)."""
    moment = ensure_utc(moment)
    if window is None or is_allowed(moment, tz, window):
        return moment
    later = sorted(c for c in _candidates(moment, tz, window) if c > moment)
    for candidate in later:
        if is_allowed(candidate, tz, window):
            return candidate
    raise ValueError(f"no allowed moment within {_SEARCH_DAYS} days of {moment}")  # unreachable


def after_duration(
    start: datetime, duration: timedelta, tz: tzinfo, window: Window | None = None
) -> datetime:
    """When a delay of ``duration`` started at ``start`` ends (see the module doc)."""
    if duration < timedelta(0):
        raise ValueError(f"a delay cannot be negative: {duration}")
    start = ensure_utc(start)
    due = start
    if duration.days:
        local = start.astimezone(tz).replace(tzinfo=None)
        due = max(start, resolve_wall_time(local + timedelta(days=duration.days), tz))
    due += duration - timedelta(days=duration.days)
    return next_allowed(due, tz, window)


def at_time_of_day(start: datetime, at: time, tz: tzinfo, window: Window | None = None) -> datetime:
    """When "wait until ``at``" started at ``start`` ends: today if not passed, else tomorrow."""
    start = ensure_utc(start)
    today = start.astimezone(tz).date()
    for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
        due = resolve_wall_time(datetime.combine(day, at.replace(tzinfo=None)), tz)
        if due >= start:
            return next_allowed(due, tz, window)
    raise AssertionError("a wall time recurs within two days")  # pragma: no cover


_DURATION = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``30s``, ``15m``, ``2h``, ``3d``, ``1w``, ``1d2h``, ``1d 2h 30m``.

    Units go from larger to smaller, each at most once; a bare number is refused because
    "wait 30" is ambiguous.
    """
    compact = text.strip()
    if not compact:
        raise ValueError("empty duration — write e.g. 30s, 15m, 2h, 3d or 1d2h")
    pos, seconds, seen = 0, 0, ""
    for m in _DURATION.finditer(compact):
        if compact[pos : m.start()].strip():
            break
        unit = m.group(2).lower()
        if unit in seen or (seen and "wdhms".index(unit) < "wdhms".index(seen[-1])):
            raise ValueError(f"bad duration {text!r}: units go w, d, h, m, s, each once")
        seen += unit
        seconds += int(m.group(1)) * _UNIT_SECONDS[unit]
        pos = m.end()
    if not seen or compact[pos:].strip():
        raise ValueError(
            f"bad duration {text!r} — write a number with a unit: 30s, 15m, 2h, 3d, 1d2h"
        )
    return timedelta(seconds=seconds)


def parse_time_of_day(text: str) -> time:
    """Parse ``HH:MM`` (24-hour)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"bad time of day {text!r} — write HH:MM, e.g. 09:30")
    return time(int(m.group(1)), int(m.group(2)))
