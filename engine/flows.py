"""Staff actions and rolling back a manager's mistake (R5, R10).

Every action runs in one transaction under the contact's lock, writes history with the
actor (``staff:<login>``) and the reason, and advances the affected runs at once.

- :func:`move_run` — put a contact's run on any node (it executes from there).
- :func:`stop_run` / :func:`restart_run` — stop a live run; start the funnel again.
- :func:`staff_add_tag` / :func:`staff_remove_tag` — tags by hand (tag-added triggers fire).
- :func:`rollback_preview` / :func:`rollback_apply` — undo a run (e.g. a wrong product
  trigger): runs it stopped resume at their node (waiting again with their old due time,
  or due now if it passed), tags it added are removed, its personal links revoked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from db.models import (
    LIVE_RUN_STATUSES,
    Contact,
    ContactTag,
    PersonalLink,
    Run,
    RunStatus,
    StaffAuditEntry,
    Tag,
)
from engine import events as ev
from engine.runs import Tx
from engine.steps import AWAIT_RESUME

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

T = TypeVar("T")


class StaffActionError(ValueError):
    """The action cannot be done (no such run, node, contact…)."""


@dataclass
class RollbackPlan:
    run_id: int
    funnel: str
    resume_runs: list[dict[str, Any]] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    revoke_links: list[int] = field(default_factory=list)
    stop_self: bool = False
    applied: bool = False


async def _contact_tx(
    engine: ProjectEngine,
    contact_id: int,
    actor: str,
    action: str,
    details: dict[str, Any],
    body: Callable[[Tx], Awaitable[T]],
) -> T:
    async with engine.db.sessions() as session:
        user_id = await session.scalar(
            select(Contact.telegram_user_id).where(Contact.id == contact_id)
        )
    if user_id is None:
        raise StaffActionError(f"no contact {contact_id}")
    now = engine.clock.now()
    async with engine.transaction(user_id) as session:
        contact = await engine._lock_contact_id(session, contact_id)
        assert contact is not None
        await engine._refresh_index(session)
        tx = Tx(engine, session, now, contact, None, actor=actor)
        result = await body(tx)
        session.add(
            StaffAuditEntry(
                at=now, actor=actor, action=action, contact_id=contact_id, details=details
            )
        )
        await tx.drain()
    engine._wake(tx)
    return result


async def _run_of(engine: ProjectEngine, run_id: int) -> Run:
    async with engine.db.sessions() as session:
        run = await session.get(Run, run_id)
    if run is None:
        raise StaffActionError(f"no run {run_id}")
    return run


def _staff(actor: str) -> str:
    return actor if ":" in actor else f"staff:{actor}"


async def move_run(
    engine: ProjectEngine, run_id: int, node: str, *, actor: str, reason: str = ""
) -> None:
    """Put the run on ``node`` (id, id prefix or title) and execute from there."""
    run0 = await _run_of(engine, run_id)
    actor = _staff(actor)

    async def body(tx: Tx) -> None:
        run = await tx.session.get(Run, run_id, populate_existing=True)
        assert run is not None
        cf = await engine.compiled(tx.session, run.funnel_version_id)
        node_id = cf.find_node(node)
        if node_id is None:
            raise StaffActionError(f"funnel {cf.name!r} has no node {node!r}")
        if run.status not in LIVE_RUN_STATUSES:
            run.status = RunStatus.WAITING
            run.finished_at = None
            run.error = None
        if not await tx.claim(run):
            raise StaffActionError("the run changed meanwhile; try again")
        tx.history("staff.move", run, node_id, from_node=run.node_id, reason=reason)
        tx.jump(run, cf, node_id)

    await _contact_tx(
        engine,
        run0.contact_id,
        actor,
        "move_run",
        {"run_id": run_id, "node": node, "reason": reason},
        body,
    )


async def stop_run(engine: ProjectEngine, run_id: int, *, actor: str, reason: str = "") -> None:
    run0 = await _run_of(engine, run_id)

    async def body(tx: Tx) -> None:
        run = await tx.session.get(Run, run_id, populate_existing=True)
        assert run is not None
        if run.status in LIVE_RUN_STATUSES:
            tx.stop(run, reason=reason or "staff")

    await _contact_tx(
        engine,
        run0.contact_id,
        _staff(actor),
        "stop_run",
        {"run_id": run_id, "reason": reason},
        body,
    )


async def restart_run(
    engine: ProjectEngine, run_id: int, *, actor: str, reason: str = ""
) -> int | None:
    """Stop the run if live and start its funnel's live version again (re-entry ignored)."""
    run0 = await _run_of(engine, run_id)

    async def body(tx: Tx) -> int | None:
        run = await tx.session.get(Run, run_id, populate_existing=True)
        assert run is not None
        old = await engine.compiled(tx.session, run.funnel_version_id)
        if run.status in LIVE_RUN_STATUSES:
            tx.stop(run, reason=reason or "restart")
        cf = engine.index.funnels.get(old.funnel_id, old)
        trigger = (run.context or {}).get("trigger_node")
        entry = next((t.entry for t in cf.triggers if t.node_id == trigger), None)
        if entry is None:
            entry = next((t.entry for t in cf.triggers), None)
        new = await tx.start_run(
            cf,
            entry,
            channel_id=run.triggered_by_channel_id,
            reason=f"restart by staff: {reason}",
            ignore_reentry=True,
            context={"trigger_node": trigger},
        )
        return new.id if new else None

    return await _contact_tx(
        engine,
        run0.contact_id,
        _staff(actor),
        "restart_run",
        {"run_id": run_id, "reason": reason},
        body,
    )


