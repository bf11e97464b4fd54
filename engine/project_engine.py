"""The engine of one project: events in, runs advanced, outbox rows out (DESIGN: step loop).

``await engine.handle(event)`` processes one event for one contact: dedup by (channel,
update id), contact upsert (R12) and its per-channel status, waiting runs resolved (reply
/ button / arrival), triggers of the live funnel versions matched, every affected run
advanced until it waits or ends, history + outbox written — all or nothing. Group commit:
events handed in concurrently share one transaction (at most one event per contact; a
failing event rolls back alone, see :meth:`ProjectEngine._handle_batch`). Events are
handled in the order they were handed in; on SQLite one writer lock serialises the whole
project (SQLite has one writer anyway); on PostgreSQL the batch's contact rows are locked
with ``SELECT … FOR UPDATE`` (in user id order) so several engine processes may share the
database.

``await engine.run_due_timers()`` fires runs whose ``due_at`` passed, a batch per
transaction (compare-and-set on ``lock_version``, so a stale timer does nothing);
:meth:`timer_loop` does it forever. On PostgreSQL a batch is claimed with ``FOR UPDATE OF
contacts SKIP LOCKED``, so engine processes sharing the database never fire one timer
twice (:mod:`engine.cluster`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
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
    NotificationKind,
    PersonalLink,
    ProcessedUpdate,
    Product,
    Run,
    RunStatus,
    SubscriptionStatus,
    Tag,
    Variable,
    VariableRetention,
)
from db.project_database import ProjectDatabase
from engine import events as ev
from engine.clock import Clock, SystemClock, wait_until_or_event
from engine.funnel_index import CompiledFunnel, FunnelIndex
from engine.runs import ENGINE, ContactHint, Records, Tx
from engine.steps import (
    ARRIVAL_PREFIX,
    AWAIT_BUTTON,
    AWAIT_REPLY,
    AWAIT_RESUME,
    TIMEOUT_PORTS,
    parse_callback_data,
    reply_port,
)
from graph.document import Reentry
from graph.nodes.message import MessageProps
from graph.nodes.triggers import (
    BotArrivalProps,
    ContactKeywordProps,
    ManagerPhraseProps,
    PersonalLinkArrivalProps,
    StartProps,
)
from graph.ports import button_port

log = logging.getLogger(__name__)

EVENT_BATCH = 64
"""Events handled in one transaction at most (group commit; each in its SAVEPOINT)."""
INDEX_CHECK_INTERVAL = 1.0
"""Seconds between checks whether the live funnels changed (see ``invalidate()``)."""
TIMER_BATCH = 100
"""Due runs fired per transaction at most."""
TIMER_BATCH_SECONDS = 0.2
"""A timer transaction stops taking more due runs after this long."""


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    kind: ChannelKind
    role: str | None
    name: str
    username: str | None
    ref: ev.ChannelRef

    @property
    def is_bot(self) -> bool:
        return self.kind is ChannelKind.BOT


@dataclass
class _Lane:
    """Events waiting for one group-commit worker (see :meth:`ProjectEngine.handle`)."""

    queue: deque[tuple[ev.Event, asyncio.Future[HandleResult]]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


@dataclass
class HandleResult:
    """What one event did (for logs, tests and the simulator)."""

    duplicate: bool = False
    started: list[int] = field(default_factory=list)
    messages: int = 0
    ignored: str | None = None


def dedup_number(event: ev.Event) -> int:
    """The ``processed_updates.update_id`` of an event: Telegram's update id, or (for
    sources without one) a negative 63-bit hash of the event's natural dedup key."""
    if event.update_id is not None:
        return event.update_id
    digest = hashlib.sha256(event.dedup_key.encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


class ProjectEngine:
    def __init__(
        self,
        db: ProjectDatabase,
        *,
        project: str,
        timezone: str = "Europe/Moscow",
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.project = project
        self.tz = ZoneInfo(timezone)
        self.clock: Clock = clock or SystemClock()
        self.index = FunnelIndex()
        self._compiled: dict[int, CompiledFunnel] = {}
        self._index_stamp: tuple[Any, ...] | None = None
        self._index_checked = float("-inf")  # time.monotonic() of the last check
        self._index_generation = 0  # bumped by invalidate()
        self.channels: dict[int, ChannelInfo] = {}
        self._writer = asyncio.Lock()
        self._contact_locks: dict[int, asyncio.Lock] = {}
        self.timer_wakeup = asyncio.Event()
        self.outbox_wakeup = asyncio.Event()
        # one group-commit lane per process, on PostgreSQL too: a second lane halves the
        # batches and costs half as much CPU again per event (bench/bench_engine.py)
        self._lane = _Lane()
        # hot statements built once; values go in as parameters
        self._dedup_insert = self._insert(ProcessedUpdate.__table__).on_conflict_do_nothing(
            index_elements=["channel_id", "update_id"]
        )
        self._dedup_insert_returning = self._dedup_insert.returning(
            ProcessedUpdate.__table__.c.channel_id, ProcessedUpdate.__table__.c.update_id
        )
        self._contacts_insert_returning = (
            self._insert(Contact.__table__)
            .on_conflict_do_nothing(index_elements=["telegram_user_id"])
            .returning(Contact.__table__.c.telegram_user_id)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.db.dialect == "sqlite"

    # --- setup -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load channels and live funnels (call again after publishing or editing channels)."""
        async with self.db.sessions() as session:
            await self.reload(session)

    async def reload(self, session: AsyncSession) -> None:
        channels = (await session.scalars(select(Channel).order_by(Channel.id))).all()
        self.channels = {c.id: self._info(c) for c in channels}
        self._index_stamp = None
        await self._refresh_index(session, force=True)

    def invalidate(self) -> None:
        """Live funnels may have changed (a publish, a funnel enabled or disabled): the
        next event or timer checks the database again instead of waiting for the
        periodic check (:data:`INDEX_CHECK_INTERVAL`)."""
        self._index_checked = float("-inf")
        self._index_generation += 1

    def _info(self, channel: Channel) -> ChannelInfo:
        kind = ev.ChannelKind(channel.kind.value)
        return ChannelInfo(
            id=channel.id,
            kind=channel.kind,
            role=channel.role.value if channel.role else None,
            name=channel.name,
            username=channel.username,
            ref=ev.ChannelRef(
                project=self.project,
                kind=kind,
                channel_id=str(channel.id),
                name=channel.username or channel.name,
            ),
        )

    async def _refresh_index(self, session: AsyncSession, *, force: bool = False) -> None:
        """Rebuild the index when the live funnel versions changed. The database is asked
        at most once per :data:`INDEX_CHECK_INTERVAL` (changes made by other processes
        show up within that), or right away after :meth:`invalidate` / :meth:`reload`."""
        checked = time.monotonic()
        if not force and checked - self._index_checked < INDEX_CHECK_INTERVAL:
            return
        generation = self._index_generation
        row = (
            await session.execute(
                select(
                    select(func.max(FunnelVersion.id)).scalar_subquery(),
                    select(func.count(Funnel.id)).where(Funnel.enabled).scalar_subquery(),
                    select(func.max(Funnel.updated_at)).scalar_subquery(),
                )
            )
        ).one()
        stamp = tuple(row)
        if stamp == self._index_stamp:
            self._mark_index_checked(checked, generation)
            return
        latest = (
            select(FunnelVersion.funnel_id, func.max(FunnelVersion.version).label("v"))
            .group_by(FunnelVersion.funnel_id)
            .subquery()
        )
        versions = (
            await session.scalars(
                select(FunnelVersion)
                .join(
                    latest,
                    (latest.c.funnel_id == FunnelVersion.funnel_id)
                    & (latest.c.v == FunnelVersion.version),
                )
                .join(Funnel, Funnel.id == FunnelVersion.funnel_id)
                .where(Funnel.enabled)
            )
        ).all()
        self.index = FunnelIndex.build([self._compile(v) for v in versions])
        self._index_stamp = stamp
        self._mark_index_checked(checked, generation)

    def _mark_index_checked(self, checked: float, generation: int) -> None:
        # an invalidate() during the check (e.g. a publish committed after our query)
        # keeps the next event checking again
        if generation == self._index_generation:
            self._index_checked = checked

    def _compile(self, version: FunnelVersion) -> CompiledFunnel:
        cf = self._compiled.get(version.id)
        if cf is None:
            cf = CompiledFunnel.build(version.id, version.funnel_id, version.document_json)
            self._compiled[version.id] = cf
        return cf

    def funnel_of_version(self, version_id: int) -> int | None:
        cf = self._compiled.get(version_id)
        return cf.funnel_id if cf is not None else None

    async def compiled(self, session: AsyncSession, version_id: int) -> CompiledFunnel:
        cf = self._compiled.get(version_id)
        if cf is None:
            version = await session.get(FunnelVersion, version_id)
            if version is None:
                raise LookupError(f"funnel version {version_id} does not exist")
            cf = self._compile(version)
        return cf

    # --- channels --------------------------------------------------------------------

    def channel_of(self, ref: ev.ChannelRef) -> ChannelInfo:
        try:
            return self.channels[int(ref.channel_id)]
        except (KeyError, ValueError):
            raise LookupError(f"{ref} is not a channel of project {self.project!r}") from None

    def bot_by_role(self, role: str | None) -> ChannelInfo | None:
        return next((c for c in self.channels.values() if c.is_bot and c.role == role), None)

    def contact_bot(self, cf: CompiledFunnel, channel_id: int | None) -> ChannelInfo | None:
        """The "contact's bot" of a run: the bot it was triggered in, else the funnel's bot."""
        channel = self.channels.get(channel_id) if channel_id is not None else None
        if channel is not None and channel.is_bot:
            return channel
        return self.bot_by_role(cf.settings.bot_role)

    def message_channel(
        self, run: Run, cf: CompiledFunnel, props: MessageProps
    ) -> ChannelInfo | None:
        if props.channel == "bot":
            return self.bot_by_role(props.bot_role)
        if props.channel == "manager_account":
            channel = self.channels.get(run.triggered_by_channel_id or -1)
            if channel is not None and not channel.is_bot:
                return channel
            return next((c for c in self.channels.values() if not c.is_bot), None)
        bot_id = (run.context or {}).get("bot_channel_id")
        return self.channels.get(bot_id) if bot_id is not None else self.contact_bot(cf, None)

    # --- serialisation -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serialized(self, user_id: int | None = None) -> AsyncIterator[None]:
        """Per-contact order; on SQLite also the project's single writer."""
        if self.is_sqlite:
            async with self._writer:
                yield
            return
        if user_id is None:
            yield
            return
        lock = self._contact_locks.setdefault(user_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not lock._waiters:  # type: ignore[attr-defined]
                self._contact_locks.pop(user_id, None)

    @contextlib.asynccontextmanager
    async def transaction(self, user_id: int | None = None) -> AsyncIterator[AsyncSession]:
        async with self.serialized(user_id), self.db.writer_sessions() as session, session.begin():
            yield session

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if not self.is_sqlite else sqlite.insert)(table)

    async def allocate_run_id(self, session: AsyncSession) -> int:
        """An id for a run started in ``session``'s transaction, before its INSERT (the
        transaction's new runs are then inserted together by one flush).

        SQLite: one more than the largest id, read once per transaction — the writer lock
        is held, so nobody else inserts runs meanwhile. PostgreSQL: the ``runs.id``
        sequence, a block at a time (``run_id_block`` in ``session.info``, set to the
        batch size); ids a transaction leaves unused are gaps, as with any sequence."""
        info = session.info
        if self.is_sqlite:
            next_id = info.get("run_next_id")
            if next_id is None:
                with session.no_autoflush:  # pending rows wait for the batch's one flush
                    largest = await session.scalar(text("SELECT max(id) FROM runs"))
                next_id = (largest or 0) + 1
            info["run_next_id"] = next_id + 1
            return int(next_id)
        ids: deque[int] | None = info.get("run_ids")
        if not ids:
            block = max(1, int(info.get("run_id_block", 1)))
            with session.no_autoflush:
                rows = await session.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('runs', 'id')) FROM generate_series(1, :n)"
                    ),
                    {"n": block},
                )
            ids = deque(sorted(int(r[0]) for r in rows))
            info["run_ids"] = ids
        return ids.popleft()

    async def _lock_contacts(
        self, session: AsyncSession, identities: Sequence[ev.ContactIdentity], now: datetime
    ) -> tuple[dict[int, Contact], set[int]]:
        """Create the contacts that do not exist yet and lock them all (PostgreSQL:
        ``FOR UPDATE``; SQLite: the writer lock is held). Two statements for a whole
        batch; rows are inserted and locked in ``telegram_user_id`` order, so two
        processes locking overlapping batches cannot deadlock. Also returns the user
        ids whose contact this transaction created (they have no other rows yet)."""
        unique: dict[int, ev.ContactIdentity] = {}
        for identity in identities:
            unique.setdefault(identity.user_id, identity)
        ordered = [unique[k] for k in sorted(unique)]
        connection = await session.connection()
        created = await connection.execute(
            self._contacts_insert_returning,
            [
                {
                    "telegram_user_id": i.user_id,
                    "first_name": i.first_name or None,
                    "last_name": i.last_name,
                    "username": i.username,
                    "language_code": i.language_code,
                    "created_at": now,
                }
                for i in ordered
            ],
        )
        query = (
            select(Contact)
            .where(Contact.telegram_user_id.in_(list(unique)))
            .order_by(Contact.telegram_user_id)
            .execution_options(populate_existing=True)
        )
        if not self.is_sqlite:
            query = query.with_for_update()
        new = {int(user_id) for (user_id,) in created}
        return {c.telegram_user_id: c for c in (await session.scalars(query)).all()}, new

    @staticmethod
    def _update_identity(contact: Contact, identity: ev.ContactIdentity) -> None:
        if identity.first_name and (
            contact.first_name != identity.first_name
            or contact.last_name != identity.last_name
            or contact.username != identity.username
        ):
            contact.first_name = identity.first_name
            contact.last_name = identity.last_name
            contact.username = identity.username

    async def _lock_contact_id(self, session: AsyncSession, contact_id: int) -> Contact | None:
        query = select(Contact).where(Contact.id == contact_id)
        if not self.is_sqlite:
            query = query.with_for_update()
        return (await session.scalars(query)).one_or_none()

    # --- events ----------------------------------------------------------------------

    async def submit(self, event: ev.Event) -> None:
        """:class:`connectors.base.EventSink`: handle the event now."""
        await self.handle(event)

    async def handle(self, event: ev.Event) -> HandleResult:
        """Handle one event; returns once its transaction committed.

        Group commit: events handed in while a transaction runs queue up, and the next
        transaction takes up to :data:`EVENT_BATCH` of them (a contact's second event
        ends the batch: it waits for the next one) — an event that fails rolls back
        alone and its caller gets the exception (as if it had its own transaction), the
        others commit. Events are handled in the order they were handed in."""
        if isinstance(event, ev.TimerDue):
            return await self._timer_event(event)
        self.channel_of(event.channel)  # an unknown channel fails here, alone
        lane = self._lane
        future: asyncio.Future[HandleResult] = asyncio.get_running_loop().create_future()
        lane.queue.append((event, future))
        if lane.task is None:
            lane.task = asyncio.create_task(self._run_lane(lane))
        return await future

    async def _run_lane(self, lane: _Lane) -> None:
        try:
            while lane.queue:
                # one loop turn first: callers scheduled together (e.g. the updates of one
                # getUpdates answer) queue up and share the transaction
                await asyncio.sleep(0)
                batch: list[tuple[ev.Event, asyncio.Future[HandleResult]]] = []
                contacts: set[int] = set()
                while lane.queue and len(batch) < EVENT_BATCH:
                    event, future = lane.queue[0]
                    if future.done():  # its caller gave up (cancelled) before we began
                        lane.queue.popleft()
                        continue
                    if event.contact.user_id in contacts:
                        break  # one event per contact in a batch; the next one waits
                    contacts.add(event.contact.user_id)
                    batch.append(lane.queue.popleft())
                if not batch:
                    continue
                try:
                    outcomes = await self._handle_batch([e for e, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            lane.task = None
            while lane.queue:  # only after a BaseException (e.g. the loop shutting down)
                lane.queue.popleft()[1].cancel()

    async def _handle_batch(self, events: list[ev.Event]) -> list[HandleResult | Exception]:
        """One transaction for ``events`` (at most one per contact).

        Optimistic first: no SAVEPOINTs, one flush. If an event fails, that transaction
        rolls back and the batch runs again with a SAVEPOINT per event (the failing event
        rolls back alone). If a transaction fails as a whole (not one event: e.g. a
        serialisation failure), each event gets a transaction of its own."""
        try:
            return await self._batch_transaction(events, savepoints=False)
        except Exception as exc:
            if len(events) == 1:
                return [exc]
            log.info(
                "an event of a batch of %d failed (%s); again with savepoints", len(events), exc
            )
        try:
            return await self._batch_transaction(events, savepoints=True)
        except Exception as exc:
            log.warning("a batch of %d events failed as a whole (%s); one by one", len(events), exc)
        outcomes: list[HandleResult | Exception] = []
        for event in events:
            try:
                outcomes += await self._batch_transaction([event], savepoints=False)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _batch_transaction(
        self, events: list[ev.Event], *, savepoints: bool
    ) -> list[HandleResult | Exception]:
        """Handle ``events`` in one transaction. Without ``savepoints`` an event's
        exception propagates (the caller rolls back); with them it is the event's outcome.
        The contacts are locked and read in bulk, the dedup rows of the batch go in one
        statement (optimistic mode), the batch's new runs and channel rows in one flush,
        its history / notification / outbox rows in one executemany per table."""
        outcomes: list[HandleResult | Exception] = []
        done: list[Tx] = []
        single = len(events) == 1
        async with self.transaction() as session:
            session.info["run_id_block"] = len(events)
            await self._refresh_index(session)
            now = self.clock.now()
            contacts, new = await self._lock_contacts(session, [e.contact for e in events], now)
            hints = await self._batch_hints(session, contacts.values(), new, lazy=single)
            fresh = None if savepoints else await self._dedup_many(session, events, now)
            records = Records(deferred=True)
            for event in events:
                contact = contacts[event.contact.user_id]
                hint = hints.pop(contact.id, None)
                if not savepoints:
                    result, tx = await self._handle_locked(
                        session, event, contact, records, hint, fresh=fresh
                    )
                else:
                    mark = records.mark()
                    try:
                        async with session.begin_nested():
                            result, tx = await self._handle_locked(
                                session, event, contact, records, hint
                            )
                    except Exception as exc:
                        log.exception("event %s failed; rolled back alone", event.dedup_key)
                        records.reset(mark)
                        outcomes.append(exc)
                        # objects the failed event touched are expired; start clean (all
                        # earlier events are flushed) and read the contacts again
                        session.expunge_all()
                        hints.clear()
                        contacts, _ = await self._lock_contacts(
                            session, [e.contact for e in events], now
                        )
                        continue
                outcomes.append(result)
                if tx is not None:
                    done.append(tx)
            await records.write(session)
        for tx in done:
            self._wake(tx)
        return outcomes

    async def _dedup_many(
        self, session: AsyncSession, events: list[ev.Event], now: datetime
    ) -> set[tuple[int, int]]:
        """Insert the batch's ``processed_updates`` rows in one statement; returns the
        (channel id, update number) pairs that were new (the rest are duplicates)."""
        rows = [
            {
                "channel_id": self.channel_of(e.channel).id,
                "update_id": dedup_number(e),
                "processed_at": now,
            }
            for e in events
        ]
        connection = await session.connection()
        inserted = await connection.execute(self._dedup_insert_returning, rows)
        return {(int(c), int(u)) for c, u in inserted}

    async def _batch_hints(
        self, session: AsyncSession, contacts: Any, new: set[int], *, lazy: bool = False
    ) -> dict[int, ContactHint]:
        """For each contact of a batch, read in bulk what its transaction would otherwise
        read one query at a time (:class:`~engine.runs.ContactHint`): five queries a
        batch — none for contacts this transaction created (``new``: they have none of
        these rows). ``lazy``: only the new contacts' hints; the others query as they go
        (one event: fewer queries than five)."""
        hints = {c.id: ContactHint.new_contact() for c in contacts if c.telegram_user_id in new}
        ids = {c.id for c in contacts} - set(hints)
        if lazy or not ids:
            return hints
        # re-entry "once" is the only reader of kept_funnels: ask about those funnels only
        once = frozenset(
            f for f, cf in self.index.funnels.items() if cf.settings.reentry is Reentry.ONCE
        )
        kept: dict[int, set[int]] = {cid: set() for cid in ids}
        if once:
            rolled_back = Run.context["rolled_back"].as_boolean()
            rows = await session.execute(
                select(Run.contact_id, FunnelVersion.funnel_id)
                .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                .where(
                    Run.contact_id.in_(ids),
                    FunnelVersion.funnel_id.in_(once),
                    or_(rolled_back.is_(None), rolled_back.is_(False)),
                )
                .distinct()
            )
            for contact_id, funnel_id in rows:
                kept[contact_id].add(funnel_id)
        live: dict[int, list[Run]] = {cid: [] for cid in ids}
        channels: dict[int, dict[int, ContactChannel]] = {cid: {} for cid in ids}
        with session.no_autoflush:
            for run in await session.scalars(
                select(Run)
                .where(Run.contact_id.in_(ids), Run.status.in_(LIVE_RUN_STATUSES))
                .order_by(Run.id)
            ):
                live[run.contact_id].append(run)
            for row in await session.scalars(
                select(ContactChannel).where(ContactChannel.contact_id.in_(ids))
            ):
                channels[row.contact_id][row.channel_id] = row
        preloaded = await self._preload(session, ids)
        for cid in ids:
            variables, tags = preloaded[cid]
            hints[cid] = ContactHint(
                channels[cid], variables, tags, live[cid], frozenset(kept[cid]), once
            )
        return hints

    async def _handle_locked(
        self,
        session: AsyncSession,
        event: ev.Event,
        contact: Contact,
        records: Records,
        hint: ContactHint | None = None,
        *,
        fresh: set[tuple[int, int]] | None = None,
    ) -> tuple[HandleResult, Tx | None]:
        """One event whose contact the caller's transaction has locked. ``fresh``: the
        batch's dedup rows are already inserted and these were new (None: insert this
        event's row here)."""
        channel = self.channel_of(event.channel)
        now = self.clock.now()
        result = HandleResult()
        number = dedup_number(event)
        if fresh is not None:
            duplicate = (channel.id, number) not in fresh
        else:
            connection = await session.connection()
            inserted = await connection.execute(
                self._dedup_insert,
                {"channel_id": channel.id, "update_id": number, "processed_at": now},
            )
            duplicate = inserted.rowcount == 0  # type: ignore[attr-defined]
        if duplicate:
            result.duplicate = True
            return result, None
        self._update_identity(contact, event.contact)
        actor = ENGINE
        if isinstance(event, ev.ManagerMessage):
            actor = f"manager:{channel.name}"
        elif isinstance(event, ev.StaffAction):
            actor = f"staff:{event.staff_user}"
        tx = Tx(self, session, now, contact, channel, actor=actor, records=records)
        tx.flush_at_end = False  # the batch flushes once (Records.write)
        if hint is not None:
            tx.use_hint(hint)
        await self._dispatch(tx, event, result)
        await tx.drain()
        result.started = [r.id for r in tx.started_runs]
        result.messages = tx.queued_messages
        return result, tx

    def _wake(self, tx: Tx) -> None:
        if tx.queued_messages:
            self.outbox_wakeup.set()
        if tx.wake_timers:
            self.timer_wakeup.set()

    async def _subscribe(self, tx: Tx, channel: ChannelInfo, arrived_via: str | None) -> bool:
        """Record the contact in the channel; True on their first subscription there."""
        row = await tx.channel_row(channel.id)
        if row is None:
            tx.add_channel_row(
                ContactChannel(
                    contact_id=tx.contact.id,
                    channel_id=channel.id,
                    status=SubscriptionStatus.SUBSCRIBED,
                    first_seen_at=tx.now,
                    last_seen_at=tx.now,
                    status_changed_at=tx.now,
                    arrived_via=arrived_via,
                )
            )
            tx.history("contact.subscribed", channel_id=channel.id, via=arrived_via)
            return True
        row.last_seen_at = tx.now
        if row.status is not SubscriptionStatus.SUBSCRIBED:
            row.status = SubscriptionStatus.SUBSCRIBED
            row.status_changed_at = tx.now
            tx.history("contact.status", channel_id=channel.id, status="subscribed")
        return False

    async def _bot_arrival(self, tx: Tx, channel: ChannelInfo) -> None:
        for trigger in self.index.triggers(BotArrivalProps):
            assert isinstance(trigger.props, BotArrivalProps)
            if channel.is_bot and trigger.props.bot_role == channel.role:
                await tx.fire(trigger, reason=f"arrival in {channel.name}")

    async def _dispatch(self, tx: Tx, event: ev.Event, result: HandleResult) -> None:
        channel = tx.channel
        assert channel is not None
        if isinstance(event, ev.ContactMessage):
            first = await self._subscribe(tx, channel, None)
            tx.history("contact.message", channel_id=channel.id, text=event.text[:500])
            if first:
                await self._bot_arrival(tx, channel)
            if await self._reply(tx, event.text):
                return
            for trigger in self.index.triggers(ContactKeywordProps):
                props = trigger.props
                assert isinstance(props, ContactKeywordProps)
                if props.source == "bot" and not channel.is_bot:
                    continue
                if props.source == "manager_account" and channel.is_bot:
                    continue
                if props.bot_role and channel.is_bot and props.bot_role != channel.role:
                    continue
                if trigger.matcher is not None and trigger.matcher.matches(event.text):
                    await tx.fire(trigger, reason=f"keyword {event.text[:60]!r}")
        elif isinstance(event, ev.ManagerMessage):
            await self._subscribe(tx, channel, None)
            tx.history("manager.message", channel_id=channel.id, text=event.text[:500])
            for trigger in self.index.triggers(ManagerPhraseProps):
                props = trigger.props
                assert isinstance(props, ManagerPhraseProps)
                if props.account and props.account != channel.name:
                    continue
                if trigger.matcher is not None and trigger.matcher.matches(event.text):
                    await tx.fire(trigger, reason=f"manager phrase {event.text[:60]!r}")
        elif isinstance(event, ev.Start):
            first = await self._subscribe(tx, channel, event.payload)
            tx.history("contact.start", channel_id=channel.id, payload=event.payload)
            if first:
                await self._bot_arrival(tx, channel)
            for trigger in self.index.triggers(StartProps):
                props = trigger.props
                assert isinstance(props, StartProps)
                if props.bot_role != channel.role:
                    continue
                if props.payload is not None:
                    payload = event.payload or ""
                    if props.payload_match == "exact" and payload != props.payload:
                        continue
                    if props.payload_match == "prefix" and not payload.startswith(props.payload):
                        continue
                await tx.fire(trigger, reason=f"/start {event.payload or ''}".strip())
        elif isinstance(event, ev.PersonalLinkArrival):
            await self._link_arrival(tx, channel, event, result)
        elif isinstance(event, ev.ButtonPress):
            await self._button(tx, event, result)
        elif isinstance(event, ev.ChatMemberChange):
            await self._member_change(tx, channel, event, result)
        elif isinstance(event, ev.JoinRequest):
            tx.history("contact.join_request", channel_id=channel.id, chat_id=event.chat_id)
            if not await self._invite_link_use(tx, channel, event, result):
                result.ignored = "join request without a personal link"
        elif isinstance(event, ev.StaffAction):
            from engine.flows import apply_staff_action

            await apply_staff_action(tx, event)
        else:
            result.ignored = f"{event.kind} is not handled by the engine"

    async def _reply(self, tx: Tx, text: str) -> bool:
        """Give a contact's message to runs waiting for a reply in this channel."""
        assert tx.channel is not None
        consumed = False
        for run in await tx.live_runs():
            if run.status is not RunStatus.WAITING or run.awaiting != AWAIT_REPLY:
                continue
            ctx = run.context or {}
            if tx.channel.id not in (ctx.get("bot_channel_id"), run.triggered_by_channel_id):
                continue
            cf = await self.compiled(tx.session, run.funnel_version_id)
            port = reply_port(cf, run.node_id, text)
            if await tx.resume(run, port, why="reply", text=text[:200]):
                await tx.set_variable("last_reply", text, run, node_id=run.node_id)
                consumed = True
        return consumed

    async def _button(self, tx: Tx, event: ev.ButtonPress, result: HandleResult) -> None:
        parsed = parse_callback_data(event.callback_data)
        tx.history(
            "contact.button",
            channel_id=tx.channel.id if tx.channel else None,
            data=event.callback_data,
        )
        if parsed is None:
            result.ignored = "unknown button"
            return
        run_id, node_prefix, button_id = parsed
        run = await tx.session.get(Run, run_id)
        if run is None or run.contact_id != tx.contact.id:
            result.ignored = "button of another contact"
            return
        if run.status not in (RunStatus.ACTIVE, RunStatus.WAITING, RunStatus.FINISHED):
            result.ignored = f"run {run.status.value}"
            return
        cf = await self.compiled(tx.session, run.funnel_version_id)
        node_id = next((n for n in cf.nodes if n.startswith(node_prefix)), None)
        target = cf.target(node_id, button_port(button_id)) if node_id else None
        if node_id is None or target is None:
            result.ignored = "button leads nowhere"
            return
        if run.status is RunStatus.FINISHED:
            run.status = RunStatus.WAITING
            run.finished_at = None
        if not await tx.claim(run):
            result.ignored = "stale"
            return
        run.node_id = node_id
        tx.history("run.resumed", run, node_id, port=button_port(button_id), why="button")
        tx.jump(run, cf, target)

    async def _link_arrival(
        self,
        tx: Tx,
        channel: ChannelInfo,
        event: ev.PersonalLinkArrival,
        result: HandleResult,
    ) -> None:
        link = await tx.session.scalar(
            select(PersonalLink).where(PersonalLink.token == event.token)
        )
        valid = (
            link is not None
            and link.revoked_at is None
            and link.target_channel_id == channel.id
            and (link.expires_at is None or link.expires_at > tx.now)
        )
        if link is not None and link.contact_id != tx.contact.id:
            await self._subscribe(tx, channel, None)
            await self._foreign_link(tx, channel, link, event.contact)
            result.ignored = "foreign personal link"
            return
        first = await self._subscribe(tx, channel, event.token if valid else None)
        if not valid or link is None:
            tx.history("link.invalid", channel_id=channel.id, token=event.token[:64])
            if first:
                await self._bot_arrival(tx, channel)
            result.ignored = "invalid personal link"
            return
        await self._arrived(tx, channel, link, bot_arrival=first)

    async def _foreign_link(
        self, tx: Tx, channel: ChannelInfo, link: PersonalLink, who: ev.ContactIdentity
    ) -> None:
        """Someone else used a contact's personal link: nothing for them, admins told."""
        owner = await tx.session.get(Contact, link.contact_id)
        tx.history("link.foreign", channel_id=channel.id, link_id=link.id)
        tx.notify(
            NotificationKind.FOREIGN_LINK_USE,
            f"Чужой переход по персональной ссылке: ссылку контакта "
            f"{owner.telegram_user_id if owner else '?'} открыл "
            f"{who.display_name} ({who.user_id}).",
            channel_id=channel.id,
            link_id=link.id,
            owner_contact_id=link.contact_id,
        )

    async def _arrived(
        self,
        tx: Tx,
        channel: ChannelInfo,
        link: PersonalLink,
        *,
        bot_arrival: bool = False,
        **details: Any,
    ) -> None:
        """The contact came through their own valid personal link (a /start deep link
        or a one-person invite link): the link is used, runs waiting for the product's
        arrival resume, personal-link-arrival triggers of the channel's role fire."""
        first_use = link.used_at is None
        if first_use:
            link.used_at = tx.now
        product = await tx.session.get(Product, link.product_id) if link.product_id else None
        tx.history(
            "link.arrived",
            channel_id=channel.id,
            link_id=link.id,
            product=product.name if product else None,
            first_use=first_use,
            **details,
        )
        if bot_arrival:
            await self._bot_arrival(tx, channel)
        if product is not None:
            for run in await tx.live_runs():
                if (
                    run.status is RunStatus.WAITING
                    and run.awaiting == f"{ARRIVAL_PREFIX}{product.id}"
                ):
                    await tx.resume(run, "arrived", why="arrival")
        for trigger in self.index.triggers(PersonalLinkArrivalProps):
            props = trigger.props
            assert isinstance(props, PersonalLinkArrivalProps)
            if (
                props.bot_role == channel.role
                and product is not None
                and props.product == product.name
            ):
                await tx.fire(trigger, reason=f"personal link {product.name}")

    async def _invite_link_use(
        self,
        tx: Tx,
        channel: ChannelInfo,
        event: ev.ChatMemberChange | ev.JoinRequest,
        result: HandleResult,
    ) -> bool:
        """A join (or join request) to a group/channel through a one-person invite link
        registered with :meth:`register_invite_link`: its owner arrives (like
        :class:`~engine.events.PersonalLinkArrival`); anyone else gets nothing and the
        admins are notified. False when the link is not a personal one."""
        if not event.invite_link:
            return False
        link = await tx.session.scalar(
            select(PersonalLink).where(PersonalLink.token == event.invite_link)
        )
        if link is None:
            return False
        if link.contact_id != tx.contact.id:
            await self._foreign_link(tx, channel, link, event.contact)
            if isinstance(event, ev.ChatMemberChange) and link.revoked_at is None:
                # A join used up the link's only seat at Telegram: retire it, so the
                # owner's next message through the node carries a fresh invite link.
                link.revoked_at = tx.now
                tx.history("link.revoked", channel_id=channel.id, link_id=link.id)
            result.ignored = "foreign personal link"
            return True
        if (
            link.revoked_at is not None
            or link.target_channel_id != channel.id
            or (link.expires_at is not None and link.expires_at <= tx.now)
        ):
            tx.history(
                "link.invalid", channel_id=channel.id, link_id=link.id, chat_id=event.chat_id
            )
            result.ignored = "invalid personal link"
            return True
        await self._arrived(tx, channel, link, chat_id=event.chat_id, via=event.kind)
        return True

    async def register_invite_link(
        self,
        token: str,
        invite_link: str,
        *,
        chat_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Remember a one-person invite link (``createChatInviteLink``, member limit 1)
        made for the personal link ``token``: a join through it is then attributed to
        that contact. Stored as a personal link of the same contact, product and bot
        whose token is the invite link itself (a deep-link token never contains ``/``).
        Returns the new link's id."""
        if len(invite_link) > 64:
            raise ValueError(f"invite link longer than 64 characters: {invite_link!r}")
        async with self.transaction() as session:
            link = await session.scalar(select(PersonalLink).where(PersonalLink.token == token))
            if link is None:
                raise LookupError(f"no personal link with token {token!r}")
            row = PersonalLink(
                token=invite_link,
                contact_id=link.contact_id,
                product_id=link.product_id,
                target_channel_id=link.target_channel_id,
                created_by_run_id=link.created_by_run_id,
                created_at=self.clock.now(),
                expires_at=expires_at or link.expires_at,
                chat_id=chat_id,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def _member_change(
        self, tx: Tx, channel: ChannelInfo, event: ev.ChatMemberChange, result: HandleResult
    ) -> None:
        if event.chat_id is not None:
            tx.history(
                "contact.group",
                channel_id=channel.id,
                change=event.change.value,
                chat_id=event.chat_id,
            )
            if event.change is ev.MemberChange.JOINED:
                await self._invite_link_use(tx, channel, event, result)
            return
        await set_channel_status(
            tx,
            channel.id,
            SubscriptionStatus.SUBSCRIBED
            if event.change in (ev.MemberChange.UNBLOCKED, ev.MemberChange.JOINED)
            else SubscriptionStatus.BLOCKED,
        )

    # --- timers ----------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        async with self.db.sessions() as session:
            found: datetime | None = await session.scalar(
                select(func.min(Run.due_at)).where(
                    Run.status == RunStatus.WAITING, Run.due_at.is_not(None)
                )
            )
            return found

    async def run_due_timers(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """Fire every waiting run with ``due_at <= now``; returns how many advanced.

        Due runs are fired in batches, one transaction each. On PostgreSQL a batch is
        claimed with ``SELECT … FOR UPDATE OF contacts SKIP LOCKED`` and fired in that
        same transaction, so several engine processes never fire one timer twice (the
        compare-and-set on ``lock_version`` stays as the second guard)."""
        now = now or self.clock.now()
        return await self._fire_due_batches(now, min(limit, TIMER_BATCH))

    async def _fire_due_batches(self, now: datetime, limit: int) -> int:
        """Fire due runs, oldest first, up to ``limit`` (and at most
        :data:`TIMER_BATCH_SECONDS` of work) per transaction. SQLite: the project's
        writer lock is held for the whole transaction, so contacts' events wait and
        per-contact order holds. PostgreSQL: the batch is claimed with ``FOR UPDATE OF
        contacts SKIP LOCKED`` — contacts another transaction holds (an event, a peer
        process firing them) are skipped, the others stay locked until commit — and the
        runs are read again under those locks. Each run still goes through the
        compare-and-set of :meth:`_fire_locked` and gets its own ``now``. A keyset
        cursor makes every run a candidate once per call. If a batch fails, its runs are
        fired again one per transaction (so one bad run cannot hold the others back, and
        its error surfaces as before)."""
        fired = 0
        cursor: tuple[datetime, int] | None = None
        while True:
            txs: list[Tx] = []
            candidates: list[tuple[int, int, int, datetime]] = []
            complete = False
            try:
                async with self.transaction() as session:
                    query = (
                        select(Run, Contact)
                        .join(Contact, Contact.id == Run.contact_id)
                        .where(
                            Run.status == RunStatus.WAITING,
                            Run.due_at.is_not(None),
                            Run.due_at <= now,
                        )
                        .order_by(Run.due_at, Run.id)
                        .limit(limit)
                    )
                    if cursor is not None:
                        query = query.where(tuple_(Run.due_at, Run.id) > tuple_(*cursor))
                    if not self.is_sqlite:
                        query = query.with_for_update(of=Contact, skip_locked=True)
                    rows = (await session.execute(query)).all()
                    if rows and not self.is_sqlite:
                        # the claim's snapshot may be older than the locks: read again
                        await session.execute(
                            select(Run)
                            .where(Run.id.in_([r.id for r, _ in rows]))
                            .execution_options(populate_existing=True)
                        )
                    candidates = [
                        (r.id, r.lock_version, c.telegram_user_id, r.due_at)  # type: ignore[misc]
                        for r, c in rows
                    ]
                    complete = len(rows) < limit
                    preloaded = await self._preload(session, {c.id for _, c in rows})
                    records = Records(deferred=True)  # all the batch's history: one INSERT
                    started = time.monotonic()
                    for done, ((run, contact), candidate) in enumerate(
                        zip(rows, candidates, strict=True), 1
                    ):
                        cursor = (candidate[3], candidate[0])
                        tx = await self._fire_locked(
                            session,
                            run,
                            contact,
                            candidate[1],
                            self.clock.now(),
                            # a contact's second run in the batch reads what the first wrote
                            preload=preloaded.pop(contact.id, None),
                            records=records,
                        )
                        if tx is not None:
                            txs.append(tx)
                        if done < len(rows) and time.monotonic() - started > TIMER_BATCH_SECONDS:
                            complete = False
                            break
                    await session.flush()
                    await records.write(session)
            except Exception:
                if len(candidates) <= 1:
                    raise
                txs = []
                for run_id, version, user_id, _ in candidates:
                    if await self._fire_timer(run_id, version, user_id):
                        fired += 1
                cursor = (candidates[-1][3], candidates[-1][0])
                complete = len(candidates) < limit
            for tx in txs:
                fired += 1
                self._wake(tx)
            if complete:
                return fired

    async def _preload(
        self, session: AsyncSession, contact_ids: set[int]
    ) -> dict[int, tuple[dict[str, Variable], dict[str, ContactTag]]]:
        """Variable and tag rows of several contacts, two queries in all."""
        found: dict[int, tuple[dict[str, Variable], dict[str, ContactTag]]] = {
            cid: ({}, {}) for cid in contact_ids
        }
        if not contact_ids:
            return found
        with session.no_autoflush:
            for var in await session.scalars(
                select(Variable).where(Variable.contact_id.in_(contact_ids))
            ):
                found[var.contact_id][0][var.name] = var
            tags = await session.execute(
                select(Tag.name, ContactTag)
                .join(ContactTag, ContactTag.tag_id == Tag.id)
                .where(ContactTag.contact_id.in_(contact_ids))
            )
            for name, row in tags:
                found[row.contact_id][1][name] = row
        return found

    async def _timer_event(self, event: ev.TimerDue) -> HandleResult:
        fired = await self._fire_timer(int(event.run_id), event.expected_version, None)
        return HandleResult(ignored=None if fired else "stale timer")

    async def _fire_timer(self, run_id: int, version: int, user_id: int | None) -> bool:
        now = self.clock.now()
        async with self.transaction(user_id) as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None:
                return False
            contact = await self._lock_contact_id(session, run.contact_id)
            await session.refresh(run)
            if contact is None:
                return False
            tx = await self._fire_locked(session, run, contact, version, now)
        if tx is None:
            return False
        self._wake(tx)
        return True

    async def _fire_locked(
        self,
        session: AsyncSession,
        run: Run,
        contact: Contact,
        version: int,
        now: datetime,
        *,
        preload: tuple[dict[str, Variable], dict[str, ContactTag]] | None = None,
        records: Records | None = None,
    ) -> Tx | None:
        """Fire one timer; the contact is locked by the caller's transaction. None when
        the timer is stale (compare-and-set on ``lock_version``)."""
        if (
            run.lock_version != version
            or run.status is not RunStatus.WAITING
            or run.due_at is None
            or run.due_at > now
        ):
            return None
        await self._refresh_index(session)
        tx = Tx(self, session, now, contact, None, records=records or Records())
        tx.flush_at_end = records is None  # a batch flushes once, before its records
        if preload is not None:
            tx.preload(*preload)
        cf = await self.compiled(session, run.funnel_version_id)
        node = cf.nodes.get(run.node_id)
        if run.awaiting == AWAIT_RESUME or node is None:
            if not await tx.claim(run):
                return None
            tx.history("run.resumed", run, run.node_id, why="resume")
            tx.jump(run, cf, run.node_id)
        elif run.awaiting == AWAIT_BUTTON:
            return None
        else:
            port = TIMEOUT_PORTS.get(node.type, "timeout")
            if not await tx.resume(run, port, why="timer"):
                return None
        await tx.drain()
        return tx

    async def timer_loop(self, *, idle: timedelta = timedelta(minutes=5)) -> None:
        """Fire timers forever (cancel to stop). Sleeps on the clock until the next due
        time or until a new timer is scheduled; due times live in the database, so a
        restart loses nothing."""
        while True:
            self.timer_wakeup.clear()
            fired = await self.run_due_timers()
            nxt = await self.next_due()
            now = self.clock.now()
            until = min(nxt, now + idle) if nxt is not None else now + idle
            if until > now:
                await wait_until_or_event(self.clock, until, self.timer_wakeup)
            elif not fired and not self.is_sqlite:
                # due but not claimable now (its contact is locked, e.g. by a peer
                # process firing it): do not spin
                await asyncio.sleep(0.05)


async def set_channel_status(tx: Tx, channel_id: int, status: SubscriptionStatus) -> None:
    """Subscribed / unsubscribed / blocked in one channel. Tags are never touched (R4);
    variables with retention clear_on_unsubscribe are erased when the contact leaves."""
    row = await tx.channel_row(channel_id)
    if row is None:
        row = ContactChannel(
            contact_id=tx.contact.id,
            channel_id=channel_id,
            first_seen_at=tx.now,
            last_seen_at=tx.now,
            status_changed_at=tx.now,
            status=status,
        )
        tx.add_channel_row(row)
    elif row.status is status:
        return
    row.status = status
    row.status_changed_at = tx.now
    tx.history("contact.status", channel_id=channel_id, status=status.value)
    if status is not SubscriptionStatus.SUBSCRIBED:
        for name, var in list((await tx.variable_rows()).items()):
            if var.retention is VariableRetention.CLEAR_ON_UNSUBSCRIBE:
                await tx.session.delete(var)
                (await tx.variable_rows()).pop(name, None)
                tx.history("variable.cleared", name=name, reason=status.value)


__all__ = ["ChannelInfo", "HandleResult", "ProjectEngine", "Variable", "dedup_number"]
