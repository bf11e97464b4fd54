"""R5/R9: contacts stuck on a step are found, and the admins are told once.

A run is *stuck* for one of three reasons:

- ``timer_overdue``: it is live and its timer (a delay, a reply or arrival timeout) is
  overdue by more than ``after`` (15 minutes): timers are not firing for it.
- ``run_failed``: it ended with an error, and the contact has no later run of that robot
  (a restart by staff or a re-entry supersedes it; moving it to a step revives it).
- ``send_failed``: it is live and the last message it queued failed or may not have
  arrived (``uncertain``) — the contact waits for an answer to a message they never saw.
  A contact who blocked the bot is not stuck (nothing can reach them).

:func:`find_stuck` lists them now (the API's ``GET /projects/{p}/stuck``, the desktop's
«Застрявшие»). :func:`check_stuck` — run by the daemon's :class:`StuckWatchdog` every
minute, callable directly by tests and the simulator — raises one ``STUCK_CONTACT``
notification per stuck run and reason, its details carrying ``run_id``, ``reason`` and a
``mark`` naming the occurrence (the overdue due time, the failure time, the failed
message): never a second one while one for that run and reason is unresolved, never
again for the same occurrence. A notification whose run is no longer stuck for its reason
(staff moved the contact, the timer fired late) is resolved by the watchdog
(``resolved_by = "watchdog"``).

Right after the engine starts, timers that came due while it was down are still being
fired: the overdue check waits ``after`` from ``started_at`` before it looks.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import (
    LIVE_RUN_STATUSES,
    Contact,
    Funnel,
    FunnelVersion,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    Run,
    RunStatus,
)
from engine.cluster import lock_key

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)
"""A live run whose timer is overdue by more than this is stuck (the default)."""
WATCHDOG_ACTOR = "watchdog"
_CHUNK = 500


class StuckReason(enum.StrEnum):
    TIMER_OVERDUE = "timer_overdue"
    RUN_FAILED = "run_failed"
    SEND_FAILED = "send_failed"


REASON_TITLES: dict[str, tuple[str, str]] = {
    StuckReason.TIMER_OVERDUE: ("Таймер не сработал", "Timer overdue"),
    StuckReason.RUN_FAILED: ("Ошибка в роботе", "Run failed"),
    StuckReason.SEND_FAILED: ("Сообщение не дошло", "Message not delivered"),
}


@dataclass(frozen=True)
class StuckRun:
    """A stuck run with what staff need to find and move the contact."""

    run_id: int
    reason: StuckReason
    since: datetime
    """When it got stuck: the overdue due time, the failure, the failed message."""
    mark: str
    """The occurrence (see the module doc): equal marks are the same problem."""
    detail: str
    contact_id: int
    telegram_user_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    funnel_id: int
    funnel: str
    version: int
    funnel_version_id: int
    node_id: str
    node: str
    status: str
    channel_id: int | None = None
    outbox_id: int | None = None

    @property
    def who(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        username = f"@{self.username}" if self.username else ""
        if name and username:
            return f"{name} ({username})"
        return name or username or f"id {self.telegram_user_id}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped, as the API answers (times in ISO 8601)."""
        data = asdict(self)
        data["reason"] = self.reason.value
        data["since"] = self.since.isoformat()
        return data


@dataclass
class WatchdogRound:
    stuck: list[StuckRun] = field(default_factory=list)
    raised: list[int] = field(default_factory=list)
    """Ids of the notifications raised by this round."""
    resolved: list[int] = field(default_factory=list)
    """Ids of the notifications this round resolved (no longer stuck)."""


# --- finding them ---------------------------------------------------------------------------


_Found = tuple[Run, StuckReason, datetime, str, str, int | None]


