"""Running funnels against the simulated Telegram with virtual time.

:class:`Harness` wires a :class:`ProjectEngine`, an :class:`OutboxSender` and a
:class:`connectors.simulator.SimulatedTelegram` (one simulated connector per channel of the
project, channel ids = database ids) on a :class:`VirtualClock`: every event is handled and
its messages delivered before the scripted step returns; :meth:`Harness.advance` moves
time deadline by deadline so each timer fires at its own moment.

:func:`run_scenario` plays an :mod:`engine.scenario` file. It never touches a real
project's data: it builds a throw-away SQLite project (channels, tags, products and the
live funnel versions copied from the named project, and/or funnels from files).
"""

from __future__ import annotations

import asyncio
import difflib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from connectors.base import Connector
from connectors.simulator import Direction, SimulatedTelegram, TranscriptEntry
from db.models import (
    LIVE_RUN_STATUSES,
    Channel,
    ChannelKind,
    Contact,
    ContactTag,
    Funnel,
    FunnelVersion,
    HistoryEvent,
    Notification,
    Product,
    Purchase,
    Run,
    Tag,
    Variable,
)
from db.models.channels import BotRole
from db.workspace import Project, Workspace
from engine import events as ev
from engine import flows
from engine.clock import VirtualClock
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import BucketSpec, RateLimiter, RateLimits
from engine.scenario import (
    ContactPressesStep,
    ContactSaysStep,
    ContactStartsStep,
    Expectations,
    ExpectStep,
    ManagerSaysStep,
    Scenario,
    StaffAddTagStep,
    StaffMoveStep,
    StaffRemoveTagStep,
    StaffRestartStep,
    StaffRollbackStep,
    StaffStep,
    StaffStopStep,
    WaitStep,
)
from graph.loading import dump_funnel, load_funnel

BYSTANDER_IDS = 9_000_000_000
"""Telegram user ids of ``crowd`` bystanders start above this (no real scenario uses them)."""
SIMULATION_LIMITS = RateLimits(
    per_channel=BucketSpec(rate=1000.0, burst=1000.0),
    per_private_chat=BucketSpec(rate=1000.0, burst=1000.0),
    per_group=BucketSpec(rate=1000.0, burst=1000.0),
)
"""Telegram's limits would spread a funnel's burst over virtual seconds; a scenario checks
the funnel, not the limiter, so the simulator sends at once."""


@dataclass(frozen=True)
class SimulatedRun:
    """A run as a scenario sees it."""

    id: int
    funnel: str
    node_id: str
    node: str
    status: str
    live: bool

    def __str__(self) -> str:
        return f"{self.funnel} @ {self.node} [{self.status}]"


class StaffStepError(RuntimeError):
    """A staff step cannot be done (no such run, contact, node…); names what is missing."""


