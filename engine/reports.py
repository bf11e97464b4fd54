"""Reports (R16): the daily key table, messages per funnel step, audience, people per bot.

Pure read queries over one project database. Days (and ISO weeks) are those of the
project's time zone: a period is ``[local midnight, next local midnight)`` converted to
UTC, so DST days are 23/25 hours long. Timestamps are put into periods *in the database*
with one ``CASE`` over the period boundaries, so every report is a fixed, small number
of grouped queries whatever the data size, on SQLite and PostgreSQL alike.

Definitions (per contact, not per contact-and-bot, unless stated):

- **entered**: contacts created that day (first contact with any channel of the project).
- **inactive**: a contact none of whose channels is ``subscribed`` (all unsubscribed or
  blocked); they became inactive at the latest status change of their channels.
  ``inactive_day`` counts those who became inactive that day, ``inactive_total`` all
  inactive contacts as of the end of the day. Both are computed from the *current* status:
  a contact who left and came back is not inactive.
- **active**: contacts existing at the end of the day minus ``inactive_total``.
- **stages**: per tag name, contacts who got the tag that day (``contact_tags.added_at``).
- **bought_new**: distinct contacts who entered that day and bought that day;
  **bought_total**: distinct contacts who bought that day; **purchases**: purchases that day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    LIVE_RUN_STATUSES,
    Channel,
    ChannelKind,
    Contact,
    ContactChannel,
    ContactTag,
    Funnel,
    FunnelVersion,
    HistoryEvent,
    OutboxMessage,
    OutboxStatus,
    Purchase,
    Run,
    SubscriptionStatus,
    Tag,
)

MAX_DAYS = 400
"""Longest range a report accepts (a year and a bit): the CASE has one branch per period."""

Grouping = Literal["day", "week"]


class ReportRangeError(ValueError):
    """The date range is empty, reversed or too long."""


@dataclass(frozen=True)
class Period:
    key: str  # "2024-05-06" or "2024-W19"
    start_date: date
    start: datetime  # UTC-comparable aware datetimes
    end: datetime


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def periods(first: date, last: date, tz: tzinfo, group: Grouping = "day") -> list[Period]:
    """Days (or ISO weeks touching the range, Monday to Monday) from ``first`` to ``last``."""
    if last < first:
        raise ReportRangeError(f"the range ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportRangeError(f"at most {MAX_DAYS} days per report")
    out: list[Period] = []
    if group == "day":
        day = first
        while day <= last:
            nxt = day + timedelta(days=1)
            out.append(
                Period(day.isoformat(), day, local_midnight(day, tz), local_midnight(nxt, tz))
            )
            day = nxt
        return out
    monday = first - timedelta(days=first.weekday())
    while monday <= last:
        nxt = monday + timedelta(days=7)
        year, week, _ = monday.isocalendar()
        out.append(
            Period(
                f"{year}-W{week:02d}", monday, local_midnight(monday, tz), local_midnight(nxt, tz)
            )
        )
        monday = nxt
    return out


def bucket(column: Any, spans: Sequence[Period]) -> ColumnElement[Any]:
    """The index of the period ``column`` falls into, NULL outside the periods."""
    whens = [(column < p.end, literal(i)) for i, p in enumerate(spans)]
    return case((column < spans[0].start, literal(None)), *whens, else_=literal(None))


def _in_range(column: Any, spans: Sequence[Period]) -> ColumnElement[bool]:
    return (column >= spans[0].start) & (column < spans[-1].end)


# --- the daily key table ---------------------------------------------------------------


@dataclass
class DailyRow:
    day: str
    entered: int = 0
    active: int = 0
    inactive_day: int = 0
    inactive_total: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    bought_new: int = 0
    bought_total: int = 0
    purchases: int = 0


@dataclass
class DailyReport:
    stages: list[str]
    days: list[DailyRow]
    totals: DailyRow  # sums over the range; active / inactive_total as of the last day


async def key_stage_names(session: AsyncSession) -> list[str]:
    """The tags marked as key stages (``tags.is_key``), the default stage columns."""
    return list(await session.scalars(select(Tag.name).where(Tag.is_key).order_by(Tag.id)))


async def daily_report(
    session: AsyncSession,
    first: date,
    last: date,
    tz: tzinfo,
    stages: Sequence[str] | None = None,
) -> DailyReport:
    """The key table from ``first`` to ``last`` (inclusive, local dates)."""
    spans = periods(first, last, tz)
    names = list(stages) if stages is not None else await key_stage_names(session)
    rows = [DailyRow(p.key, stages={n: 0 for n in names}) for p in spans]

    # entered
    b = bucket(Contact.created_at, spans)
    for i, n in (
        await session.execute(
            select(b, func.count()).where(_in_range(Contact.created_at, spans)).group_by(b)
        )
    ).all():
        rows[i].entered = int(n)
    before = int(
        await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.created_at < spans[0].start)
        )
        or 0
    )

    # inactive: contacts without a subscribed channel, since their last status change
    subscribed = func.sum(
        case((ContactChannel.status == SubscriptionStatus.SUBSCRIBED, 1), else_=0)
    )
    gone = (
        select(
            ContactChannel.contact_id.label("contact_id"),
            func.max(ContactChannel.status_changed_at).label("at"),
        )
        .group_by(ContactChannel.contact_id)
        .having(subscribed == 0)
        .subquery()
    )
    gb = bucket(gone.c.at, spans)
    for i, n in (
        await session.execute(
            select(gb, func.count()).where(_in_range(gone.c.at, spans)).group_by(gb)
        )
    ).all():
        rows[i].inactive_day = int(n)
    inactive_before = int(
        await session.scalar(
            select(func.count()).select_from(gone).where(gone.c.at < spans[0].start)
        )
        or 0
    )

    # stages
    if names:
        sb = bucket(ContactTag.added_at, spans)
        for i, name, n in (
            await session.execute(
                select(sb, Tag.name, func.count())
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(Tag.name.in_(names), _in_range(ContactTag.added_at, spans))
                .group_by(sb, Tag.name)
            )
        ).all():
            rows[i].stages[name] = int(n)

    # purchases
    pb = bucket(Purchase.recorded_at, spans)
    cb = bucket(Contact.created_at, spans)
    for i, buyers, new_buyers, count in (
        await session.execute(
            select(
                pb,
                func.count(distinct(Purchase.contact_id)),
                func.count(distinct(case((cb == pb, Purchase.contact_id), else_=None))),
                func.count(),
            )
            .join(Contact, Contact.id == Purchase.contact_id)
            .where(_in_range(Purchase.recorded_at, spans))
            .group_by(pb)
        )
    ).all():
        rows[i].bought_total = int(buyers)
        rows[i].bought_new = int(new_buyers)
        rows[i].purchases = int(count)

    existing, inactive = before, inactive_before
    for row in rows:
        existing += row.entered
        inactive += row.inactive_day
        row.inactive_total = inactive
        row.active = existing - inactive

    totals = DailyRow("total", stages={n: 0 for n in names})
    for row in rows:
        totals.entered += row.entered
        totals.inactive_day += row.inactive_day
        totals.bought_new += row.bought_new
        totals.bought_total += row.bought_total
        totals.purchases += row.purchases
        for n in names:
            totals.stages[n] += row.stages[n]
    totals.active = rows[-1].active
    totals.inactive_total = rows[-1].inactive_total
    return DailyReport(names, rows, totals)


DAILY_COLUMNS = [
    ("day", "День"),
    ("entered", "Вошли"),
    ("active", "Активные"),
    ("inactive_day", "Отписались за день"),
    ("inactive_total", "Неактивные всего"),
]
DAILY_TAIL = [
    ("bought_new", "Купили из новых"),
    ("bought_total", "Купили всего"),
    ("purchases", "Покупок"),
]


def daily_table(report: DailyReport) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (the totals row last) for CSV/XLSX export."""
    headers = [t for _, t in DAILY_COLUMNS] + report.stages + [t for _, t in DAILY_TAIL]

    def line(row: DailyRow, label: str) -> list[Any]:
        head: list[Any] = [label] + [getattr(row, k) for k, _ in DAILY_COLUMNS[1:]]
        return (
            head + [row.stages[n] for n in report.stages] + [getattr(row, k) for k, _ in DAILY_TAIL]
        )

    return headers, [line(r, r.day) for r in report.days] + [line(report.totals, "Итого")]


