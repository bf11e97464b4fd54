"""Per-node live counts of a funnel for the canvas badges (R5, R16).

:func:`funnel_node_stats` answers, for every node of every version of a funnel: contacts
on the node now (active/waiting runs), entered (``node.entered`` history rows), passed
(entered minus those still on it or stopped/failed there) and messages sent today (in
the project's time zone). It is one statement of three grouped queries whatever the
funnel's size (one snapshot), cheap enough to poll every second (covered by indexes on
runs and contact_history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Any

from sqlalchemy import String, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FunnelVersion, HistoryEvent, OutboxMessage, OutboxStatus, Run, RunStatus


@dataclass
class NodeStats:
    node_id: str
    on_node: int = 0
    entered: int = 0
    passed: int = 0
    sent_today: int = 0


async def funnel_node_stats(
    session: AsyncSession, funnel_id: int, *, now: datetime, tz: tzinfo
) -> dict[str, NodeStats]:
    versions = select(FunnelVersion.id).where(FunnelVersion.funnel_id == funnel_id)
    out: dict[str, NodeStats] = {}

    def node(node_id: str | None) -> NodeStats:
        key = node_id or ""
        found = out.get(key)
        if found is None:
            found = out[key] = NodeStats(key)
        return found

    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    # one statement, so one snapshot: three separate reads could straddle a commit on
    # PostgreSQL (READ COMMITTED) and show a contact entered but neither on nor past a node
    runs = (
        select(literal("runs"), Run.node_id, cast(Run.status, String(32)), func.count())
        .where(
            Run.funnel_version_id.in_(versions),
            Run.status.in_(
                [RunStatus.ACTIVE, RunStatus.WAITING, RunStatus.STOPPED, RunStatus.FAILED]
            ),
        )
        .group_by(Run.node_id, Run.status)
    )
    entered = (
        select(literal("entered"), HistoryEvent.node_id, null(), func.count())
        .where(HistoryEvent.funnel_version_id.in_(versions), HistoryEvent.kind == "node.entered")
        .group_by(HistoryEvent.node_id)
    )
    sent = (
        select(literal("sent"), OutboxMessage.node_id, null(), func.count())
        .where(
            OutboxMessage.funnel_version_id.in_(versions),
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at >= midnight,
        )
        .group_by(OutboxMessage.node_id)
    )
    stuck: dict[str, int] = {}
    rows: list[Any] = list(await session.execute(union_all(runs, entered, sent)))
    for part, node_id, status, count in rows:
        if part == "runs":
            if status in (RunStatus.ACTIVE.value, RunStatus.WAITING.value):
                node(node_id).on_node += count
            stuck[node_id] = stuck.get(node_id, 0) + count
        elif part == "entered":
            node(node_id).entered = count
        else:
            node(node_id).sent_today = count
    for key, stats in out.items():
        stats.passed = max(0, stats.entered - stuck.get(key, 0))
    out.pop("", None)
    return out


async def funnel_node_counts(
    session: AsyncSession, funnel_id: int, *, now: datetime | None = None, tz: tzinfo | None = None
) -> dict[str, tuple[int, int, int]]:
    """Per node: (contacts there now, entered, passed) — the canvas badge figures."""
    from datetime import UTC

    stats = await funnel_node_stats(session, funnel_id, now=now or datetime.now(UTC), tz=tz or UTC)
    return {k: (s.on_node, s.entered, s.passed) for k, s in stats.items()}