class Harness:
    def __init__(
        self,
        engine: ProjectEngine,
        world: SimulatedTelegram,
        sender: OutboxSender,
        clock: VirtualClock,
        *,
        crowd: bool = False,
    ) -> None:
        self.engine = engine
        self.world = world
        self.sender = sender
        self.clock = clock
        self.crowd = crowd
        self._bystanders = 0

    @classmethod
    async def open(
        cls,
        workspace: Workspace,
        project: Project,
        clock: VirtualClock,
        *,
        limits: RateLimits = SIMULATION_LIMITS,
        crowd: bool = False,
    ) -> Harness:
        db = await workspace.open_project_db(project)
        engine = ProjectEngine(db, project=project.name, timezone=project.timezone, clock=clock)
        await engine.start()
        world = SimulatedTelegram(clock, project=project.name)
        connectors: dict[int, Connector] = {}
        for channel in engine.channels.values():
            conn: Connector
            if channel.is_bot:
                conn = world.add_bot(channel.ref.name, channel_id=str(channel.id))
            else:
                conn = world.add_manager_account(channel.ref.name, channel_id=str(channel.id))
            connectors[channel.id] = conn
        sender = OutboxSender(engine, connectors, limiter=RateLimiter(limits))
        harness = cls(engine, world, sender, clock, crowd=crowd)
        for conn in connectors.values():
            await conn.start(harness)
        await sender.recover()
        return harness

    async def close(self) -> None:
        await self.engine.db.dispose()

    async def submit(self, event: ev.Event) -> None:
        if self.crowd and not isinstance(event, ev.TimerDue):
            await asyncio.gather(
                self.engine.handle(event), self.engine.handle(self._bystander(event))
            )
        else:
            await self.engine.handle(event)
        await self.settle()

    def _bystander(self, event: ev.Event) -> ev.Event:
        """Another contact's event with no effect but a history line, handed in together
        with ``event`` so both share one group-commit batch (``crowd``)."""
        self._bystanders += 1
        return ev.StaffAction(
            channel=event.channel,
            contact=ev.ContactIdentity(user_id=BYSTANDER_IDS + self._bystanders),
            occurred_at=event.occurred_at,
            staff_user="crowd",
            action="nothing",
        )

    async def settle(self) -> None:
        """Fire what is due now and deliver every message that may go now."""
        for _ in range(100):
            fired = await self.engine.run_due_timers()
            sent = await self.sender.flush()
            if not fired and not sent.attempted:
                return

    async def advance(self, delta: timedelta) -> None:
        target = self.clock.now() + delta
        await self.settle()
        while True:
            due = await self.engine.next_due()
            outbox = (await self.sender.send_round()).next_at
            candidates = [t for t in (due, outbox) if t is not None and t <= target]
            if not candidates:
                break
            self.clock.set(max(self.clock.now(), min(candidates)))
            await self.settle()
        self.clock.set(target)
        await self.settle()

    async def contact_id(self, user_id: int) -> int | None:
        """The database id of the contact with this Telegram user id (None: never seen)."""
        async with self.engine.db.sessions() as session:
            found = await session.scalar(
                select(Contact.id).where(Contact.telegram_user_id == user_id)
            )
        return found

    async def runs_of(self, contact_id: int) -> list[SimulatedRun]:
        """The contact's runs, oldest first, with their funnel and node titles."""
        async with self.engine.db.sessions() as session:
            runs = (
                await session.scalars(
                    select(Run).where(Run.contact_id == contact_id).order_by(Run.id)
                )
            ).all()
            found = []
            for run in runs:
                cf = await self.engine.compiled(session, run.funnel_version_id)
                found.append(
                    SimulatedRun(
                        id=run.id,
                        funnel=cf.name,
                        node_id=run.node_id,
                        node=cf.title(run.node_id),
                        status=run.status.value,
                        live=run.status in LIVE_RUN_STATUSES,
                    )
                )
        return found

    def channel_name(self, role_or_name: str) -> str:
        """A simulated channel's username/name by bot role or manager name."""
        for channel in self.engine.channels.values():
            if channel.role == role_or_name or channel.name == role_or_name:
                return channel.ref.name
        return role_or_name


# --- scenario runner ----------------------------------------------------------------


@dataclass
class ScenarioOutcome:
    transcript: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


