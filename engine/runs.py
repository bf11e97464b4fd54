"""One transaction of the engine for one contact: runs, history, tags, variables.

A :class:`Tx` is created by :class:`engine.project_engine.ProjectEngine` for each event
(inside the per-contact lock and one database transaction). Everything an event causes —
runs started, resumed, advanced node by node, stopped; tags; variables; outbox rows;
notifications; history — goes through it, so it all commits or rolls back together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db.models import (
    LIVE_RUN_STATUSES,
    ContactChannel,
    ContactTag,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    Product,
    Purchase,
    Run,
    RunStatus,
    Tag,
    Variable,
    VariableRetention,
)
from db.models.contacts import Contact
from engine.funnel_index import CompiledFunnel, FunnelDefinitionError, TriggerNode
from graph.document import Reentry
from graph.nodes.triggers import TagAddedProps

if TYPE_CHECKING:
    from engine.project_engine import ChannelInfo, ProjectEngine

MAX_STEPS_PER_EVENT = 1000
"""A guard against loops without a waiting node: the run fails instead of spinning."""

ENGINE = "engine"

_RUNS: Any = Run.__table__

_CLAIM: Any = (
    update(_RUNS)
    .where(
        _RUNS.c.id == bindparam("b_id"),
        _RUNS.c.lock_version == bindparam("b_seen"),
        _RUNS.c.status.in_(LIVE_RUN_STATUSES),
    )
    .values(
        lock_version=bindparam("b_next"), status=RunStatus.ACTIVE, updated_at=bindparam("b_now")
    )
)
"""The compare-and-set of :meth:`Tx.claim`."""


@dataclass
class Records:
    """History, notification and outbox rows waiting to be inserted in bulk, in order.
    One per :class:`Tx`, or shared by the transactions of a batch (``deferred``:
    written by the batch's owner before commit, not at the end of each
    :meth:`Tx.drain`).

    Rows stay listed after they are written (``_written`` counts them per table), so a
    batch can :meth:`mark` before an event and :meth:`reset` to that mark when the
    event's SAVEPOINT was rolled back — rows of earlier events written during the failed
    event (e.g. by a sticky randomizer) were rolled back too and are written again."""

    history: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    deferred: bool = False
    _written: list[int] = field(default_factory=lambda: [0, 0, 0])

    def _tables(self) -> tuple[tuple[Any, list[dict[str, Any]]], ...]:
        return (
            (Notification, self.notifications),
            (HistoryEvent, self.history),
            (OutboxMessage, self.outbox),
        )

    async def write(self, session: AsyncSession) -> None:
        """Flush the session (new runs and channel rows the records refer to), then
        insert the buffered rows: one Core executemany per table."""
        await session.flush()
        connection = None
        for i, (model, rows) in enumerate(self._tables()):
            if len(rows) > self._written[i]:
                todo = rows[self._written[i] :]
                self._written[i] = len(rows)
                if connection is None:
                    connection = await session.connection()
                # a Core executemany on the table: no per-row ORM processing
                await connection.execute(insert(model.__table__), todo)

    def mark(self) -> tuple[tuple[int, int], ...]:
        return tuple((len(rows), self._written[i]) for i, (_, rows) in enumerate(self._tables()))

    def reset(self, mark: tuple[tuple[int, int], ...]) -> None:
        """Forget the rows recorded since ``mark`` (their transaction rolled back)."""
        for i, ((_, rows), (length, written)) in enumerate(zip(self._tables(), mark, strict=True)):
            del rows[length:]
            self._written[i] = min(self._written[i], written)


@dataclass
class ContactHint:
    """What a batch read in bulk about one contact before its event (see
    ``ProjectEngine._batch_hints``), so the event's :class:`Tx` needs no query of its own
    for it. Valid for the transaction that read it, while the contact is locked; only
    the event path uses it — staff flows (rollback, move, restart) query as they go,
    because they may make a stopped run live again, which :meth:`Tx.live_runs` would
    not see here."""

    channel_rows: dict[int, ContactChannel]
    variables: dict[str, Variable]
    tags: dict[str, ContactTag]
    live_runs: list[Run]
    """Runs live when the batch began (ORM objects: their status stays current)."""
    kept_funnels: frozenset[int]
    """Funnels the contact has a run of that was not rolled back (re-entry "once")..."""
    kept_known: frozenset[int] | None = None
    """...as far as these funnels go (the live "once" funnels; None: every funnel)."""

    @classmethod
    def new_contact(cls) -> ContactHint:
        """A contact the transaction created has none of these rows."""
        return cls({}, {}, {}, [], frozenset())

    def knows_kept(self, funnel_id: int) -> bool:
        return self.kept_known is None or funnel_id in self.kept_known


class StepError(RuntimeError):
    """A node cannot be executed for this contact (missing bot, unknown funnel…)."""


@dataclass(frozen=True)
class Go:
    port: str


@dataclass(frozen=True)
class Wait:
    awaiting: str
    due_at: datetime | None = None


@dataclass(frozen=True)
class Finish:
    reason: str = "end"


Outcome = Go | Wait | Finish


@dataclass
class Tx:
    engine: ProjectEngine
    session: AsyncSession
    now: datetime
    contact: Contact
    channel: ChannelInfo | None = None  # the channel the event came through
    actor: str = ENGINE
    steps: int = 0
    queue: list[tuple[Run, CompiledFunnel, str | None]] = field(default_factory=list)
    _vars: dict[str, Variable] | None = None
    _tags: dict[str, ContactTag] | None = None
    _tag_ids: dict[str, Tag] = field(default_factory=dict)
    started_runs: list[Run] = field(default_factory=list)
    wake_timers: bool = False
    queued_messages: int = 0
    records: Records = field(default_factory=Records)  # see write_records()
    hint: ContactHint | None = None
    """Read in bulk for a batch (see :meth:`use_hint`); None: query as needed."""
    _claimed: dict[int, Run] = field(default_factory=dict)
    flush_at_end: bool = True
    """:meth:`drain` flushes the session; a batch that flushes once itself (due timers:
    many runs' UPDATEs in one executemany) turns it off."""
    channel_rows: dict[int, Any] | None = None
    """The contact's ``contact_channels`` rows by channel id, read in bulk for a batch
    (None: not read; a missing key then means no row)."""
    _new_channel_rows: dict[int, ContactChannel] = field(default_factory=dict)

    def use_hint(self, hint: ContactHint) -> None:
        self.hint = hint
        self.channel_rows = hint.channel_rows
        self.preload(hint.variables, hint.tags)

    # --- the contact's channel rows -------------------------------------------------

    async def channel_row(self, channel_id: int) -> ContactChannel | None:
        """The contact's row in ``channel_id`` (None: never seen there)."""
        row = self._new_channel_rows.get(channel_id)
        if row is not None:
            return row
        if self.channel_rows is not None:
            return self.channel_rows.get(channel_id)
        return await self.session.get(ContactChannel, (self.contact.id, channel_id))

    def add_channel_row(self, row: ContactChannel) -> None:
        """A new row, inserted by the next flush (a batch flushes once: one executemany)."""
        self.session.add(row)
        self._new_channel_rows[row.channel_id] = row

    # --- history and notifications --------------------------------------------------

    def history(
        self,
        kind: str,
        run: Run | None = None,
        node_id: str | None = None,
        *,
        channel_id: int | None = None,
        actor: str | None = None,
        **details: Any,
    ) -> None:
        self.records.history.append(
            {
                "contact_id": self.contact.id,
                "at": self.now,
                "kind": kind,
                "run_id": run.id if run is not None else None,
                "funnel_version_id": run.funnel_version_id if run is not None else None,
                "node_id": node_id,
                "channel_id": channel_id,
                "actor": actor or self.actor,
                "details": details,
            }
        )

    def notify(
        self,
        kind: NotificationKind,
        text: str,
        run: Run | None = None,
        *,
        channel_id: int | None = None,
        **details: Any,
    ) -> None:
        self.records.notifications.append(
            {
                "kind": kind,
                "contact_id": self.contact.id,
                "run_id": run.id if run is not None else None,
                "channel_id": channel_id,
                "text": text,
                "details": details,
                "created_at": self.now,
            }
        )
        self.history("notification", run, channel_id=channel_id, notification=kind.value, text=text)

    async def write_records(self) -> None:
        """Insert the buffered history and notification rows, one statement per table
        (in the order they were recorded). :meth:`drain` calls it at the end of every
        transaction; call it before reading ``contact_history`` / ``notifications`` of
        this transaction."""
        await self.records.write(self.session)

    # --- variables ------------------------------------------------------------------

    async def variable_rows(self) -> dict[str, Variable]:
        if self._vars is None:
            # variable rows are only added / deleted through this cache, so nothing
            # pending needs flushing first (no autoflush of e.g. the run mid-step)
            with self.session.no_autoflush:
                rows = await self.session.scalars(
                    select(Variable).where(Variable.contact_id == self.contact.id)
                )
            self._vars = {v.name: v for v in rows}
        return self._vars

    def preload(self, variables: dict[str, Variable], tags: dict[str, ContactTag]) -> None:
        """The contact's variable and tag rows, read by the caller in this transaction
        (e.g. for a batch of timers at once) — instead of one query each on first use."""
        self._vars = variables
        self._tags = tags

    async def variables(self) -> dict[str, Any]:
        values = {name: v.value for name, v in (await self.variable_rows()).items()}
        values.setdefault("first_name", self.contact.first_name or "")
        values.setdefault("last_name", self.contact.last_name or "")
        values.setdefault("username", self.contact.username or "")
        return values

    async def set_variable(
        self,
        name: str,
        value: Any,
        run: Run | None = None,
        retention: VariableRetention = VariableRetention.KEEP,
        *,
        node_id: str | None = None,
    ) -> None:
        rows = await self.variable_rows()
        row = rows.get(name)
        if row is None:
            row = Variable(contact_id=self.contact.id, name=name)
            self.session.add(row)
            rows[name] = row
        row.value = value
        row.retention = retention
        row.updated_at = self.now
        row.updated_by_run_id = run.id if run is not None else None
        self.history("variable.set", run, node_id, name=name, value=value)

    # --- tags -----------------------------------------------------------------------

    async def tag_rows(self) -> dict[str, ContactTag]:
        if self._tags is None:
            with self.session.no_autoflush:  # as in variable_rows()
                rows = await self.session.execute(
                    select(Tag.name, ContactTag)
                    .join(ContactTag, ContactTag.tag_id == Tag.id)
                    .where(ContactTag.contact_id == self.contact.id)
                )
            self._tags = {name: ct for name, ct in rows.all()}
        return self._tags

    async def tag_names(self) -> set[str]:
        return set(await self.tag_rows())

    async def _tag(self, name: str) -> Tag:
        tag = self._tag_ids.get(name)
        if tag is None:
            tag = await self.session.scalar(select(Tag).where(Tag.name == name))
            if tag is None:
                tag = Tag(name=name, created_at=self.now)
                self.session.add(tag)
                await self.session.flush()
            self._tag_ids[name] = tag
        return tag

    async def add_tags(
        self, names: Iterable[str], run: Run | None = None, *, node_id: str | None = None
    ) -> list[str]:
        """Add tags the contact lacks; fires tag-added triggers. Returns the new ones."""
        rows = await self.tag_rows()
        added = []
        for name in names:
            if name in rows:
                continue
            tag = await self._tag(name)
            row = ContactTag(
                contact_id=self.contact.id,
                tag_id=tag.id,
                added_at=self.now,
                added_by_run_id=run.id if run is not None else None,
                added_by=self.actor,
            )
            self.session.add(row)
            rows[name] = row
            added.append(name)
            self.history("tag.added", run, node_id, tag=name)
        for name in added:
            for trigger in self.engine.index.triggers(TagAddedProps):
                props = trigger.props
                assert isinstance(props, TagAddedProps)
                if props.tag == name:
                    await self.fire(trigger, reason=f"tag {name}")
        return added

    async def remove_tags(
        self, names: Iterable[str], run: Run | None = None, *, node_id: str | None = None
    ) -> list[str]:
        rows = await self.tag_rows()
        removed = []
        for name in names:
            row = rows.pop(name, None)
            if row is None:
                continue
            await self.session.delete(row)
            removed.append(name)
            self.history("tag.removed", run, node_id, tag=name)
        return removed

    # --- products and purchases -----------------------------------------------------

    async def product(self, name: str) -> Product:
        product = await self.session.scalar(select(Product).where(Product.name == name))
        if product is None:
            product = Product(name=name, created_at=self.now)
            self.session.add(product)
            await self.session.flush()
        return product

    async def has_purchased(self, product_name: str) -> bool:
        found = await self.session.scalar(
            select(Purchase.id)
            .join(Product, Product.id == Purchase.product_id)
            .where(Purchase.contact_id == self.contact.id, Product.name == product_name)
            .limit(1)
        )
        return found is not None

    # --- runs -----------------------------------------------------------------------

    async def live_runs(self) -> list[Run]:
        """The contact's active and waiting runs, oldest first."""
        if self.hint is not None:
            # a run becomes live only by start_run() or claim() in the event path
            runs = {r.id: r for r in self.hint.live_runs}
            runs.update((r.id, r) for r in self.started_runs)
            runs.update(self._claimed)
            return sorted(
                (r for r in runs.values() if r.status in LIVE_RUN_STATUSES), key=lambda r: r.id
            )
        rows = await self.session.scalars(
            select(Run)
            .where(Run.contact_id == self.contact.id, Run.status.in_(LIVE_RUN_STATUSES))
            .order_by(Run.id)
        )
        return list(rows)

    async def fire(
        self, trigger: TriggerNode, *, reason: str, channel_id: int | None = None
    ) -> Run | None:
        """A trigger matched: start its funnel unless the re-entry setting refuses."""
        if channel_id is None and self.channel is not None:
            channel_id = self.channel.id
        return await self.start_run(
            trigger.funnel,
            trigger.entry,
            trigger_node=trigger.node_id,
            channel_id=channel_id,
            reason=reason,
        )

    async def reentry_refused(self, cf: CompiledFunnel) -> str | None:
        policy = cf.settings.reentry
        if policy is Reentry.ALWAYS:
            return None
        if self.hint is not None and (
            policy is not Reentry.ONCE or self.hint.knows_kept(cf.funnel_id)
        ):
            kept = cf.funnel_id in self.hint.kept_funnels or any(
                self.engine.funnel_of_version(r.funnel_version_id) == cf.funnel_id
                and not (r.context or {}).get("rolled_back")
                for r in self.started_runs
            )
            if policy is Reentry.ONCE and kept:
                return "once"
            for r in await self.live_runs():
                if (r.context or {}).get("rolled_back"):
                    continue
                if (await self.engine.compiled(self.session, r.funnel_version_id)).funnel_id == (
                    cf.funnel_id
                ):
                    return "active"
            return None
        from db.models import FunnelVersion

        runs = (
            await self.session.scalars(
                select(Run)
                .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                .where(Run.contact_id == self.contact.id, FunnelVersion.funnel_id == cf.funnel_id)
            )
        ).all()
        runs = [r for r in runs if not (r.context or {}).get("rolled_back")]
        if policy is Reentry.ONCE and runs:
            return "once"
        if any(r.status in LIVE_RUN_STATUSES for r in runs):
            return "active"
        return None

    async def start_run(
        self,
        cf: CompiledFunnel,
        entry: str | None,
        *,
        trigger_node: str | None = None,
        channel_id: int | None = None,
        reason: str = "",
        ignore_reentry: bool = False,
        context: dict[str, Any] | None = None,
    ) -> Run | None:
        if not ignore_reentry:
            refused = await self.reentry_refused(cf)
            if refused is not None:
                self.history(
                    "trigger.refused",
                    None,
                    trigger_node,
                    funnel=cf.name,
                    funnel_version_id=cf.version_id,
                    policy=refused,
                    reason=reason,
                )
                if cf.settings.notify_already_fired:
                    self.notify(
                        NotificationKind.ALREADY_FIRED,
                        f"Воронка «{cf.name}» уже запускалась для контакта "
                        f"{_contact_name(self.contact)} — повторный запуск не выполнен.",
                        channel_id=channel_id,
                        funnel=cf.name,
                        reason=reason,
                    )
                return None
        bot = self.engine.contact_bot(cf, channel_id)
        values: dict[str, Any] = {
            "contact_id": self.contact.id,
            "funnel_version_id": cf.version_id,
            "node_id": entry or trigger_node or "",
            "status": RunStatus.ACTIVE,
            "due_at": None,
            "awaiting": None,
            "stopped_by_run_id": None,
            "stopped_at": None,
            "triggered_by_channel_id": channel_id,
            "triggered_by_message_id": None,
            "started_at": self.now,
            "updated_at": self.now,
            "finished_at": None,
            "lock_version": 0,
            "context": {
                "steps": 0,
                "bot_channel_id": bot.id if bot is not None else None,
                "trigger_node": trigger_node,
                **(context or {}),
            },
            "error": None,
        }
        # the id is allocated up front (history and outbox rows refer to it) and the row
        # is inserted by the next flush with its final state: a batch's new runs go in
        # one executemany, with no UPDATE after the INSERT
        run = Run(id=await self.engine.allocate_run_id(self.session), **values)
        self.session.add(run)
        self.started_runs.append(run)
        self.history(
            "run.started",
            run,
            trigger_node,
            channel_id=channel_id,
            funnel=cf.name,
            reason=reason,
        )
        self.queue.append((run, cf, entry))
        return run

    async def claim(self, run: Run, expected_version: int | None = None) -> bool:
        """Compare-and-set: take a waiting (or given) run to active. False if stale."""
        seen = run.lock_version if expected_version is None else expected_version
        if run in self.session.new or self.session.is_modified(run):
            # not inserted yet, or e.g. a finished run set back to waiting
            await self.session.flush()
        # a Core UPDATE (built once) on the session's connection: no ORM bulk-update
        # path and no autoflush of the other runs' pending changes
        connection = await self.session.connection()
        result = await connection.execute(
            _CLAIM, {"b_id": run.id, "b_seen": seen, "b_next": seen + 1, "b_now": self.now}
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        # the row changed behind the ORM's back: make that the loaded state, so later
        # assignments (e.g. back to "waiting") are seen as changes and flushed
        set_committed_value(run, "lock_version", seen + 1)
        set_committed_value(run, "status", RunStatus.ACTIVE)
        set_committed_value(run, "updated_at", self.now)
        self._claimed[run.id] = run
        return True

    async def resume(self, run: Run, port: str, *, why: str, **details: Any) -> bool:
        """A waiting run continues along ``port`` of its node (by compare-and-set)."""
        if not await self.claim(run):
            return False
        cf = await self.engine.compiled(self.session, run.funnel_version_id)
        self.history("run.resumed", run, run.node_id, port=port, why=why, **details)
        self.queue.append((run, cf, cf.target(run.node_id, port)))
        return True

    def jump(self, run: Run, cf: CompiledFunnel, node_id: str | None) -> None:
        """Continue an already claimed run at ``node_id`` (executing that node)."""
        self.queue.append((run, cf, node_id))

    async def ensure_inserted(self, run: Run) -> None:
        """Flush a run started in this transaction, so a row of the same table may refer
        to it (the unit of work writes a table's UPDATEs before its INSERTs)."""
        if run in self.session.new:
            await self.session.flush()

    def stop(self, run: Run, *, by_run: Run | None = None, reason: str = "") -> None:
        """Stop a live run; it keeps its node and due time so a rollback can resume it.
        A ``by_run`` started in this transaction must be inserted first
        (:meth:`ensure_inserted`)."""
        if by_run is not None and by_run in self.session.new:
            raise RuntimeError(f"run {by_run.id} stops others before it is inserted")
        run.status = RunStatus.STOPPED
        run.stopped_at = self.now
        run.stopped_by_run_id = by_run.id if by_run is not None else None
        run.lock_version += 1
        run.updated_at = self.now
        self.history(
            "run.stopped",
            run,
            run.node_id,
            by_run=by_run.id if by_run is not None else None,
            reason=reason,
        )

    def finish(self, run: Run, reason: str = "end") -> None:
        run.status = RunStatus.FINISHED
        run.finished_at = self.now
        run.due_at = None
        run.awaiting = None
        run.lock_version += 1
        run.updated_at = self.now
        self.history("run.finished", run, run.node_id, reason=reason)

    def fail(self, run: Run, error: str) -> None:
        run.status = RunStatus.FAILED
        run.error = error
        run.finished_at = self.now
        run.due_at = None
        run.lock_version += 1
        run.updated_at = self.now
        self.history("run.failed", run, run.node_id, error=error)
        self.notify(
            NotificationKind.OTHER,
            f"Ошибка в воронке у контакта {_contact_name(self.contact)}: {error}",
            run,
            error=error,
        )

    async def drain(self) -> None:
        """Advance every queued run node by node until each waits or ends."""
        from engine.steps import execute

        while self.queue:
            run, cf, node_id = self.queue.pop(0)
            while True:
                if run.status not in LIVE_RUN_STATUSES:
                    break
                if node_id is None:
                    self.finish(run, "no_exit")
                    break
                self.steps += 1
                if self.steps > MAX_STEPS_PER_EVENT:
                    self.fail(
                        run,
                        f"more than {MAX_STEPS_PER_EVENT} steps in one event at node "
                        f"{cf.title(node_id)!r} — is there a loop without a wait?",
                    )
                    break
                if node_id not in cf.nodes:
                    self.fail(run, f"node {node_id} is not in funnel {cf.name!r}")
                    break
                count = int((run.context or {}).get("steps", 0)) + 1
                run.context = {**(run.context or {}), "steps": count}
                run.node_id = node_id
                run.status = RunStatus.ACTIVE
                run.due_at = None
                run.awaiting = None
                run.updated_at = self.now
                self.history("node.entered", run, node_id, title=cf.title(node_id))
                try:
                    outcome = await execute(self, run, cf, node_id)
                except (StepError, FunnelDefinitionError) as exc:
                    self.fail(run, str(exc))
                    break
                if isinstance(outcome, Go):
                    node_id = cf.target(node_id, outcome.port)
                    continue
                if isinstance(outcome, Wait):
                    run.status = RunStatus.WAITING
                    run.awaiting = outcome.awaiting
                    run.due_at = outcome.due_at
                    run.lock_version += 1
                    if outcome.due_at is not None:
                        self.wake_timers = True
                    self.history(
                        "run.waiting",
                        run,
                        node_id,
                        awaiting=outcome.awaiting,
                        due_at=outcome.due_at.isoformat() if outcome.due_at else None,
                    )
                    break
                if run.status in LIVE_RUN_STATUSES:
                    self.finish(run, outcome.reason)
                break
        if self.flush_at_end:
            await self.session.flush()
        if not self.records.deferred:
            await self.write_records()


def _contact_name(contact: Contact) -> str:
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    if contact.username:
        name = f"{name} @{contact.username}".strip()
    return name or str(contact.telegram_user_id)