async def staff_add_tag(
    engine: ProjectEngine, contact_id: int, tag: str, *, actor: str, reason: str = ""
) -> bool:
    async def body(tx: Tx) -> bool:
        return bool(await tx.add_tags([tag]))

    return await _contact_tx(
        engine, contact_id, _staff(actor), "tag_add", {"tag": tag, "reason": reason}, body
    )


async def staff_remove_tag(
    engine: ProjectEngine, contact_id: int, tag: str, *, actor: str, reason: str = ""
) -> bool:
    async def body(tx: Tx) -> bool:
        return bool(await tx.remove_tags([tag]))

    return await _contact_tx(
        engine, contact_id, _staff(actor), "tag_remove", {"tag": tag, "reason": reason}, body
    )


async def _plan(tx: Tx, run: Run) -> RollbackPlan:
    cf = await tx.engine.compiled(tx.session, run.funnel_version_id)
    plan = RollbackPlan(run_id=run.id, funnel=cf.name, stop_self=run.status in LIVE_RUN_STATUSES)
    stopped = (
        await tx.session.scalars(
            select(Run).where(Run.stopped_by_run_id == run.id, Run.status == RunStatus.STOPPED)
        )
    ).all()
    for other in stopped:
        other_cf = await tx.engine.compiled(tx.session, other.funnel_version_id)
        plan.resume_runs.append(
            {
                "run_id": other.id,
                "funnel": other_cf.name,
                "node": other_cf.title(other.node_id),
                "due_at": other.due_at.isoformat() if other.due_at else None,
            }
        )
    tags = await tx.session.execute(
        select(Tag.name)
        .join(ContactTag, ContactTag.tag_id == Tag.id)
        .where(ContactTag.added_by_run_id == run.id)
    )
    plan.remove_tags = sorted(tags.scalars())
    links = await tx.session.scalars(
        select(PersonalLink.id).where(
            PersonalLink.created_by_run_id == run.id, PersonalLink.revoked_at.is_(None)
        )
    )
    plan.revoke_links = list(links)
    return plan


async def rollback_preview(engine: ProjectEngine, run_id: int) -> RollbackPlan:
    run = await _run_of(engine, run_id)
    async with engine.db.sessions() as session:
        contact = await session.get(Contact, run.contact_id)
        assert contact is not None
        return await _plan(Tx(engine, session, engine.clock.now(), contact), run)


async def rollback_apply(
    engine: ProjectEngine, run_id: int, *, actor: str, reason: str = ""
) -> RollbackPlan:
    run0 = await _run_of(engine, run_id)

    async def body(tx: Tx) -> RollbackPlan:
        run = await tx.session.get(Run, run_id, populate_existing=True)
        assert run is not None
        plan = await _plan(tx, run)
        if run.status in LIVE_RUN_STATUSES:
            tx.stop(run, reason="rollback")
        run.context = {**(run.context or {}), "rolled_back": True}
        for item in plan.resume_runs:
            other = await tx.session.get(Run, item["run_id"])
            assert other is not None
            other.status = RunStatus.WAITING
            other.stopped_at = None
            other.stopped_by_run_id = None
            if other.awaiting is None:  # stopped mid-step: execute its node again
                other.awaiting = AWAIT_RESUME
                other.due_at = tx.now
            elif other.due_at is not None and other.due_at < tx.now:
                other.due_at = tx.now
            other.lock_version += 1
            other.updated_at = tx.now
            tx.wake_timers = True
            tx.history(
                "run.resumed",
                other,
                other.node_id,
                why="rollback",
                by_run=run.id,
                due_at=other.due_at.isoformat() if other.due_at else None,
            )
        await tx.remove_tags(plan.remove_tags, run)
        for link_id in plan.revoke_links:
            link = await tx.session.get(PersonalLink, link_id)
            assert link is not None
            link.revoked_at = tx.now
            tx.history("link.revoked", run, link_id=link_id)
        tx.history("run.rolled_back", run, run.node_id, reason=reason)
        plan.applied = True
        return plan

    return await _contact_tx(
        engine,
        run0.contact_id,
        _staff(actor),
        "rollback",
        {"run_id": run_id, "reason": reason},
        body,
    )


async def apply_staff_action(tx: Tx, event: ev.StaffAction) -> None:
    """A staff action that arrived as an event (inside the event's transaction): tag
    changes only; run-level actions use the functions above (they need their own
    compare-and-set transaction)."""
    tag = str(event.args.get("tag", ""))
    if event.action == "tag_add" and tag:
        await tx.add_tags([tag])
    elif event.action == "tag_remove" and tag:
        await tx.remove_tags([tag])
    else:
        tx.history("staff.unknown_action", action=event.action)