async def _copy_project(
    source_ws: Workspace | None,
    scenario: Scenario,
    target_ws: Workspace,
) -> Project:
    zone = scenario.time_zone
    source: Project | None = None
    if scenario.project is not None:
        if source_ws is None:
            raise LookupError("the scenario names a project but no workspace was given")
        source = await source_ws.get_project(scenario.project)
        zone = zone or source.timezone
    project = await target_ws.create_project("Симуляция", timezone=zone or "Europe/Moscow")
    db = await target_ws.open_project_db(project)
    try:
        async with db.sessions() as session, session.begin():
            roles_done: set[str] = set()
            managers_done: set[str] = set()
            if source is not None:
                src = await source_ws.open_project_db(source)  # type: ignore[union-attr]
                try:
                    async with src.sessions() as s:
                        channels = (await s.scalars(select(Channel).order_by(Channel.id))).all()
                        tags = (await s.scalars(select(Tag.name))).all()
                        products = (await s.scalars(select(Product.name))).all()
                        funnels = (await s.scalars(select(Funnel).order_by(Funnel.id))).all()
                        versions = {
                            f.id: await s.scalar(
                                select(FunnelVersion)
                                .where(FunnelVersion.funnel_id == f.id)
                                .order_by(FunnelVersion.version.desc())
                                .limit(1)
                            )
                            for f in funnels
                        }
                finally:
                    await src.dispose()
                for c in channels:
                    role = c.role.value if c.role else None
                    username = c.username
                    if c.kind is ChannelKind.BOT and role in scenario.bots:
                        username = scenario.bots[role]
                    if c.kind is ChannelKind.BOT and not username:
                        username = f"sim{c.id}_bot"
                    session.add(
                        Channel(
                            kind=c.kind,
                            name=c.name,
                            role=c.role,
                            username=username,
                            group_name=c.group_name,
                            is_main=c.is_main,
                        )
                    )
                    if role:
                        roles_done.add(role)
                    if c.kind is ChannelKind.MANAGER_ACCOUNT:
                        managers_done.add(c.name)
                session.add_all(Tag(name=t) for t in tags)
                session.add_all(Product(name=p) for p in products)
                for f in funnels:
                    version = versions[f.id]
                    if version is None or not f.enabled:
                        continue
                    nf = Funnel(name=f.name, folder=f.folder, draft_json=f.draft_json)
                    session.add(nf)
                    await session.flush()
                    session.add(
                        FunnelVersion(
                            funnel_id=nf.id, version=1, document_json=version.document_json
                        )
                    )
            for role, username in scenario.bots.items():
                if role not in roles_done:
                    known = role if role in {r.value for r in BotRole} else "other"
                    session.add(
                        Channel(
                            kind=ChannelKind.BOT,
                            name=f"{role} bot",
                            role=BotRole(known),
                            username=username,
                            group_name=role,
                        )
                    )
            for name in scenario.managers:
                if name not in managers_done:
                    session.add(Channel(kind=ChannelKind.MANAGER_ACCOUNT, name=name))
            await session.flush()
            for path in scenario.funnels:
                doc = load_funnel(Path(path).read_text(encoding="utf-8"))
                existing = await session.scalar(select(Funnel).where(Funnel.name == doc.name))
                if existing is not None:
                    existing.enabled = False
                text = dump_funnel(doc)
                nf = Funnel(
                    name=doc.name + ("" if existing is None else " (файл)"), draft_json=text
                )
                session.add(nf)
                await session.flush()
                session.add(FunnelVersion(funnel_id=nf.id, version=1, document_json=text))
    finally:
        await db.dispose()
    return project


def _fmt_entry(entry: TranscriptEntry, tz: ZoneInfo, who: str) -> str:
    at = entry.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    channel = entry.channel.name
    if entry.direction is Direction.TO_CONTACT:
        arrow = f"{channel} → {who}"
    elif entry.direction is Direction.FROM_MANAGER:
        arrow = f"{channel} (менеджер) → {who}"
    else:
        arrow = f"{who} → {channel}"
    text = entry.text.replace("\n", " ⏎ ")
    extra = []
    if entry.button_texts():
        extra.append("кнопки: " + " | ".join(entry.button_texts()))
    if entry.reply_keyboard:
        extra.append("клавиатура: " + " | ".join(t for row in entry.reply_keyboard for t in row))
    if entry.protect_content:
        extra.append("защищено")
    if entry.media:
        extra.append("медиа: " + ", ".join(m.kind for m in entry.media))
    tail = f"  [{'; '.join(extra)}]" if extra else ""
    return f"[{at}] {arrow}: {text}{tail}"