# --- messages per funnel step ----------------------------------------------------------


@dataclass
class MessageRow:
    day: str
    funnel_id: int | None
    funnel: str  # the funnel's name; "Рассылки" for broadcasts, "" for other messages
    node_id: str | None
    node: str  # the node's title in the latest version that has it
    sent: int = 0
    entered: int = 0  # contacts entering the node that day (history), to see drop-off


async def _node_titles(session: AsyncSession, version_ids: set[int]) -> dict[tuple[int, str], str]:
    """(funnel id, node id) → title, later versions winning."""
    if not version_ids:
        return {}
    out: dict[tuple[int, str], str] = {}
    versions = await session.execute(
        select(FunnelVersion.funnel_id, FunnelVersion.document_json)
        .where(FunnelVersion.id.in_(version_ids))
        .order_by(FunnelVersion.version)
    )
    for funnel_id, document in versions.all():
        try:
            nodes = json.loads(document).get("nodes", [])
        except (ValueError, AttributeError):
            continue
        for node in nodes:
            if isinstance(node, dict) and node.get("id"):
                out[(funnel_id, str(node["id"]))] = str(node.get("title") or node.get("type") or "")
    return out


async def _funnel_names(session: AsyncSession, funnel_ids: set[int]) -> dict[int, str]:
    rows = await session.execute(select(Funnel.id, Funnel.name).where(Funnel.id.in_(funnel_ids)))
    return {funnel_id: name for funnel_id, name in rows.all()}