async def find_stuck(
    session: AsyncSession,
    now: datetime,
    *,
    after: timedelta = STUCK_AFTER,
    reasons: Iterable[StuckReason] = tuple(StuckReason),
    limit: int | None = None,
) -> list[StuckRun]:
    """The runs stuck now, longest stuck first."""
    wanted = set(reasons)
    found: list[_Found] = []
    if StuckReason.TIMER_OVERDUE in wanted:
        runs = await session.scalars(
            select(Run).where(
                Run.status.in_(LIVE_RUN_STATUSES),
                Run.due_at.is_not(None),
                Run.due_at < now - after,
            )
        )
        for run in runs:
            assert run.due_at is not None
            late = overdue_text(now - run.due_at)
            found.append(
                (run, StuckReason.TIMER_OVERDUE, run.due_at, run.due_at.isoformat(), late, None)
            )
    if StuckReason.RUN_FAILED in wanted:
        later = aliased(Run)
        later_version = aliased(FunnelVersion)
        superseded = exists(
            select(later.id)
            .join(later_version, later_version.id == later.funnel_version_id)
            .where(
                later.contact_id == Run.contact_id,
                later.id > Run.id,
                later_version.funnel_id == FunnelVersion.funnel_id,
            )
        )
        runs = await session.scalars(
            select(Run)
            .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
            .where(Run.status == RunStatus.FAILED, ~superseded)
        )
        for run in runs:
            at = run.finished_at or run.updated_at
            mark = f"failed:{run.lock_version}"  # each failure bumps the version
            found.append((run, StuckReason.RUN_FAILED, at, mark, run.error or "", None))
    if StuckReason.SEND_FAILED in wanted:
        newer = aliased(OutboxMessage)
        rows = await session.execute(
            select(Run, OutboxMessage.id, OutboxMessage.error, OutboxMessage.created_at)
            .join(Run, Run.id == OutboxMessage.run_id)
            .where(
                OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.UNCERTAIN]),
                or_(
                    OutboxMessage.error.is_(None),
                    ~OutboxMessage.error.like("blocked:%"),  # the contact blocked the bot
                ),
                Run.status.in_(LIVE_RUN_STATUSES),
                ~exists(
                    select(newer.id).where(
                        newer.run_id == OutboxMessage.run_id, newer.id > OutboxMessage.id
                    )
                ),
            )
        )
        for run, outbox_id, error, created_at in rows.all():
            found.append(
                (
                    run,
                    StuckReason.SEND_FAILED,
                    created_at,
                    f"outbox:{outbox_id}",
                    error or "",
                    int(outbox_id),
                )
            )
    found.sort(key=lambda f: (f[2], f[0].id))
    if limit is not None:
        found = found[:limit]
    return await _describe(session, found)


async def _describe(session: AsyncSession, found: list[_Found]) -> list[StuckRun]:
    if not found:
        return []
    contact_ids = sorted({run.contact_id for run, *_ in found})
    contacts: dict[int, Contact] = {}
    for chunk in _chunks(contact_ids):
        for contact in await session.scalars(select(Contact).where(Contact.id.in_(chunk))):
            contacts[contact.id] = contact
    version_ids = sorted({run.funnel_version_id for run, *_ in found})
    versions: dict[int, tuple[int, int, str, dict[str, str]]] = {}
    for chunk in _chunks(version_ids):
        rows = await session.execute(
            select(
                FunnelVersion.id,
                FunnelVersion.funnel_id,
                FunnelVersion.version,
                Funnel.name,
                FunnelVersion.document_json,
            )
            .join(Funnel, Funnel.id == FunnelVersion.funnel_id)
            .where(FunnelVersion.id.in_(chunk))
        )
        for version_id, funnel_id, version, name, document in rows.all():
            versions[version_id] = (funnel_id, version, name, node_titles(document))
    out = []
    for run, reason, since, mark, detail, outbox_id in found:
        contact = contacts[run.contact_id]
        funnel_id, version, name, titles = versions[run.funnel_version_id]
        out.append(
            StuckRun(
                run_id=run.id,
                reason=reason,
                since=since,
                mark=mark,
                detail=detail,
                contact_id=contact.id,
                telegram_user_id=contact.telegram_user_id,
                first_name=contact.first_name,
                last_name=contact.last_name,
                username=contact.username,
                funnel_id=funnel_id,
                funnel=name,
                version=version,
                funnel_version_id=run.funnel_version_id,
                node_id=run.node_id,
                node=titles.get(run.node_id, run.node_id[:8]),
                status=run.status.value,
                channel_id=run.triggered_by_channel_id,
                outbox_id=outbox_id,
            )
        )
    return out