class ScenarioRunner:
    def __init__(self, scenario: Scenario, harness: Harness, tz: ZoneInfo) -> None:
        self.s = scenario
        self.h = harness
        self.tz = tz
        self.outcome = ScenarioOutcome()
        self._printed: dict[tuple[str, int], int] = {}
        self._checked: dict[tuple[str, int], int] = {}
        self.names = {spec.user_id: alias for alias, spec in scenario.contacts.items()}

    def _log_new(self) -> None:
        world = self.h.world
        new: list[tuple[datetime, str]] = []
        for conn in world.connectors:
            for spec in self.s.contacts.values():
                entries = world.transcript(conn.channel, spec.user_id)
                key = (conn.channel.key, spec.user_id)
                for entry in entries[self._printed.get(key, 0) :]:
                    new.append((entry.at, _fmt_entry(entry, self.tz, self.names[spec.user_id])))
                self._printed[key] = len(entries)
        new.sort(key=lambda x: x[0])
        self.outcome.transcript.extend(line for _, line in new)

    def _channel(self, bot: str | None, account: str | None) -> str:
        if bot is not None:
            return self.s.bots.get(bot) or self.h.channel_name(bot)
        assert account is not None
        return self.h.channel_name(account)

    async def run(self) -> ScenarioOutcome:
        for spec in self.s.contacts.values():
            self.h.world.add_contact(
                ev.ContactIdentity(
                    user_id=spec.user_id,
                    first_name=spec.first_name,
                    last_name=spec.last_name,
                    username=spec.username,
                    language_code=spec.language,
                )
            )
        for step in self.s.steps:
            try:
                await self._step(step)
            except Exception as exc:
                self.outcome.failures.append(f"{step.where}: {type(exc).__name__}: {exc}")
                self._log_new()
                break
            self._log_new()
        return self.outcome

    async def _step(self, step: Any) -> None:
        world = self.h.world
        if isinstance(step, ContactSaysStep):
            uid = self.s.contacts[step.contact].user_id
            await world.contact_says(self._channel(step.bot, step.account), uid, step.says)
        elif isinstance(step, ContactStartsStep):
            uid = self.s.contacts[step.contact].user_id
            await world.contact_starts(self._channel(step.bot, None), uid, step.start)
        elif isinstance(step, ContactPressesStep):
            uid = self.s.contacts[step.contact].user_id
            await world.press_button(self._channel(step.bot, step.account), uid, step.presses)
        elif isinstance(step, ManagerSaysStep):
            uid = self.s.contacts[step.to].user_id
            await world.manager_says(self._channel(None, step.manager), uid, step.says)
        elif isinstance(step, WaitStep):
            await self.h.advance(step.wait)
            self.outcome.transcript.append(
                f"… прошло {step.wait}, теперь "
                f"{self.h.clock.now().astimezone(self.tz):%Y-%m-%d %H:%M}"
            )
        elif isinstance(step, ExpectStep):
            self._log_new()
            await self._expect(step, step.expect)
        elif isinstance(step, StaffStep):
            self._log_new()
            await self._staff(step)

    async def _staff(self, step: StaffStep) -> None:
        """Do a staff action through engine.flows, then let its effects happen."""
        engine, actor = self.h.engine, f"staff:{step.staff}"
        uid = self.s.contacts[step.contact].user_id
        contact_id = await self.h.contact_id(uid)
        if contact_id is None:
            raise StaffStepError(f"{step.contact} has not contacted any channel yet")
        runs = await self.h.runs_of(contact_id)
        what: str
        if isinstance(step, StaffAddTagStep | StaffRemoveTagStep):
            adding = isinstance(step, StaffAddTagStep)
            tag = step.add_tag if isinstance(step, StaffAddTagStep) else step.remove_tag
            action = flows.staff_add_tag if adding else flows.staff_remove_tag
            changed = await action(engine, contact_id, tag, actor=actor, reason=step.reason)
            what = f"тег {'+' if adding else '−'}{tag}" + ("" if changed else " (без изменений)")
        elif isinstance(step, StaffMoveStep):
            run = _pick_run(step, runs, step.funnel, live_only=step.funnel is None)
            try:
                await flows.move_run(engine, run.id, step.move_to, actor=actor, reason=step.reason)
            except flows.StaffActionError as exc:
                raise StaffStepError(f"move_to: {exc}") from None
            what = f"перевод «{run.funnel}» с «{run.node}» на «{step.move_to}»"
        elif isinstance(step, StaffStopStep):
            run = _pick_run(step, runs, step.stop_run, live_only=True)
            await flows.stop_run(engine, run.id, actor=actor, reason=step.reason)
            what = f"остановка «{run.funnel}» на «{run.node}»"
        elif isinstance(step, StaffRestartStep):
            run = _pick_run(step, runs, step.restart_run, live_only=False)
            await flows.restart_run(engine, run.id, actor=actor, reason=step.reason)
            what = f"перезапуск «{run.funnel}»"
        else:
            assert isinstance(step, StaffRollbackStep)
            run = _pick_run(step, runs, step.roll_back, live_only=False)
            plan = await flows.rollback_apply(engine, run.id, actor=actor, reason=step.reason)
            undone = [f"возобновлено: {r['funnel']} @ {r['node']}" for r in plan.resume_runs]
            undone += [f"снят тег: {t}" for t in plan.remove_tags]
            undone += [f"отозвано ссылок: {len(plan.revoke_links)}"] if plan.revoke_links else []
            what = f"откат «{run.funnel}»" + (f" ({'; '.join(undone)})" if undone else "")
        at = self.h.clock.now().astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")
        reason = f" — {step.reason}" if step.reason else ""
        self.outcome.transcript.append(
            f"[{at}] сотрудник {step.staff} → {step.contact}: {what}{reason}"
        )
        await self.h.settle()

    async def _expect(self, step: ExpectStep, exp: Expectations) -> None:
        fails: list[str] = []
        assert exp.contact is not None
        uid = self.s.contacts[exp.contact].user_id
        if exp.checks_messages:
            fails += self._check_messages(exp, uid)
        async with self.h.engine.db.sessions() as session:
            contact = await session.scalar(select(Contact).where(Contact.telegram_user_id == uid))
            cid = contact.id if contact else -1
            if exp.tags is not None:
                have = set(
                    (
                        await session.scalars(
                            select(Tag.name)
                            .join(ContactTag, ContactTag.tag_id == Tag.id)
                            .where(ContactTag.contact_id == cid)
                        )
                    ).all()
                )
                for t in exp.tags.present:
                    if t not in have:
                        fails.append(f"tag {t!r} expected, contact has {sorted(have)}")
                for t in exp.tags.absent:
                    if t in have:
                        fails.append(f"tag {t!r} must be absent, contact has {sorted(have)}")
            if exp.runs is not None:
                runs = (
                    await session.scalars(select(Run).where(Run.contact_id == cid).order_by(Run.id))
                ).all()
                described = []
                for r in runs:
                    cf = await self.h.engine.compiled(session, r.funnel_version_id)
                    described.append((cf.name, r.node_id, cf.title(r.node_id), r.status.value))
                for want in exp.runs:
                    if not any(
                        (want.funnel is None or want.funnel == name)
                        and (
                            want.node is None
                            or want.node in (title, nid)
                            or nid.startswith(want.node)
                        )
                        and (want.status is None or want.status.value == status)
                        for name, nid, title, status in described
                    ):
                        have_s = (
                            "; ".join(f"{n} @ {t} [{s}]" for n, _, t, s in described) or "no runs"
                        )
                        fails.append(
                            f"run {want.model_dump(exclude_none=True, mode='json')} not found; runs: {have_s}"
                        )
            if exp.purchases is not None:
                rows = (
                    (
                        await session.execute(
                            select(Product.name)
                            .join(Purchase, Purchase.product_id == Product.id)
                            .where(Purchase.contact_id == cid)
                        )
                    )
                    .scalars()
                    .all()
                )
                for want_p in exp.purchases:
                    n = rows.count(want_p.product)
                    if (want_p.count is None and n == 0) or (
                        want_p.count is not None and n != want_p.count
                    ):
                        fails.append(
                            f"purchases of {want_p.product!r}: {n} (expected "
                            f"{want_p.count if want_p.count is not None else '≥1'})"
                        )
            if exp.notifications is not None:
                notes = (
                    await session.scalars(
                        select(Notification).where(Notification.contact_id == cid)
                    )
                ).all()
                for want_n in exp.notifications:
                    n = sum(
                        1
                        for x in notes
                        if want_n.kind in (x.kind.value, (x.details or {}).get("node_kind"))
                    )
                    if (want_n.count is None and n == 0) or (
                        want_n.count is not None and n != want_n.count
                    ):
                        kinds = sorted({x.kind.value for x in notes})
                        fails.append(
                            f"notifications {want_n.kind!r}: {n} (expected "
                            f"{want_n.count if want_n.count is not None else '≥1'}; have {kinds})"
                        )
            if exp.variables is not None:
                values = {
                    v.name: v.value
                    for v in (
                        await session.scalars(select(Variable).where(Variable.contact_id == cid))
                    ).all()
                }
                for name, want_v in exp.variables.items():
                    got = values.get(name)
                    if (got is None and want_v is not None) or (
                        got is not None and str(got) != str(want_v)
                    ):
                        fails.append(f"variable {name!r} = {got!r}, expected {want_v!r}")
            if exp.history is not None:
                entries = (
                    await session.execute(
                        select(HistoryEvent.kind, HistoryEvent.actor)
                        .where(HistoryEvent.contact_id == cid)
                        .order_by(HistoryEvent.id)
                    )
                ).all()
                for want_h in exp.history:
                    n = sum(1 for kind, actor in entries if want_h.matches(kind, actor))
                    if (want_h.count is None and n == 0) or (
                        want_h.count is not None and n != want_h.count
                    ):
                        shown = ", ".join(f"{k} by {a}" for k, a in entries[-12:]) or "nothing"
                        fails.append(
                            f"history {want_h.model_dump(exclude_none=True)}: {n} entries "
                            f"(expected {want_h.count if want_h.count is not None else '≥1'}); "
                            f"latest: {shown}"
                        )
        for f in fails:
            self.outcome.failures.append(f"{step.where}: {f}")

    def _check_messages(self, exp: Expectations, uid: int) -> list[str]:
        name = self._channel(exp.bot, exp.account)
        conn = self.h.world.connector(name)
        received = self.h.world.received(conn.channel, uid)
        key = (conn.channel.key, uid)
        new = received[self._checked.get(key, 0) :]
        self._checked[key] = len(received)
        fails = []
        shown = (
            "\n      ".join(
                f"{i + 1}. {e.text[:120]!r} {e.button_texts() or ''}" for i, e in enumerate(new)
            )
            or "(nothing)"
        )
        where = f"{exp.contact} in {name}"
        if exp.count is not None and len(new) != exp.count:
            fails.append(f"{where}: {len(new)} new messages, expected {exp.count}:\n      {shown}")
        if exp.messages is not None:
            pos = 0
            for want in exp.messages:
                found = None
                for i in range(pos, len(new)):
                    if _message_ok(want, new[i]):
                        found = i
                        break
                if found is None:
                    fails.append(
                        f"{where}: no message {want.model_dump(exclude_none=True)} "
                        f"(in order); got:\n      {shown}"
                    )
                    break
                pos = found + 1
            if exp.nothing_more and len(new) != len(exp.messages) and not fails:
                fails.append(
                    f"{where}: {len(new)} new messages, expected exactly "
                    f"{len(exp.messages)}:\n      {shown}"
                )
        return fails