async def messages_report(
    session: AsyncSession, first: date, last: date, tz: tzinfo
) -> list[MessageRow]:
    """Messages sent (outbox rows ``sent`` by ``sent_at``) and node entries per day and node,
    ordered by day, funnel, node. Broadcast messages are one row per day."""
    spans = periods(first, last, tz)
    sb = bucket(OutboxMessage.sent_at, spans)
    kind = case(
        (OutboxMessage.idempotency_key.like("broadcast:%"), literal("broadcast")),
        else_=literal("other"),
    )
    sent = (
        await session.execute(
            select(sb, FunnelVersion.funnel_id, OutboxMessage.node_id, kind, func.count())
            .outerjoin(FunnelVersion, FunnelVersion.id == OutboxMessage.funnel_version_id)
            .where(
                OutboxMessage.status == OutboxStatus.SENT,
                _in_range(OutboxMessage.sent_at, spans),
            )
            .group_by(sb, FunnelVersion.funnel_id, OutboxMessage.node_id, kind)
        )
    ).all()
    hb = bucket(HistoryEvent.at, spans)
    entered = (
        await session.execute(
            select(hb, FunnelVersion.funnel_id, HistoryEvent.node_id, func.count())
            .join(FunnelVersion, FunnelVersion.id == HistoryEvent.funnel_version_id)
            .where(HistoryEvent.kind == "node.entered", _in_range(HistoryEvent.at, spans))
            .group_by(hb, FunnelVersion.funnel_id, HistoryEvent.node_id)
        )
    ).all()
    table: dict[tuple[int, int | None, str | None, str], MessageRow] = {}

    def row(i: int, funnel_id: int | None, node_id: str | None, what: str) -> MessageRow:
        key = (i, funnel_id, node_id, what)
        found = table.get(key)
        if found is None:
            found = table[key] = MessageRow(spans[i].key, funnel_id, what, node_id, "")
        return found

    for i, funnel_id, node_id, what, n in sent:
        if funnel_id is None:
            row(i, None, None, what).sent += int(n)
        else:
            row(i, funnel_id, node_id, "").sent += int(n)
    for i, funnel_id, node_id, n in entered:
        row(i, funnel_id, node_id, "").entered += int(n)

    funnel_ids = {k[1] for k in table if k[1] is not None}
    names: dict[int, str] = {}
    titles: dict[tuple[int, str], str] = {}
    if funnel_ids:
        names = await _funnel_names(session, funnel_ids)
        version_ids = set(
            await session.scalars(
                select(FunnelVersion.id).where(FunnelVersion.funnel_id.in_(funnel_ids))
            )
        )
        titles = await _node_titles(session, version_ids)
    for r in table.values():
        if r.funnel_id is not None:
            r.funnel = names.get(r.funnel_id, f"#{r.funnel_id}")
            r.node = titles.get((r.funnel_id, r.node_id or ""), r.node_id or "")
        else:
            r.funnel = "Рассылки" if r.funnel == "broadcast" else ""
    return sorted(
        table.values(),
        key=lambda r: (r.day, r.funnel_id is None, r.funnel, r.node, r.node_id or ""),
    )


def messages_table(rows: Sequence[MessageRow]) -> tuple[list[str], list[list[Any]]]:
    headers = ["День", "Воронка", "Шаг", "Отправлено", "Вошли в шаг"]
    return headers, [[r.day, r.funnel, r.node, r.sent, r.entered] for r in rows]


# --- audience: new / unsubscribed per day or week --------------------------------------


@dataclass
class AudienceRow:
    period: str
    start: date
    new: int = 0
    unsubscribed: int = 0  # contact-bot pairs now unsubscribed, changed in the period
    blocked: int = 0  # contact-bot pairs now blocked, changed in the period