def overdue_text(late: timedelta) -> str:
    """«20 мин», «3 ч 5 мин», «12 дн.»: how late a timer is."""
    minutes = int(late.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} мин"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} ч {rest} мин" if rest else f"{hours} ч"
    return f"{minutes // (24 * 60)} дн."


def node_titles(document: str) -> dict[str, str]:
    """Node id → the title staff see (its title, else its type's Russian title)."""
    try:
        from graph.loading import load_funnel

        return {str(n.id): n.display_title() for n in load_funnel(document).nodes}
    except Exception:  # an unreadable document still names its nodes if it can
        try:
            nodes = json.loads(document).get("nodes", [])
        except (ValueError, AttributeError):
            return {}
        return {
            str(n["id"]): str(n.get("title") or n.get("type") or "")
            for n in nodes
            if isinstance(n, dict) and n.get("id")
        }


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# --- telling the admins ---------------------------------------------------------------------


def notification_text(stuck: StuckRun, tz: ZoneInfo) -> str:
    """The notification's Russian text for a stuck run."""
    step = f"на шаге «{stuck.node}» робота «{stuck.funnel}»"
    if stuck.reason is StuckReason.TIMER_OVERDUE:
        due = stuck.since.astimezone(tz).strftime("%d.%m.%Y %H:%M")
        return (
            f"{stuck.who} застрял(а) {step}: таймер должен был сработать {due} "
            f"(опаздывает на {stuck.detail}). Переведите контакт на нужный шаг вручную."
        )
    if stuck.reason is StuckReason.RUN_FAILED:
        error = f": {stuck.detail}" if stuck.detail else ""
        return (
            f"Робот «{stuck.funnel}» остановился с ошибкой у контакта {stuck.who} на шаге "
            f"«{stuck.node}»{error}. Исправьте робота и переведите контакт на нужный шаг."
        )
    error = f" ({stuck.detail})" if stuck.detail else ""
    return (
        f"{stuck.who} ждёт {step}, но последнее сообщение робота не дошло{error}. "
        "Проверьте и переведите контакт на нужный шаг вручную."
    )