def _pick_run(
    step: StaffStep, runs: list[SimulatedRun], funnel: str | None, *, live_only: bool
) -> SimulatedRun:
    """The contact's latest (live, if asked) run of ``funnel``; without a funnel, their
    only live run. Errors list the runs there are."""
    candidates = [
        r for r in runs if (funnel is None or r.funnel == funnel) and (r.live or not live_only)
    ]
    have = "; ".join(map(str, runs)) or "no runs"
    if funnel is None and len(candidates) != 1:
        raise StaffStepError(
            f"{step.contact} has {len(candidates)} live runs — say which with 'funnel: <name>' "
            f"(runs: {have})"
        )
    if not candidates:
        known = sorted({r.funnel for r in runs})
        hint = ""
        if funnel is not None and funnel not in known:
            close = difflib.get_close_matches(funnel, known, n=1, cutoff=0.6)
            hint = f" — did you mean {close[0]!r}?" if close else ""
        live = "live " if live_only else ""
        raise StaffStepError(
            f"{step.contact} has no {live}run of funnel {funnel!r}{hint} (runs: {have})"
        )
    return candidates[-1]


def _message_ok(want: Any, entry: TranscriptEntry) -> bool:
    text = entry.text
    if want.contains is not None and want.contains.casefold() not in text.casefold():
        return False
    if want.equals is not None and want.equals.strip() != text.strip():
        return False
    if want.regex is not None and not re.search(want.regex, text):
        return False
    if want.buttons is not None:
        shown = entry.button_texts() + [t for row in entry.reply_keyboard or () for t in row]
        if any(b not in shown for b in want.buttons):
            return False
    return not (want.protected is not None and entry.protect_content != want.protected)


async def run_scenario(
    scenario: Scenario,
    workspace: Workspace | None = None,
    *,
    on_line: Callable[[str], None] | None = None,
    crowd: bool = False,
) -> ScenarioOutcome:
    """Play ``scenario`` in a throw-away project; the source workspace is only read.

    ``crowd``: every event is handed in together with a bystander contact's event, so
    the scenario's events are handled in group-commit batches as under load (the batch
    reads its contacts' rows in bulk) — the outcome must be the same."""
    with tempfile.TemporaryDirectory(prefix="voronka-sim-") as tmp:
        sim_ws = await Workspace.open(tmp)
        try:
            project = await _copy_project(workspace, scenario, sim_ws)
            tz = ZoneInfo(project.timezone)
            start = scenario.start_time(tz) or datetime.now(UTC).replace(microsecond=0)
            clock = VirtualClock(start.astimezone(UTC))
            harness = await Harness.open(sim_ws, project, clock, crowd=crowd)
            try:
                outcome = await ScenarioRunner(scenario, harness, tz).run()
            finally:
                await harness.close()
        finally:
            await sim_ws.close()
    if on_line is not None:
        for line in outcome.transcript:
            on_line(line)
    return outcome
