"""Per-node live counts of a funnel for the canvas badges (R5, R16).

:func:`funnel_node_stats` answers, for every node of every version of a funnel: contacts
on the node now (active/waiting runs), entered (``node.entered`` history rows), passed
(entered minus those still on it or stopped/failed there) and messages sent today (in
the project's time zone). It is a fixed set of four grouped queries whatever the funnel's
size, cheap enough to poll every second (covered by indexes on runs and contact_history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, tzinfo

from sqlalchemy import func, select
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

    runs = await session.execute(
        select(Run.node_id, Run.status, func.count())
        .where(
            Run.funnel_version_id.in_(versions),
            Run.status.in_(
                [RunStatus.ACTIVE, RunStatus.WAITING, RunStatus.STOPPED, RunStatus.FAILED]
            ),
        )
        .group_by(Run.node_id, Run.status)
    )
    stuck: dict[str, int] = {}
    for node_id, status, count in runs.all():
        if status in (RunStatus.ACTIVE, RunStatus.WAITING):
            node(node_id).on_node += count
        stuck[node_id] = stuck.get(node_id, 0) + count
    entered = await session.execute(
        select(HistoryEvent.node_id, func.count())
        .where(HistoryEvent.funnel_version_id.in_(versions), HistoryEvent.kind == "node.entered")
        .group_by(HistoryEvent.node_id)
    )
    for entered_node, count in entered.all():
        node(entered_node).entered = count
    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    sent = await session.execute(
        select(OutboxMessage.node_id, func.count())
        .where(
            OutboxMessage.funnel_version_id.in_(versions),
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at >= midnight,
        )
        .group_by(OutboxMessage.node_id)
    )
    for sent_node, count in sent.all():
        node(sent_node).sent_today = count
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