async def audience_report(
    session: AsyncSession, first: date, last: date, tz: tzinfo, group: Grouping = "day"
) -> list[AudienceRow]:
    spans = periods(first, last, tz, group)
    rows = [AudienceRow(p.key, p.start_date) for p in spans]
    b = bucket(Contact.created_at, spans)
    for i, n in (
        await session.execute(
            select(b, func.count()).where(_in_range(Contact.created_at, spans)).group_by(b)
        )
    ).all():
        rows[i].new = int(n)
    cb = bucket(ContactChannel.status_changed_at, spans)
    for i, status, n in (
        await session.execute(
            select(cb, ContactChannel.status, func.count())
            .where(
                ContactChannel.status != SubscriptionStatus.SUBSCRIBED,
                _in_range(ContactChannel.status_changed_at, spans),
            )
            .group_by(cb, ContactChannel.status)
        )
    ).all():
        if status == SubscriptionStatus.BLOCKED:
            rows[i].blocked = int(n)
        else:
            rows[i].unsubscribed = int(n)
    return rows


def audience_table(rows: Sequence[AudienceRow]) -> tuple[list[str], list[list[Any]]]:
    headers = ["Период", "Начало", "Новые", "Отписались", "Заблокировали"]
    return headers, [
        [r.period, r.start.isoformat(), r.new, r.unsubscribed, r.blocked] for r in rows
    ]


# --- people per bot and per funnel part ------------------------------------------------


@dataclass
class BotRow:
    channel_id: int
    name: str
    username: str | None
    role: str | None
    subscribed: int = 0
    unsubscribed: int = 0
    blocked: int = 0

    @property
    def total(self) -> int:
        return self.subscribed + self.unsubscribed + self.blocked


@dataclass
class NodeRow:
    node_id: str
    node: str
    contacts: int


@dataclass
class FunnelPartRow:
    funnel_id: int
    funnel: str
    contacts: int
    nodes: list[NodeRow]


@dataclass
class AudienceNow:
    bots: list[BotRow]
    funnels: list[FunnelPartRow]


async def audience_now(session: AsyncSession) -> AudienceNow:
    """Contacts per bot by status, and live runs (active/waiting) per funnel node."""
    bots = {
        c.id: BotRow(c.id, c.name, c.username, c.role.value if c.role else None)
        for c in await session.scalars(
            select(Channel).where(Channel.kind == ChannelKind.BOT).order_by(Channel.id)
        )
    }
    for channel_id, status, n in (
        await session.execute(
            select(ContactChannel.channel_id, ContactChannel.status, func.count()).group_by(
                ContactChannel.channel_id, ContactChannel.status
            )
        )
    ).all():
        bot = bots.get(channel_id)
        if bot is not None:
            setattr(bot, SubscriptionStatus(status).value, int(n))
    live = (
        await session.execute(
            select(FunnelVersion.funnel_id, Run.node_id, func.count())
            .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
            .where(Run.status.in_(LIVE_RUN_STATUSES))
            .group_by(FunnelVersion.funnel_id, Run.node_id)
        )
    ).all()
    funnel_ids = {f for f, _, _ in live}
    names: dict[int, str] = {}
    titles: dict[tuple[int, str], str] = {}
    if funnel_ids:
        names = await _funnel_names(session, funnel_ids)
        version_ids = set(
            await session.scalars(
                select(FunnelVersion.id).where(FunnelVersion.funnel_id.in_(funnel_ids))
            )
        )
        titles = await _node_titles(session, version_ids)
    parts: dict[int, FunnelPartRow] = {}
    for funnel_id, node_id, n in live:
        part = parts.setdefault(
            funnel_id, FunnelPartRow(funnel_id, names.get(funnel_id, f"#{funnel_id}"), 0, [])
        )
        part.nodes.append(NodeRow(node_id, titles.get((funnel_id, node_id), node_id), int(n)))
        part.contacts += int(n)
    for part in parts.values():
        part.nodes.sort(key=lambda x: (-x.contacts, x.node))
    return AudienceNow(list(bots.values()), sorted(parts.values(), key=lambda p: p.funnel))


__all__ = [
    "MAX_DAYS",
    "AudienceNow",
    "AudienceRow",
    "BotRow",
    "DailyReport",
    "DailyRow",
    "FunnelPartRow",
    "MessageRow",
    "NodeRow",
    "Period",
    "ReportRangeError",
    "audience_now",
    "audience_report",
    "audience_table",
    "daily_report",
    "daily_table",
    "key_stage_names",
    "messages_report",
    "messages_table",
    "periods",
]
