"""Outbox delivery under failures, staff actions and the per-node stats (R5, DESIGN)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, select

from connectors.base import SendErrorKind
from db.models import (
    ContactChannel,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    Run,
    RunStatus,
    SubscriptionStatus,
)
from db.workspace import Workspace
from engine.clock import VirtualClock
from engine.flows import move_run, staff_add_tag, staff_remove_tag
from engine.simulation import Harness
from engine.stats import funnel_node_stats
from tests.engine.helpers import funnel, make_project

OPEN = "t_open_bot"


async def _harness(workspace: Workspace, clock: VirtualClock, docs=None) -> Harness:
    project = await make_project(workspace, docs)
    return await Harness.open(workspace, project, clock)


async def _rows(h: Harness) -> list[OutboxMessage]:
    async with h.engine.db.sessions() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_retry_after_keeps_chat_order(workspace: Workspace, clock: VirtualClock) -> None:
    h = await _harness(workspace, clock)
    try:
        h.world.fail_next(OPEN, SendErrorKind.RETRY_AFTER, retry_after=5)
        await h.world.contact_starts(OPEN, 1001)  # two messages queued
        assert h.world.received(OPEN, 1001) == []
        rows = await _rows(h)
        assert [r.status for r in rows] == [OutboxStatus.PENDING, OutboxStatus.PENDING]
        await h.advance(timedelta(seconds=6))
        got = h.world.received(OPEN, 1001)
        assert [e.text[:5] for e in got] == ["Здрав", "Напиш"]  # order kept
        assert h.world.duplicate_sends == []
    finally:
        await h.close()


async def test_blocked_and_uncertain(workspace: Workspace, clock: VirtualClock) -> None:
    h = await _harness(workspace, clock)
    try:
        h.world.fail_next(OPEN, SendErrorKind.NETWORK, maybe_delivered=True)
        await h.world.contact_starts(OPEN, 1001)
        rows = await _rows(h)
        assert rows[0].status is OutboxStatus.UNCERTAIN and rows[1].status is OutboxStatus.SENT
        assert len(h.world.received(OPEN, 1001)) == 2  # delivered once, never resent
        await h.world.contact_says(OPEN, 1001, "12.03.1990")
        await h.world.contact_blocks(OPEN, 1001)
        await h.world.contact_says(OPEN, 1002, "x")
        await h.advance(timedelta(days=3))  # follow-ups hit the block
        async with h.engine.db.sessions() as s:
            status = (
                await s.scalars(
                    select(ContactChannel).where(
                        ContactChannel.contact_id == 1, ContactChannel.channel_id == 1
                    )
                )
            ).one()
            assert status.status is SubscriptionStatus.BLOCKED
            kinds = [n.kind for n in (await s.scalars(select(Notification))).all()]
            assert NotificationKind.SEND_ERROR in kinds
            tags = (
                await s.scalars(select(HistoryEvent.kind).where(HistoryEvent.kind == "tag.removed"))
            ).all()
            assert tags == []  # tags untouched (R4)
    finally:
        await h.close()


async def test_sending_rows_become_uncertain_on_restart(
    workspace: Workspace, clock: VirtualClock
) -> None:
    h = await _harness(workspace, clock)
    try:
        h.world.fail_next(OPEN, SendErrorKind.RETRY_AFTER, retry_after=5)
        await h.world.contact_starts(OPEN, 1001)
        async with h.engine.transaction() as s:
            row = (await s.scalars(select(OutboxMessage).limit(1))).one()
            row.status = OutboxStatus.SENDING  # as if killed mid-send
        assert await h.sender.recover() == 1
        await h.advance(timedelta(seconds=10))
        rows = await _rows(h)
        assert [r.status for r in rows] == [OutboxStatus.UNCERTAIN, OutboxStatus.SENT]
        assert len(h.world.received(OPEN, 1001)) == 1  # the uncertain row is not resent
    finally:
        await h.close()


async def test_staff_move_and_tags(workspace: Workspace, clock: VirtualClock) -> None:
    h = await _harness(workspace, clock)
    try:
        await h.world.contact_starts(OPEN, 1001)
        await move_run(h.engine, 1, "Бесплатный разбор", actor="olga", reason="просьба клиента")
        await h.settle()
        assert "Ваш разбор" in h.world.received(OPEN, 1001)[-1].text
        async with h.engine.db.sessions() as s:
            run = await s.get(Run, 1)
            assert run is not None and run.status is RunStatus.WAITING
            moved = (
                await s.scalars(select(HistoryEvent).where(HistoryEvent.kind == "staff.move"))
            ).one()
            assert moved.actor == "staff:olga" and moved.details["reason"] == "просьба клиента"
        assert await staff_add_tag(h.engine, 1, "VIP", actor="olga")
        assert not await staff_add_tag(h.engine, 1, "VIP", actor="olga")
        assert await staff_remove_tag(h.engine, 1, "VIP", actor="olga")
    finally:
        await h.close()


async def test_loop_without_wait_fails_the_run(workspace: Workspace, clock: VirtualClock) -> None:
    doc = funnel(
        "Петля",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "A": ("condition", {"rules": [{"kind": "no_tag", "tag": "x"}]}),
            "B": ("tag_remove", {"tags": ["x"]}),
        },
        [("Старт", "next", "A"), ("A", "yes", "B"), ("A", "no", "B"), ("B", "next", "A")],
    )
    h = await _harness(workspace, clock, [doc])
    try:
        await h.world.contact_starts(OPEN, 1001)
        async with h.engine.db.sessions() as s:
            run = await s.get(Run, 1)
            assert (
                run is not None and run.status is RunStatus.FAILED and "loop" in (run.error or "")
            )
    finally:
        await h.close()


async def test_stats_constant_statements_on_300_nodes(
    workspace: Workspace, clock: VirtualClock
) -> None:
    nodes = {"Старт": ("trigger.start", {"bot_role": "open"})}
    edges = []
    prev = "Старт"
    for i in range(299):
        title = f"n{i}"
        nodes[title] = ("tag_add", {"tags": [f"t{i % 5}"]})
        edges.append((prev, "next", title))
        prev = title
    doc = funnel("Большая", nodes, edges)
    h = await _harness(workspace, clock, [doc])
    try:
        for uid in (1, 2):
            await h.world.contact_starts(OPEN, uid)
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(h.engine.db.engine.sync_engine, "before_cursor_execute", count)
        async with h.engine.db.sessions() as s:
            stats = await funnel_node_stats(s, 1, now=clock.now(), tz=h.engine.tz)
        n = len(statements)
        await h.world.contact_starts(OPEN, 3)
        statements.clear()
        async with h.engine.db.sessions() as s:
            await funnel_node_stats(s, 1, now=clock.now(), tz=h.engine.tz)
        assert len(statements) == n <= 4
        assert len(stats) == 299 and all(v.entered == 2 and v.passed == 2 for v in stats.values())
    finally:
        await h.close()


async def test_publish_through_the_service_reaches_the_running_engine_at_once(
    tmp_path: Path,
) -> None:
    """A publish is seen by the next event, not after the engine's periodic index check."""
    from uuid import uuid4

    from engine.demo_setup import install_demo_project
    from engine.events import ChannelKind as EventChannelKind
    from engine.events import ChannelRef, ContactIdentity, Start
    from engine.project_engine import ProjectEngine
    from engine.service import WorkspaceService
    from graph.document import FunnelDocument, FunnelEdge, FunnelNode

    service = await WorkspaceService.open(str(tmp_path / "ws"))
    project = await install_demo_project(service.workspace)
    engine = ProjectEngine(await service.database(project), project=project.name,
                           timezone=project.timezone)  # fmt: skip
    await engine.start()

    async def provider(_: object) -> ProjectEngine:
        return engine

    service.engine_provider = provider
    trigger = FunnelNode.create("trigger.start", 0, 0)
    trigger.props.update({"bot_role": "open", "payload": "promo", "payload_match": "exact"})
    end = FunnelNode.create("end", 200, 0)
    doc = FunnelDocument(id=uuid4(), name="Промо", nodes=[trigger, end],
                         edges=[FunnelEdge(source=trigger.id, source_port="next", target=end.id)])  # fmt: skip
    funnel_id = await service.create_funnel(project.name, doc, by="test")
    await service.publish(project.name, funnel_id, by="test")

    open_bot = next(c for c in engine.channels.values() if c.role == "open")
    event = Start(
        channel=ChannelRef(project=project.name, kind=EventChannelKind.BOT,
                           channel_id=str(open_bot.id), name=open_bot.name),
        contact=ContactIdentity(user_id=777, first_name="Тест"),
        occurred_at=engine.clock.now(), update_id=1, message_id=1, payload="promo",
    )  # fmt: skip
    await engine.handle(event)
    from sqlalchemy import select

    from db.models import FunnelVersion, HistoryEvent

    async with engine.db.sessions() as session:
        version_ids = (
            await session.scalars(
                select(FunnelVersion.id).where(FunnelVersion.funnel_id == funnel_id)
            )
        ).all()
        started = (
            await session.scalars(
                select(HistoryEvent).where(HistoryEvent.funnel_version_id.in_(version_ids))
            )
        ).all()
    assert started, "the new funnel did not start: the engine kept its old index"
    await service.close()