async def check_stuck(
    engine: ProjectEngine,
    *,
    now: datetime | None = None,
    after: timedelta = STUCK_AFTER,
    started_at: datetime | None = None,
) -> WatchdogRound:
    """One watchdog pass over a project (see the module doc); one transaction. On
    PostgreSQL the processes of a cluster take turns (a transaction advisory lock), so two
    never raise the same notification."""
    now = now or engine.clock.now()
    reasons = set(StuckReason)
    if started_at is not None and now - after < started_at:
        reasons.discard(StuckReason.TIMER_OVERDUE)  # the timer loop is still catching up
    result = WatchdogRound()
    async with engine.transaction() as session:
        if not engine.is_sqlite:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("stuck-watchdog")}
            )
        stuck = await find_stuck(session, now, after=after, reasons=reasons)
        result.stuck = stuck
        current = {(s.run_id, s.reason.value): s for s in stuck}
        seen: set[tuple[int | None, str]] = set()  # (run, reason): one is unresolved
        marks: set[tuple[int | None, str, str]] = set()  # occurrences already told
        to_resolve: list[int] = []
        known = select(Notification.id, Notification.run_id, Notification.details).where(
            Notification.kind == NotificationKind.STUCK_CONTACT
        )
        rows: list[Any] = list(
            (await session.execute(known.where(Notification.resolved_at.is_(None)))).all()
        )
        unresolved_ids = {row[0] for row in rows}
        run_ids = sorted({s.run_id for s in stuck})
        for chunk in _chunks(run_ids):
            for row in (
                await session.execute(
                    known.where(
                        Notification.run_id.in_(chunk), Notification.resolved_at.is_not(None)
                    )
                )
            ).all():
                rows.append(row)
        for notification_id, run_id, details in rows:
            details = details or {}
            reason = str(details.get("reason") or "")
            run: int | None = run_id if run_id is not None else details.get("run_id")
            marks.add((run, reason, str(details.get("mark") or "")))
            if notification_id not in unresolved_ids:
                continue
            if (run, reason) in current:
                seen.add((run, reason))
            elif reason in reasons or run is None:
                to_resolve.append(notification_id)
        new_rows: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for key, s in current.items():
            if key in seen or (s.run_id, s.reason.value, s.mark) in marks:
                continue
            body = notification_text(s, engine.tz)
            details = {
                "run_id": s.run_id,
                "reason": s.reason.value,
                "mark": s.mark,
                "funnel": s.funnel,
                "funnel_id": s.funnel_id,
                "node": s.node,
                "node_id": s.node_id,
                "since": s.since.isoformat(),
                "detail": s.detail,
            }
            if s.outbox_id is not None:
                details["outbox_id"] = s.outbox_id
            new_rows.append(
                {
                    "kind": NotificationKind.STUCK_CONTACT,
                    "contact_id": s.contact_id,
                    "run_id": s.run_id,
                    "channel_id": s.channel_id,
                    "text": body,
                    "details": details,
                    "created_at": now,
                }
            )
            history.append(
                {
                    "contact_id": s.contact_id,
                    "at": now,
                    "kind": "notification",
                    "run_id": s.run_id,
                    "funnel_version_id": s.funnel_version_id,
                    "node_id": s.node_id,
                    "channel_id": s.channel_id,
                    "actor": "engine",
                    "details": {
                        "notification": NotificationKind.STUCK_CONTACT.value,
                        "text": body,
                        "reason": s.reason.value,
                    },
                }
            )
        if new_rows:
            created = await session.execute(
                insert(Notification).returning(Notification.id), new_rows
            )
            result.raised = sorted(int(i) for i in created.scalars())
            await session.execute(insert(HistoryEvent), history)
        if to_resolve:
            for chunk in _chunks(sorted(to_resolve)):
                await session.execute(
                    update(Notification)
                    .where(Notification.id.in_(chunk), Notification.resolved_at.is_(None))
                    .values(resolved_at=now, resolved_by=WATCHDOG_ACTOR)
                )
            result.resolved = sorted(to_resolve)
    return result


class StuckWatchdog:
    """The daemon's task: :func:`check_stuck` every ``every`` seconds (engine clock)."""

    def __init__(
        self,
        engine: ProjectEngine,
        *,
        every: float = 60.0,
        after: timedelta = STUCK_AFTER,
        started_at: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.every = every
        self.after = after
        self.started_at = started_at or engine.clock.now()
        self.stuck = 0
        self.raised = 0
        self.last_check_at: datetime | None = None
        self.last_error: str | None = None

    async def tick(self) -> WatchdogRound:
        result = await check_stuck(self.engine, after=self.after, started_at=self.started_at)
        self.stuck = len(result.stuck)
        self.raised += len(result.raised)
        self.last_check_at = self.engine.clock.now()
        self.last_error = None
        if result.raised:
            log.warning(
                "%d stuck contact(s) found: the admins are notified",
                len(result.raised),
                extra={"project": self.engine.project},
            )
        return result

    async def run(self) -> None:
        clock = self.engine.clock
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("stuck contacts check failed", extra={"project": self.engine.project})
            await clock.sleep_until(clock.now() + timedelta(seconds=self.every))

    def health(self) -> dict[str, Any]:
        return {
            "stuck": self.stuck,
            "raised": self.raised,
            "last_check_at": self.last_check_at.isoformat() if self.last_check_at else None,
            "last_error": self.last_error,
        }


__all__ = [
    "REASON_TITLES",
    "STUCK_AFTER",
    "StuckReason",
    "StuckRun",
    "StuckWatchdog",
    "WatchdogRound",
    "check_stuck",
    "find_stuck",
    "node_titles",
    "notification_text",
]
