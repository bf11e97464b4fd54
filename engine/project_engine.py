"""The engine of one project: events in, runs advanced, outbox rows out (DESIGN: step loop).

``await engine.handle(event)`` processes one event for one contact in ONE transaction:
dedup by (channel, update id), contact upsert (R12) and its per-channel status, waiting
runs resolved (reply / button / arrival), triggers of the live funnel versions matched,
every affected run advanced until it waits or ends, history + outbox written. Order per
contact is kept by an asyncio lock per contact plus, on SQLite, one writer lock for the
whole project (SQLite has one writer anyway); on PostgreSQL the contact row is locked
with ``SELECT … FOR UPDATE`` so several engine processes may share the database.

``await engine.run_due_timers()`` fires runs whose ``due_at`` passed (compare-and-set on
``lock_version``, so a stale timer does nothing); :meth:`timer_loop` does it forever. On
PostgreSQL each due run is claimed with ``FOR UPDATE OF contacts SKIP LOCKED``, so engine
processes sharing the database never fire one timer twice (:mod:`engine.cluster`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
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
from engine.runs import ENGINE, Records, Tx
from engine.steps import (
    ARRIVAL_PREFIX,
    AWAIT_BUTTON,
    AWAIT_REPLY,
    AWAIT_RESUME,
    TIMEOUT_PORTS,
    parse_callback_data,
    reply_port,
)
from graph.nodes.message import MessageProps
from graph.nodes.triggers import (
    BotArrivalProps,
    ContactKeywordProps,
    ManagerPhraseProps,
    PersonalLinkArrivalProps,
    StartProps,
)
from graph.ports import button_port

INDEX_CHECK_INTERVAL = 1.0
"""Seconds between checks whether the live funnels changed (see ``invalidate()``)."""
TIMER_BATCH = 100
"""SQLite: due runs fired per transaction at most."""
TIMER_BATCH_SECONDS = 0.2
"""SQLite: a timer transaction stops taking more due runs after this long."""


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
        async with self.serialized(user_id), self.db.sessions() as session, session.begin():
            yield session

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if not self.is_sqlite else sqlite.insert)(table)

    async def _lock_contact(
        self, session: AsyncSession, identity: ev.ContactIdentity, now: datetime
    ) -> Contact:
        upsert = self._insert(Contact).values(
            telegram_user_id=identity.user_id,
            first_name=identity.first_name or None,
            last_name=identity.last_name,
            username=identity.username,
            language_code=identity.language_code,
            created_at=now,
        )
        if self.is_sqlite:
            # one statement: a no-op DO UPDATE makes RETURNING give the existing row too
            # (the transaction holds the project's writer lock anyway)
            upsert = upsert.on_conflict_do_update(
                index_elements=["telegram_user_id"],
                set_={"telegram_user_id": upsert.excluded.telegram_user_id},
            ).returning(Contact)
            contact: Contact = (
                await session.scalars(upsert, execution_options={"populate_existing": True})
            ).one()
        else:
            # PostgreSQL: DO NOTHING (no new row version per event), then lock the row
            await session.execute(
                upsert.on_conflict_do_nothing(index_elements=["telegram_user_id"])
            )
            query = (
                select(Contact)
                .where(Contact.telegram_user_id == identity.user_id)
                .with_for_update()
            )
            contact = (await session.scalars(query)).one()
        if identity.first_name and (
            contact.first_name != identity.first_name
            or contact.last_name != identity.last_name
            or contact.username != identity.username
        ):
            contact.first_name = identity.first_name
            contact.last_name = identity.last_name
            contact.username = identity.username
        return contact

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
        if isinstance(event, ev.TimerDue):
            return await self._timer_event(event)
        channel = self.channel_of(event.channel)
        now = self.clock.now()
        result = HandleResult()
        async with self.transaction(event.contact.user_id) as session:
            inserted = await session.execute(
                self._insert(ProcessedUpdate)
                .values(channel_id=channel.id, update_id=dedup_number(event), processed_at=now)
                .on_conflict_do_nothing(index_elements=["channel_id", "update_id"])
            )
            if inserted.rowcount == 0:  # type: ignore[attr-defined]
                result.duplicate = True
                return result
            await self._refresh_index(session)
            contact = await self._lock_contact(session, event.contact, now)
            actor = ENGINE
            if isinstance(event, ev.ManagerMessage):
                actor = f"manager:{channel.name}"
            elif isinstance(event, ev.StaffAction):
                actor = f"staff:{event.staff_user}"
            tx = Tx(self, session, now, contact, channel, actor=actor)
            await self._dispatch(tx, event, result)
            await tx.drain()
            result.started = [r.id for r in tx.started_runs]
            result.messages = tx.queued_messages
        self._wake(tx)
        return result

    def _wake(self, tx: Tx) -> None:
        if tx.queued_messages:
            self.outbox_wakeup.set()
        if tx.wake_timers:
            self.timer_wakeup.set()

    async def _subscribe(self, tx: Tx, channel: ChannelInfo, arrived_via: str | None) -> bool:
        """Record the contact in the channel; True on their first subscription there."""
        row = await tx.session.get(ContactChannel, (tx.contact.id, channel.id))
        if row is None:
            tx.session.add(
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
            await self._member_change(tx, channel, event)
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
            owner = await tx.session.get(Contact, link.contact_id)
            tx.history("link.foreign", channel_id=channel.id, link_id=link.id)
            tx.notify(
                NotificationKind.FOREIGN_LINK_USE,
                f"Чужой переход по персональной ссылке: ссылку контакта "
                f"{owner.telegram_user_id if owner else '?'} открыл "
                f"{event.contact.display_name} ({event.contact.user_id}).",
                channel_id=channel.id,
                link_id=link.id,
                owner_contact_id=link.contact_id,
            )
            result.ignored = "foreign personal link"
            return
        first = await self._subscribe(tx, channel, event.token if valid else None)
        if not valid or link is None:
            tx.history("link.invalid", channel_id=channel.id, token=event.token[:64])
            if first:
                await self._bot_arrival(tx, channel)
            result.ignored = "invalid personal link"
            return
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
        )
        if first:
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

    async def _member_change(
        self, tx: Tx, channel: ChannelInfo, event: ev.ChatMemberChange
    ) -> None:
        if event.chat_id is not None:
            tx.history("contact.group", channel_id=channel.id, change=event.change.value)
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

        On PostgreSQL each due run is claimed with ``SELECT … FOR UPDATE OF contacts SKIP
        LOCKED`` and fired in that same transaction, so several engine processes never
        fire one timer twice (the compare-and-set on ``lock_version`` stays as the second
        guard); on SQLite (one process) the due runs are read in batches of ``limit``."""
        now = now or self.clock.now()
        if not self.is_sqlite:
            return await self._claim_due_timers(now)
        return await self._fire_due_batches(now, min(limit, TIMER_BATCH))

    async def _fire_due_batches(self, now: datetime, limit: int) -> int:
        """SQLite: fire due runs, oldest first, up to ``limit`` (and at most
        :data:`TIMER_BATCH_SECONDS` of work) per transaction — the project's writer lock
        is held for the whole transaction, so contacts' events wait and per-contact order
        holds; each run still goes through the compare-and-set of :meth:`_fire_locked`
        and gets its own ``now``. A keyset cursor makes every run a candidate once per
        call. If a batch fails, its runs are fired again one per transaction (so one bad
        run cannot hold the others back, and its error surfaces as before)."""
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
                    rows = (await session.execute(query)).all()
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

    async def _claim_due_timers(self, now: datetime) -> int:
        """PostgreSQL: claim one due run at a time, oldest first, skipping runs whose
        contact another transaction (an event, or a peer process firing it) holds. The
        contact row is the lock, the same order as :meth:`handle` (contact, then runs).
        A keyset cursor makes every run a candidate once per call, so a run that cannot
        fire (stale, waiting for a button) is not retried in a loop."""
        fired = 0
        cursor: tuple[datetime | None, int] | None = None
        while True:
            tx: Tx | None = None
            async with self.db.sessions() as session, session.begin():
                query = (
                    select(Run.id, Run.due_at, Run.contact_id)
                    .join(Contact, Contact.id == Run.contact_id)
                    .where(
                        Run.status == RunStatus.WAITING,
                        Run.due_at.is_not(None),
                        Run.due_at <= now,
                    )
                    .order_by(Run.due_at, Run.id)
                    .limit(1)
                    .with_for_update(of=Contact, skip_locked=True)
                )
                if cursor is not None:
                    query = query.where(tuple_(Run.due_at, Run.id) > tuple_(*cursor))
                row = (await session.execute(query)).first()
                if row is None:
                    return fired
                run_id, due_at, contact_id = row
                cursor = (due_at, run_id)
                contact = await session.get(Contact, contact_id)
                # read again under the contact's lock: the claim's snapshot may be older
                run = await session.get(Run, run_id, populate_existing=True)
                if contact is not None and run is not None:
                    tx = await self._fire_locked(
                        session, run, contact, run.lock_version, self.clock.now()
                    )
            if tx is not None:
                fired += 1
                self._wake(tx)

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
    row = await tx.session.get(ContactChannel, (tx.contact.id, channel_id))
    if row is None:
        row = ContactChannel(
            contact_id=tx.contact.id,
            channel_id=channel_id,
            first_seen_at=tx.now,
            last_seen_at=tx.now,
            status_changed_at=tx.now,
            status=status,
        )
        tx.session.add(row)
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
