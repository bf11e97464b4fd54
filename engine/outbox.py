"""Delivering the outbox over the connectors, under Telegram's limits (DESIGN: step loop).

A row goes pending → sending (committed BEFORE the network call) → sent / failed /
uncertain, so a crash mid-send leaves it in ``sending``; :meth:`OutboxSender.recover`
turns such rows into ``uncertain`` and reports them instead of sending twice.

**Small uncertain window.** A row is claimed (``sending``) only at the moment its own send
starts — the limiter has already granted its slot, and at most ``max_in_flight`` rows per
bot are in flight — and its outcome is committed as soon as its send returns (results that
come back while a commit runs share the next one: group commit). So after a SIGKILL only
the rows whose send had started and not yet been recorded are ``uncertain``: at most
``max_in_flight`` per channel, not a whole batch.

Several processes (PostgreSQL, :mod:`engine.cluster`): rows are claimed with ``UPDATE …
WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``. On every database a row is claimable
only when no earlier row of its chat is pending or sending (its chat's *head*), so
per-chat order holds across processes and across the overlapping sends of
:meth:`OutboxSender.run_forever`. A claimed row names its
process in ``error`` while ``sending`` (PostgreSQL); with a
:class:`~engine.cluster.ClusterMember`, :meth:`OutboxSender.recover` (at start and every
``recover_every`` seconds) only turns rows of processes whose liveness lock is gone into
``uncertain``. Without a member (one process, SQLite or PostgreSQL) every ``sending`` row
found at start is a crash leftover.

**Funnel messages before broadcasts** (issue #6). Rows of a broadcast (``outbox.bulk``,
set from the ``broadcast:…`` idempotency key) are *bulk*; every other row is
*transactional* (a funnel's reply). Both kinds are read separately, oldest first, along
the index (status, bulk, not_before, id), so a 10,000-row broadcast never hides a later
funnel message and reading the queue stays cheap however long it is; per bot,
transactional rows take the send slots first, but after ``bulk_every`` transactional
sends in a row one waiting bulk row goes, so a broadcast still gets at least
1/(bulk_every + 1) of a saturated bot and all of an idle one.

**Little database work per message** (issue #4). The loop keeps the heads it has read in
memory (per channel and kind, oldest first; a read stops at a window of ``batch`` rows,
and then only the heads up to the last one read are kept, so the cache never puts a row
ahead of an older one it lacks). A head stays a head until it is claimed — rows only join
a chat behind it — so the cache needs no re-reading to stay right: the chat's next row is
learnt in the transaction that records the previous one, rows the engine adds are read
by id since the last read (SQLite: one writer, ids grow in commit order; on PostgreSQL the
engine's wakeup makes the loop read the queue again), and the claim re-checks every row
(``pending``, due; SKIP LOCKED on PostgreSQL), so a row changed behind the cache's back —
a cancelled broadcast, another process's claim — is skipped and the queue read again. The
sender's writes are one transaction at a time (in-flight counts and cache stay exact):
the outcomes that came back, one ``UPDATE`` executemany for the rows and one ``INSERT``
each for history and notifications, and in the same transaction the claim of the rows
that may go in the freed slots — a chat's next row included — with one ``UPDATE``. On
SQLite these go through the engine's inline writer and its writer lock
(:meth:`ProjectEngine.transaction`), between the intake's group commits.

- Per chat, rows go strictly in id order, so a 429 (``not_before = now + retry_after``)
  holds the chat's later rows.
- Limits (per bot ≈30/s, per chat 1/s, per group 20/min) come from
  :class:`engine.ratelimit.RateLimiter`, fed with the clock's time.
- blocked (403) → failed, the contact's status in that channel becomes blocked (tags stay);
  bad request / unauthorized → failed + a send-error notification; server or network
  errors without delivery → retried with back-off (failed + notification after
  ``max_attempts``); a network error that may have delivered → uncertain + notification.

**One-person invite links** (issue #4): a ``personal_link`` node with target "chat" leaves
a placeholder (:func:`engine.steps.invite_placeholder`) in its variable, because
``createChatInviteLink`` is a network call and never runs inside the engine's transaction.
A claimed row whose text or URL buttons still hold a placeholder is not sent: the bot that
administers the chat creates the link (or the link already registered for that token is
reused), the link is registered with :meth:`ProjectEngine.register_invite_link`, and the
row goes back to ``pending`` with the link written into its payload — so the send itself
happens in a later claim, and a crash anywhere in between re-uses the stored link. A
placeholder is never sent, so a ``sending`` row that still holds one was not delivered
and :meth:`OutboxSender.recover` puts it back to ``pending`` instead of ``uncertain``.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from connectors.base import (
    Connector,
    ConnectorError,
    OutgoingMessage,
    SendErrorKind,
    SendResult,
)
from db.models import (
    Contact,
    ContactChannel,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    PersonalLink,
    SubscriptionStatus,
)
from engine.clock import Clock
from engine.cluster import ClusterMember, claim_note, claim_owner
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter
from engine.steps import INVITE_PLACEHOLDER_RE

log = logging.getLogger(__name__)

SENT, FAILED, RETRIED, UNCERTAIN, SKIPPED = "sent", "failed", "retried", "uncertain", "skipped"

# lifetime of an invite link made for a personal link without an expiry
DEFAULT_INVITE_LIFETIME = timedelta(days=1)
_INVITE_MARK = "⟦invite:"


def _payload_strings(payload: Mapping[str, Any]) -> list[str]:
    """The parts of a stored message a placeholder may be in: its text and button URLs."""
    found = [str(payload.get("text") or "")]
    for row in payload.get("inline_buttons") or ():
        found.extend(str(b.get("url") or "") for b in row)
    return found


def invite_placeholders(payload: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(placeholder, token, chat id) of every unresolved invite link in a stored message."""
    found: dict[str, tuple[str, str, int]] = {}
    for text in _payload_strings(payload):
        if _INVITE_MARK in text:
            for m in INVITE_PLACEHOLDER_RE.finditer(text):
                found.setdefault(m.group(0), (m.group(0), m.group(1), int(m.group(2))))
    return list(found.values())


def _substitute(payload: Mapping[str, Any], urls: Mapping[str, str]) -> dict[str, Any]:
    def fill(text: str) -> str:
        for placeholder, url in urls.items():
            text = text.replace(placeholder, url)
        return text

    out = dict(payload)
    out["text"] = fill(str(payload.get("text") or ""))
    out["inline_buttons"] = [
        [{**b, "url": fill(b["url"])} if b.get("url") else dict(b) for b in row]
        for row in payload.get("inline_buttons") or ()
    ]
    return out


class _InviteLinkFailure(Exception):
    def __init__(self, kind: SendErrorKind, description: str) -> None:
        super().__init__(description)
        self.kind = kind


@dataclass
class SendRound:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    uncertain: int = 0
    next_at: datetime | None = None  # earliest moment a skipped row may go

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + self.retried + self.uncertain

    def count(self, outcome: str) -> None:
        if outcome == SENT:
            self.sent += 1
        elif outcome == FAILED:
            self.failed += 1
        elif outcome == RETRIED:
            self.retried += 1
        elif outcome == UNCERTAIN:
            self.uncertain += 1

    def later(self, at: datetime) -> None:
        self.next_at = at if self.next_at is None else min(self.next_at, at)


@dataclass(slots=True)
class _Head:
    """A cached pending row that is the oldest waiting row of its chat."""

    id: int
    channel_id: int
    contact_id: int
    not_before: datetime
    bulk: bool
    payload: dict[str, Any]
    message: OutgoingMessage | None = None  # parsed when first chosen

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.not_before, self.id)

    def outgoing(self) -> OutgoingMessage:
        if self.message is None:
            self.message = OutgoingMessage.model_validate(self.payload)
        return self.message


class _Queue:
    """The cached heads of one channel and kind, ordered by (not_before, id).

    ``boundary`` None: every head of the channel and kind is here. Otherwise the read that
    filled the queue stopped at its window: exactly the heads up to ``boundary`` are here,
    and heads that sort after it are ignored until the next read, so the cache never
    puts a row ahead of an older one it does not hold."""

    __slots__ = ("boundary", "keys", "rows")

    def __init__(self, boundary: tuple[datetime, int] | None = None) -> None:
        self.keys: list[tuple[datetime, int]] = []
        self.rows: dict[int, _Head] = {}
        self.boundary = boundary

    def add(self, head: _Head) -> None:
        if self.boundary is not None and head.key > self.boundary:
            return
        old = self.rows.pop(head.id, None)
        if old is not None:
            del self.keys[bisect.bisect_left(self.keys, old.key)]
        self.rows[head.id] = head
        bisect.insort(self.keys, head.key)

    def discard(self, row_id: int) -> None:
        head = self.rows.pop(row_id, None)
        if head is not None:
            del self.keys[bisect.bisect_left(self.keys, head.key)]

    def due(self, now: datetime) -> Iterator[_Head]:
        """Heads that may go at ``now``, oldest first (a snapshot: safe to discard)."""
        for key in self.keys[:]:
            if key[0] > now:
                return
            yield self.rows[key[1]]

    def has_due(self, now: datetime) -> bool:
        return bool(self.keys) and self.keys[0][0] <= now

    def due_count(self, now: datetime, most: int) -> int:
        found = 0
        for key in self.keys:
            if key[0] > now or found >= most:
                break
            found += 1
        return found

    def next_after(self, now: datetime) -> datetime | None:
        """When the first head not due at ``now`` becomes due."""
        i = bisect.bisect_right(self.keys, (now, math.inf))
        return self.keys[i][0] if i < len(self.keys) else None

    def trim(self, keep: int) -> None:
        """Keep the ``keep`` oldest heads (a bound on memory)."""
        if len(self.keys) > keep:
            for key in self.keys[keep:]:
                del self.rows[key[1]]
            del self.keys[keep:]
            self.boundary = self.keys[-1] if keep else None


@dataclass(slots=True)
class _Go:
    """A claimed row (``sending``) and what sends it."""

    id: int
    channel_id: int
    contact_id: int
    bulk: bool
    payload: dict[str, Any]
    message: OutgoingMessage
    connector: Connector
    released: bool = False  # no longer counted in flight


@dataclass
class _Pending:
    """A send that returned and waits for its outcome to be committed."""

    go: _Go
    sent: SendResult
    done: asyncio.Future[str] = field(repr=False)


@dataclass
class _Write:
    """What one of the sender's transactions did, applied to memory after it commits."""

    outcomes: list[str] = field(default_factory=list)
    heads: list[_Head] = field(default_factory=list)  # rows that became (or stay) heads
    go: list[_Go] = field(default_factory=list)
    stale: bool = False  # the cache missed something: read the queue again


_T = cast(Table, OutboxMessage.__table__)
_HISTORY = cast(Table, HistoryEvent.__table__)
_NOTIFICATIONS = cast(Table, Notification.__table__)
_HEAD_COLUMNS = (
    _T.c.id,
    _T.c.channel_id,
    _T.c.contact_id,
    _T.c.not_before,
    _T.c.bulk,
    _T.c.payload,
)
_WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def _head(row: Any) -> _Head:
    return _Head(row.id, row.channel_id, row.contact_id, row.not_before, row.bulk, row.payload)


def _oldest_waiting_of_its_chat() -> Any:
    """No earlier row of the same chat is pending or sending (per-chat order)."""
    earlier = _T.alias("earlier")
    return ~exists().where(
        earlier.c.channel_id == _T.c.channel_id,
        earlier.c.contact_id == _T.c.contact_id,
        earlier.c.id < _T.c.id,
        earlier.c.status.in_(_WAITING),
    )


# The sender's statements, built once (values go in as parameters).


def _plain(column: Any, sqlite: bool) -> Any:
    """On SQLite ``+column``: a term its planner never looks up in an index. Without
    statistics it would take ``status = 'pending'`` along the status index, over every
    pending row, instead of going to the few ids a statement names."""
    if not sqlite:
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _sending_rows(sqlite: bool) -> Any:
    """The rows of returned sends that are still ours to record."""
    query = select(
        _T.c.id,
        _T.c.contact_id,
        _T.c.channel_id,
        _T.c.run_id,
        _T.c.funnel_version_id,
        _T.c.node_id,
        _T.c.attempts,
    ).where(
        _T.c.id.in_(bindparam("ids", expanding=True)),
        _plain(_T.c.status, sqlite) == OutboxStatus.SENDING,
    )
    return query if sqlite else query.with_for_update()


def _successors(sqlite: bool) -> Any:
    """Each of these chats' oldest waiting row, if it is pending (the chat's new head)."""
    waiting = _T.alias("waiting")
    first = (
        select(func.min(waiting.c.id))
        .where(
            waiting.c.contact_id.in_(bindparam("contacts", expanding=True)),
            waiting.c.channel_id.in_(bindparam("channels", expanding=True)),
            waiting.c.id > bindparam("after"),
            _plain(waiting.c.status, sqlite).in_(_WAITING),
        )
        .group_by(waiting.c.channel_id, waiting.c.contact_id)
    )
    return select(*_HEAD_COLUMNS).where(
        _plain(_T.c.status, sqlite) == OutboxStatus.PENDING, _T.c.id.in_(first)
    )


_MAX_ID = select(func.max(_T.c.id))
_SENDING_ROWS = {True: _sending_rows(True), False: _sending_rows(False)}
_SUCCESSORS = {True: _successors(True), False: _successors(False)}
# SQLite: one process, one writer; no other claimer to skip
_CLAIM_SQLITE = (
    update(_T)
    .where(
        _T.c.id.in_(bindparam("ids", expanding=True)),
        _plain(_T.c.status, True) == OutboxStatus.PENDING,
        _plain(_T.c.not_before, True) <= bindparam("now"),
    )
    .values(status=OutboxStatus.SENDING, attempts=_T.c.attempts + 1)
    .returning(_T.c.id)
)
_CLAIMED_ROW = _T.alias("claimable")
# PostgreSQL: rows another process is claiming are skipped, not waited for
_CLAIM_POSTGRES = (
    update(_T)
    .where(
        _T.c.id.in_(
            select(_CLAIMED_ROW.c.id)
            .where(
                _CLAIMED_ROW.c.id.in_(bindparam("ids", expanding=True)),
                _CLAIMED_ROW.c.status == OutboxStatus.PENDING,
                _CLAIMED_ROW.c.not_before <= bindparam("now"),
            )
            .with_for_update(skip_locked=True)
        )
    )
    .values(status=OutboxStatus.SENDING, attempts=_T.c.attempts + 1, error=bindparam("note"))
    .returning(_T.c.id, _T.c.payload)
)
# one UPDATE for the outcomes of a group commit (executemany); a NULL not_before keeps it
_RECORD = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        sent_at=bindparam("b_sent_at"),
        telegram_message_id=bindparam("b_message_id"),
        error=bindparam("b_error"),
        not_before=func.coalesce(
            bindparam("b_not_before", type_=_T.c.not_before.type), _T.c.not_before
        ),
    )
)


class OutboxSender:
    def __init__(
        self,
        engine: ProjectEngine,
        connectors: Mapping[int, Connector],
        *,
        limiter: RateLimiter | None = None,
        batch: int = 200,
        max_attempts: int = 5,
        member: ClusterMember | None = None,
        recover_every: float = 5.0,
        max_in_flight: int = 10,
        bulk_every: int = 4,
        drain_timeout: float = 10.0,
        link_makers: Mapping[int, Connector] | None = None,
    ) -> None:
        """``batch``: most rows claimed at once (all channels), and the window of a read
        of the queue; ``max_in_flight``: most rows of one channel being sent at once (the
        bound of what a crash leaves uncertain); ``bulk_every``: transactional sends in a
        row before a waiting broadcast row gets a slot; ``drain_timeout``: how long a
        cancelled :meth:`run_forever` lets its in-flight sends finish; ``link_makers``:
        bot connectors (by channel id) this process does not send through but may ask for
        an invite link (with several processes, the bots whose intake another one owns)."""
        if batch < 1 or max_in_flight < 1 or bulk_every < 0:
            raise ValueError(
                f"OutboxSender needs batch >= 1, max_in_flight >= 1 and bulk_every >= 0, "
                f"got batch={batch}, max_in_flight={max_in_flight}, bulk_every={bulk_every}"
            )
        self.engine = engine
        self.connectors = connectors  # by channel id
        self.limiter = limiter or RateLimiter()
        self.batch = batch
        self.max_attempts = max_attempts
        self.member = member
        self.recover_every = recover_every
        self.max_in_flight = max_in_flight
        self.bulk_every = bulk_every
        self.drain_timeout = drain_timeout
        self.link_makers = link_makers if link_makers is not None else {}
        self._in_flight: dict[int, int] = {}  # channel id -> rows claimed, not yet recorded
        self._streak: dict[int, int] = {}  # channel id -> transactional sends since a bulk one
        self._to_record: list[_Pending] = []
        # The sender's transactions (claims, outcomes, reads of the queue) one at a time:
        # in-flight counts and the cache stay exact, and outcomes that come back while one
        # runs share the next one (group commit).
        self._write_lock = asyncio.Lock()
        # the cache of heads: (channel id, bulk) -> queue
        self._queues: dict[tuple[int, bool], _Queue] = {}
        self._stale = True  # read the whole queue before the next claim
        self._read_channels: frozenset[int] = frozenset()
        self._read_at: datetime | None = None  # the clock's time of the last whole read
        self._seen: int | None = None  # SQLite: the highest outbox id a read has seen
        self._unread = False  # SQLite: rows were added since the last read
        self._spawn: Callable[[list[_Go]], None] | None = None  # set by run_forever
        window = self._window
        # the oldest heads of one kind in some channels, due or not
        self._read_heads_query = (
            select(*_HEAD_COLUMNS)
            .where(
                _T.c.status == OutboxStatus.PENDING,
                _T.c.channel_id.in_(bindparam("channels", expanding=True)),
                _T.c.bulk == bindparam("bulk"),
                _oldest_waiting_of_its_chat(),
            )
            .order_by(_T.c.not_before, _T.c.id)
            .limit(window)
        )
        # the heads among rows added since a read (SQLite)
        self._read_new_query = (
            select(*_HEAD_COLUMNS)
            .where(
                _T.c.id > bindparam("seen"),
                _plain(_T.c.status, True) == OutboxStatus.PENDING,
                _T.c.channel_id.in_(bindparam("channels", expanding=True)),
                _oldest_waiting_of_its_chat(),
            )
            .order_by(_T.c.id)
            .limit(window)
        )
        self._sending_rows = _SENDING_ROWS[engine.is_sqlite]
        self._successors_query = _SUCCESSORS[engine.is_sqlite]

    @property
    def in_flight(self) -> int:
        """Rows this sender has claimed and not yet recorded (all channels)."""
        return sum(self._in_flight.values())

    @property
    def _window(self) -> int:
        return max(self.batch, 2 * self.max_in_flight + 8)

    def _claim_note(self) -> str:
        if self.member is not None:
            return self.member.note()
        return claim_note(None, "the only engine process")

    async def recover(self) -> int:
        """Rows left in ``sending`` by a dead process become ``uncertain`` (reported, never
        resent). Without a cluster member that is every ``sending`` row (call it at start);
        with one, only rows whose claiming process no longer holds its liveness lock."""
        async with self._write_lock:
            self._stale = True  # rows behind the recovered ones may go now
            return await self._recover()

    async def _recover(self) -> int:
        now = self.engine.clock.now()
        async with self.engine.transaction() as session:
            query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
            if not self.engine.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            if self.member is not None and rows:
                owners = {claim_owner(r.error) for r in rows} - {None}
                live = await self.member.alive(k for k in owners if k is not None)
                live.add(self.member.key)
                rows = [r for r in rows if claim_owner(r.error) not in live]
            uncertain = []
            for row in rows:
                if invite_placeholders(row.payload):
                    # a placeholder is never sent: the crash came before the send
                    row.status = OutboxStatus.PENDING
                    row.error = None
                    continue
                uncertain.append(row)
            for row in uncertain:
                row.status = OutboxStatus.UNCERTAIN
                owner = claim_owner(row.error)
                claimed = f" ({row.error})" if owner is not None else ""
                row.error = f"engine stopped while sending{claimed}; delivery unknown, not resent"
                session.add(
                    Notification(
                        kind=NotificationKind.SEND_ERROR,
                        contact_id=row.contact_id,
                        run_id=row.run_id,
                        channel_id=row.channel_id,
                        text="Сообщение могло не дойти: движок остановился во время отправки "
                        "(повторно не отправлено).",
                        details={
                            "outbox_id": row.id,
                            "uncertain": True,
                            "claimed_by": owner,
                        },
                        created_at=now,
                    )
                )
        return len(uncertain)

    # --- the cache of heads ----------------------------------------------------------

    def _queue(self, channel_id: int, bulk: bool) -> _Queue:
        queue = self._queues.get((channel_id, bulk))
        if queue is None:
            queue = self._queues[(channel_id, bulk)] = _Queue()
        return queue

    def _remember(self, heads: Iterable[_Head]) -> None:
        """Put heads (new ones, or rows back to ``pending``) into the cache."""
        touched = set()
        for head in heads:
            if head.channel_id in self.connectors:
                self._queue(head.channel_id, head.bulk).add(head)
                touched.add((head.channel_id, head.bulk))
        for key in touched:
            self._queues[key].trim(2 * self._window)

    async def _read_heads(
        self, session: AsyncSession, channel_ids: Sequence[int], bulk: bool
    ) -> list[_Head]:
        """The oldest heads of one kind in these channels, due or not: at most a window."""
        found = await session.execute(
            self._read_heads_query, {"channels": list(channel_ids), "bulk": bulk}
        )
        return [_head(r) for r in found]

    def _replace(self, channel_ids: Iterable[int], bulk: bool, heads: list[_Head]) -> None:
        boundary = heads[-1].key if len(heads) >= self._window else None
        for channel_id in channel_ids:
            self._queues[(channel_id, bulk)] = _Queue(boundary)
        for head in heads:
            self._queues[(head.channel_id, bulk)].add(head)

    async def _refresh(self, now: datetime, budgets: Mapping[int, int]) -> None:
        """Read the queue where the cache may lack rows that could go now: all of it when
        the cache is stale; else the kinds of channels with free slots whose cached heads
        ran short of a read that stopped at its window."""
        served = frozenset(self.connectors)
        if served != self._read_channels:
            self._stale = True
        if self._stale:
            channels = sorted(served)
            async with self.engine.db.sessions() as session:
                # SQLite: the rows added after this read are those with a higher id
                seen = await session.scalar(_MAX_ID) if self.engine.is_sqlite else None
                reads = [(b, await self._read_heads(session, channels, b)) for b in (False, True)]
            self._queues.clear()
            for bulk, heads in reads:
                self._replace(channels, bulk, heads)
            self._seen = int(seen or 0) if self.engine.is_sqlite else None
            self._unread = False
            self._read_channels = served
            self._read_at = now
            self._stale = False
        for bulk in (False, True):
            short = [c for c, n in budgets.items() if self._short(c, bulk, now, n)]
            if short:
                async with self.engine.db.sessions() as session:
                    heads = await self._read_heads(session, short, bulk)
                self._replace(short, bulk, heads)

    def _short(self, channel_id: int, bulk: bool, now: datetime, budget: int) -> bool:
        """The queue was cut at a read's window (one busy channel may fill it), its due
        heads cannot fill the free slots, and uncached heads may be due: read again."""
        queue = self._queue(channel_id, bulk)
        return (
            queue.boundary is not None
            and queue.boundary[0] <= now
            and queue.due_count(now, budget) < budget
        )

    async def _read_new(self, session: AsyncSession, write: _Write) -> None:
        """SQLite: the heads among rows added since the last read (ids grow in commit
        order there: one writer at a time)."""
        self._unread = False
        if self._seen is None:
            write.stale = True
            return
        connection = await session.connection()
        found = [
            _head(r)
            for r in await connection.execute(
                self._read_new_query, {"seen": self._seen, "channels": sorted(self.connectors)}
            )
        ]
        if len(found) >= self._window:
            write.stale = True  # more than a window at once (a broadcast): read it all
        write.heads += found
        self._seen = max(self._seen, int((await connection.execute(_MAX_ID)).scalar() or 0))

    async def _successors(
        self, session: AsyncSession, done: Sequence[tuple[int, int, int]], write: _Write
    ) -> None:
        """The rows that became heads now that these (row id, channel, contact) are final:
        each chat's oldest waiting row, if it is pending."""
        if not done:
            return
        chats = {(channel_id, contact_id) for _, channel_id, contact_id in done}
        connection = await session.connection()
        found = await connection.execute(
            self._successors_query,
            {
                "contacts": sorted({c for _, c in chats}),
                "channels": sorted({ch for ch, _ in chats}),
                "after": min(row_id for row_id, _, _ in done),
            },
        )
        write.heads += [_head(r) for r in found if (r.channel_id, r.contact_id) in chats]

    # --- claiming ------------------------------------------------------------------

    def _budgets(
        self, now: datetime, result: SendRound, freed: Mapping[int, int]
    ) -> dict[int, int]:
        """Free in-flight slots per connected channel that the bot's own limit lets send
        now (channels with none left out); ``freed``: slots this transaction frees."""
        budgets = {}
        stamp = now.timestamp()
        for channel_id in sorted(self.connectors):
            free = (
                self.max_in_flight - self._in_flight.get(channel_id, 0) + freed.get(channel_id, 0)
            )
            if free <= 0:
                continue
            # claim no more than the bot may send now, and nothing while it is at its limit
            room, wait = self.limiter.channel_room(self.connectors[channel_id].channel.key, stamp)
            if room:
                budgets[channel_id] = min(free, room)
            else:
                result.later(now + timedelta(milliseconds=max(1, math.ceil(wait * 1000))))
        return budgets

    def _choose(
        self, budgets: dict[int, int], now: datetime, result: SendRound
    ) -> list[tuple[_Head, OutgoingMessage, Connector]]:
        """Cached heads that get a send slot now: per channel, transactional first, one
        bulk row after every ``bulk_every`` transactional sends; each slot is taken from
        the limiter (a row the limiter refuses stays cached; ``result.next_at`` says when
        to ask again). The chosen rows leave the cache."""
        limit = min(self.batch, sum(budgets.values()))
        go: list[tuple[_Head, OutgoingMessage, Connector]] = []
        stamp = now.timestamp()
        for channel_id, budget in budgets.items():
            connector = self.connectors[channel_id]
            queues = (self._queue(channel_id, False), self._queue(channel_id, True))
            first, second = queues[0].due(now), queues[1].due(now)
            a, b = next(first, None), next(second, None)
            while (a or b) and budget > 0 and len(go) < limit:
                take_bulk = b is not None and (
                    a is None or self._streak.get(channel_id, 0) >= self.bulk_every
                )
                head = b if take_bulk else a
                assert head is not None
                if take_bulk:
                    b = next(second, None)
                else:
                    a = next(first, None)
                message = head.outgoing()
                wait = self.limiter.reserve(
                    message.channel.key, message.chat_id, message.chat_id < 0, stamp
                )
                if wait > 0:
                    # whole milliseconds, at least one: float noise must not stall the loop
                    result.later(now + timedelta(milliseconds=max(1, math.ceil(wait * 1000))))
                    continue
                queues[head.bulk].discard(head.id)
                self._streak[channel_id] = 0 if take_bulk else self._streak.get(channel_id, 0) + 1
                budget -= 1
                go.append((head, message, connector))
        return go

    def _later_from_cache(self, now: datetime, result: SendRound) -> None:
        for (channel_id, _), queue in self._queues.items():
            if channel_id in self.connectors:
                at = queue.next_after(now)
                if at is not None:
                    result.later(at)

    async def _claim_rows(
        self,
        session: AsyncSession,
        chosen: list[tuple[_Head, OutgoingMessage, Connector]],
        now: datetime,
        write: _Write,
    ) -> None:
        """Mark the chosen rows ``sending`` in one statement; rows no longer pending or
        not due (cancelled, or changed by another process) are skipped, and the cache is
        read again."""
        if not chosen:
            return
        params: dict[str, Any] = {"ids": [h.id for h, _, _ in chosen], "now": now}
        if self.engine.is_sqlite:
            statement = _CLAIM_SQLITE
        else:
            statement = _CLAIM_POSTGRES
            params["note"] = self._claim_note()
        connection = await session.connection()
        found = await connection.execute(statement, params)
        # SQLite: only this process changes a pending row's payload, the cached one holds
        claimed = {r.id: None if self.engine.is_sqlite else r.payload for r in found}
        for head, message, connector in chosen:
            if head.id not in claimed:
                write.stale = True
                continue
            payload = claimed[head.id] or head.payload
            if payload != head.payload:  # another process wrote invite links in
                message = OutgoingMessage.model_validate(payload)
            write.go.append(
                _Go(
                    head.id,
                    head.channel_id,
                    head.contact_id,
                    head.bulk,
                    payload,
                    message,
                    connector,
                )
            )

    async def _claim(self, now: datetime, result: SendRound, *, fresh: bool = False) -> list[_Go]:
        """Claim (mark ``sending``) the rows that go now; they count as in flight. Outcomes
        waiting to be recorded share the transaction. ``fresh``: rows were added since the
        last claim."""
        async with self._write_lock:
            if fresh:
                if self.engine.is_sqlite:
                    self._unread = True  # read by the next transaction with a free slot
                else:
                    self._stale = True  # ids do not grow in commit order there: read it all
            return await self._write(now, result, claim=True, read=True)

    def _release(self, go: _Go) -> None:
        if not go.released:
            go.released = True
            self._in_flight[go.channel_id] -= 1

    async def _write(
        self,
        now: datetime,
        result: SendRound,
        *,
        claim: bool,
        read: bool = False,
        mine: _Pending | None = None,
    ) -> list[_Go]:
        """One transaction of the sender (call it holding the write lock): record the
        outcomes waiting, learn the heads that appeared (the chats' next rows; on SQLite
        the rows added since the last read), claim what may go now. ``read``: may read
        the queue first; without it, claims come only from a cache that needs no reading.
        ``mine``: the caller's own outcome (the others are queued again on failure)."""
        items, self._to_record = self._to_record, []
        try:
            budgets: dict[int, int] = {}
            if claim:
                freed: dict[int, int] = {}
                for p in items:
                    if not p.go.released:
                        freed[p.go.channel_id] = freed.get(p.go.channel_id, 0) + 1
                budgets = self._budgets(now, result, freed)
                if read:
                    await self._refresh(now, budgets)
                elif self._stale or frozenset(self.connectors) != self._read_channels:
                    budgets = {}  # the sender loop reads, then claims
                else:  # where the cache runs short, the loop reads the queue, then claims
                    budgets = {
                        c: n
                        for c, n in budgets.items()
                        if not self._short(c, False, now, n) and not self._short(c, True, now, n)
                    }
            # new rows matter only when a slot is free to send them
            unread = bool(budgets) and self._unread and not self._stale
            if (
                not items
                and not unread
                and not any(
                    self._queue(c, bulk).has_due(now) for c in budgets for bulk in (False, True)
                )
            ):
                self._later_from_cache(now, result)
                return []
            write = _Write()
            chosen = []
            if not items and not unread:  # a claim only: none without a row to claim
                chosen = self._choose(budgets, now, result)
                if not chosen:
                    self._later_from_cache(now, result)
                    return []
            async with self.engine.transaction() as session:
                if items:
                    await self._record(session, items, now, write, learn=claim)
                if unread:
                    await self._read_new(session, write)
                if items or unread:
                    # the chats' next rows and the new rows may go in this transaction
                    self._remember(write.heads)
                    chosen = self._choose(budgets, now, result) if budgets else []
                await self._claim_rows(session, chosen, now, write)
        except BaseException:
            self._stale = True  # the cache may hold what the rollback undid
            self._to_record[:0] = [p for p in items if p is not mine]
            raise
        for p, outcome in zip(items, write.outcomes, strict=True):
            self._release(p.go)
            p.done.set_result(outcome)
        for g in write.go:
            self._in_flight[g.channel_id] = self._in_flight.get(g.channel_id, 0) + 1
        if write.stale:
            self._stale = True
        self._later_from_cache(now, result)
        return write.go

    # --- sending and recording -----------------------------------------------------

    async def _deliver(self, go: _Go) -> str:
        """Send one claimed row and commit its outcome right after."""
        try:
            if invite_placeholders(go.payload):
                return await self._resolve_invite_links(go)
            try:
                sent = await go.connector.send(go.message)
            except Exception as exc:  # a connector bug or a lost connection mid-call
                sent = SendResult.failure(
                    SendErrorKind.NETWORK, f"{type(exc).__name__}: {exc}", maybe_delivered=True
                )
            return await self._commit(go, sent)
        finally:
            self._release(go)  # already done if its outcome was recorded

    async def _resolve_invite_links(self, go: _Go) -> str:
        """Make (or re-use) the invite links a claimed row's placeholders stand for, store
        them in the row and put it back to ``pending``; the send is a later claim's job."""
        now = self.engine.clock.now()
        urls: dict[str, str] = {}
        try:
            for placeholder, token, chat_id in invite_placeholders(go.payload):
                urls[placeholder] = await self._invite_link(token, chat_id, now)
        except _InviteLinkFailure as failure:
            return await self._commit(go, SendResult.failure(failure.kind, str(failure)))
        async with self._write_lock:
            now = self.engine.clock.now()
            async with self.engine.transaction() as session:
                query = select(OutboxMessage).where(OutboxMessage.id == go.id)
                if not self.engine.is_sqlite:
                    query = query.with_for_update()
                fresh = await session.scalar(query.execution_options(populate_existing=True))
                if fresh is None or fresh.status is not OutboxStatus.SENDING:
                    fresh = None  # a peer took this process for dead
                else:
                    fresh.payload = _substitute(fresh.payload, urls)
                    fresh.status = OutboxStatus.PENDING
                    fresh.not_before = now
                    fresh.attempts = max(0, (fresh.attempts or 0) - 1)  # nothing was sent
                    fresh.error = None
                    session.add(
                        HistoryEvent(
                            contact_id=fresh.contact_id,
                            at=now,
                            kind="link.invite_ready",
                            run_id=fresh.run_id,
                            funnel_version_id=fresh.funnel_version_id,
                            node_id=fresh.node_id,
                            channel_id=fresh.channel_id,
                            details={"outbox_id": fresh.id, "invite_links": sorted(urls.values())},
                        )
                    )
            self._release(go)
            if fresh is None:
                self._stale = True
                return SKIPPED
            # still the oldest waiting row of its chat: it goes in a later claim
            self._remember(
                [_Head(go.id, go.channel_id, go.contact_id, now, go.bulk, fresh.payload)]
            )
        return RETRIED

    async def _invite_link(self, token: str, chat_id: int, now: datetime) -> str:
        """The one-person invite link to ``chat_id`` for personal link ``token``: the one
        already registered for it (a retry after a crash, or a second message with the
        same link), else a new one made by the bot the link belongs to and registered
        (its own transaction) before anything is sent."""
        where = f"an invite link to chat {chat_id}"
        async with self.engine.db.sessions() as session:
            parent = await session.scalar(select(PersonalLink).where(PersonalLink.token == token))
            if parent is None:
                raise _InviteLinkFailure(
                    SendErrorKind.BAD_REQUEST, f"{where}: no personal link {token!r}"
                )
            same = [
                PersonalLink.contact_id == parent.contact_id,
                PersonalLink.target_channel_id == parent.target_channel_id,
                PersonalLink.product_id == parent.product_id
                if parent.product_id is not None
                else PersonalLink.product_id.is_(None),
                PersonalLink.created_by_run_id == parent.created_by_run_id
                if parent.created_by_run_id is not None
                else PersonalLink.created_by_run_id.is_(None),
            ]
            existing: str | None = await session.scalar(
                select(PersonalLink.token)
                .where(
                    *same,
                    PersonalLink.id > parent.id,
                    PersonalLink.token.like("%/%"),
                    PersonalLink.chat_id == chat_id,  # the same link may open two chats
                    PersonalLink.revoked_at.is_(None),
                    PersonalLink.used_at.is_(None),  # a used link lets nobody in any more
                    (PersonalLink.expires_at.is_(None)) | (PersonalLink.expires_at > now),
                )
                .order_by(PersonalLink.id.desc())
                .limit(1)
            )
        if existing is not None:
            return existing
        if parent.revoked_at is not None or (
            parent.expires_at is not None and parent.expires_at <= now
        ):
            raise _InviteLinkFailure(
                SendErrorKind.BAD_REQUEST,
                f"{where}: the personal link expired or was revoked before the message went",
            )
        info = self.engine.channels.get(parent.target_channel_id)
        name = info.name if info is not None else f"channel {parent.target_channel_id}"
        connector = self.connectors.get(parent.target_channel_id) or self.link_makers.get(
            parent.target_channel_id
        )
        make = getattr(connector, "create_personal_invite_link", None)
        if make is None:
            why = "is not connected here" if connector is None else "cannot make invite links"
            raise _InviteLinkFailure(
                SendErrorKind.BAD_REQUEST, f"cannot create {where}: {name!r} {why}"
            )
        expires_at = parent.expires_at or now + DEFAULT_INVITE_LIFETIME
        try:
            link = str(await make(token, chat_id, expire_in=expires_at - now))
        except ConnectorError as exc:
            kind = (
                SendErrorKind.SERVER_ERROR
                if getattr(exc, "retryable", False)
                else SendErrorKind.BAD_REQUEST
            )
            raise _InviteLinkFailure(kind, f"cannot create {where}: {exc}") from None
        try:
            await self.engine.register_invite_link(
                token, link, chat_id=chat_id, expires_at=expires_at
            )
        except (ValueError, LookupError) as exc:
            raise _InviteLinkFailure(SendErrorKind.BAD_REQUEST, f"{where}: {exc}") from None
        return link

    async def _commit(self, go: _Go, sent: SendResult) -> str:
        """Group commit: whoever holds the write lock records every result queued so far,
        so results that return together share one transaction, and none waits for more
        than the transaction in progress. Under :meth:`run_forever` that transaction also
        claims the rows that may go in the freed slots (the chat's next row among them)
        and starts their sends."""
        item = _Pending(go, sent, asyncio.get_running_loop().create_future())
        self._to_record.append(item)
        try:
            async with self._write_lock:
                if not item.done.done():
                    # one loop turn: sends that returned together share the transaction
                    await asyncio.sleep(0)
                    spawn = self._spawn
                    claimed = await self._write(
                        self.engine.clock.now(), SendRound(), claim=spawn is not None, mine=item
                    )
                    if claimed and spawn is not None:
                        spawn(claimed)
        finally:
            if not item.done.done() and item in self._to_record:
                self._to_record.remove(item)  # cancelled: nobody records it now
        return item.done.result()

    async def send_round(self) -> SendRound:
        """Read the queue, claim the rows that may go now and send them; returns when all
        are recorded."""
        now = self.engine.clock.now()
        result = SendRound()
        self._stale = True  # rows may have been written by anyone since the last round
        go = await self._claim(now, result)
        if go:
            for outcome in await asyncio.gather(*(self._deliver(g) for g in go)):
                result.count(outcome)
        return result

    async def _record(
        self,
        session: AsyncSession,
        items: list[_Pending],
        now: datetime,
        write: _Write,
        *,
        learn: bool,
    ) -> None:
        """The outcomes of returned sends: one UPDATE (executemany) for the rows, one
        INSERT each for history and notifications; with ``learn``, the chats' next rows
        become cached heads."""
        connection = await session.connection()
        found = await connection.execute(self._sending_rows, {"ids": [p.go.id for p in items]})
        rows = {r.id: r for r in found}
        changes: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        done: list[tuple[int, int, int]] = []  # (row id, channel, contact) now final

        for p in items:
            go, sent = p.go, p.sent
            row = rows.get(go.id)
            if row is None:
                # a peer took this process for dead and reported the row uncertain
                write.outcomes.append(SKIPPED)
                write.stale = True
                continue
            change: dict[str, Any] = {
                "b_id": row.id,
                "b_sent_at": None,
                "b_message_id": None,
                "b_error": None,
                "b_not_before": None,
            }
            changes.append(change)

            def event(kind: str, row: Any = row, **details: Any) -> None:
                history.append(
                    {
                        "contact_id": row.contact_id,
                        "at": now,
                        "kind": kind,
                        "run_id": row.run_id,
                        "funnel_version_id": row.funnel_version_id,
                        "node_id": row.node_id,
                        "channel_id": row.channel_id,
                        "details": {"outbox_id": row.id, **details},
                    }
                )

            def notify(text: str, row: Any = row, **details: Any) -> None:
                notes.append(
                    {
                        "kind": NotificationKind.SEND_ERROR,
                        "contact_id": row.contact_id,
                        "run_id": row.run_id,
                        "channel_id": row.channel_id,
                        "text": text,
                        "details": {"outbox_id": row.id, **details},
                        "created_at": now,
                    }
                )

            outcome = self._outcome(row, go, sent, now, change, event, notify)
            if outcome in (SENT, FAILED, UNCERTAIN):
                done.append((row.id, row.channel_id, row.contact_id))
            else:  # back to pending: still the oldest waiting row of its chat
                write.heads.append(
                    _Head(
                        go.id, go.channel_id, go.contact_id, change["b_not_before"], go.bulk,
                        go.payload, go.message,
                    )
                )  # fmt: skip
            if sent.error is not None and sent.error.kind is SendErrorKind.BLOCKED:
                # the contact's status in that channel becomes blocked (tags stay)
                status = await session.get(ContactChannel, (row.contact_id, row.channel_id))
                if status is not None and status.status is not SubscriptionStatus.BLOCKED:
                    status.status = SubscriptionStatus.BLOCKED
                    status.status_changed_at = now
            write.outcomes.append(outcome)
        if changes:
            await connection.execute(_RECORD, changes)
        if history:
            await connection.execute(insert(_HISTORY), history)
        if notes:
            await connection.execute(insert(_NOTIFICATIONS), notes)
        if learn:
            await self._successors(session, done, write)

    def _outcome(
        self,
        row: Any,
        go: _Go,
        sent: SendResult,
        now: datetime,
        change: dict[str, Any],
        event: Callable[..., None],
        notify: Callable[..., None],
    ) -> str:
        """Fill ``change`` (the row's new columns) for one returned send; returns the
        outcome."""
        if sent.ok:
            change.update(b_status=OutboxStatus.SENT, b_sent_at=now, b_message_id=sent.message_id)
            event("message.sent", telegram_message_id=sent.message_id)
            return SENT
        error = sent.error
        assert error is not None
        change["b_error"] = described = f"{error.kind.value}: {error.description}"
        if error.kind is SendErrorKind.RETRY_AFTER:
            retry = float(error.retry_after or 1.0)
            change.update(
                b_status=OutboxStatus.PENDING, b_not_before=now + timedelta(seconds=retry)
            )
            message = go.message
            self.limiter.penalise(message.channel.key, message.chat_id, retry, now.timestamp())
            return RETRIED
        if error.kind is SendErrorKind.BLOCKED:
            change["b_status"] = OutboxStatus.FAILED
            event("message.failed", error=described, blocked=True)
            return FAILED
        if error.kind is SendErrorKind.NETWORK and error.maybe_delivered:
            change["b_status"] = OutboxStatus.UNCERTAIN
            event("message.uncertain", error=described)
            notify(
                "Не известно, дошло ли сообщение (сетевая ошибка); повторно не отправлено.",
                uncertain=True,
            )
            return UNCERTAIN
        if error.retryable and row.attempts < self.max_attempts:
            change.update(
                b_status=OutboxStatus.PENDING,
                b_not_before=now + timedelta(seconds=min(300, 2**row.attempts)),
            )
            return RETRIED
        change["b_status"] = OutboxStatus.FAILED
        event("message.failed", error=described)
        notify(f"Сообщение не отправлено: {described}")
        return FAILED

    async def flush(self, *, max_rounds: int = 1000) -> SendRound:
        """Send until nothing is due now (for the simulator and tests)."""
        total = SendRound()
        for _ in range(max_rounds):
            r = await self.send_round()
            total.sent += r.sent
            total.failed += r.failed
            total.retried += r.retried
            total.uncertain += r.uncertain
            total.next_at = r.next_at
            if r.attempted == 0:
                break
        return total

    async def run_forever(self, *, idle: timedelta = timedelta(seconds=30)) -> None:
        """The sender loop of the daemon (cancel to stop). Sends overlap: a row is claimed
        as soon as its chat, its bot's in-flight slots and the limiter allow, without
        waiting for the slowest send of a round — usually by the transaction that records
        the send that freed the slot. The loop keeps the heads it has read in memory and
        reads the queue again only when that cache may miss something: at start, when a
        claim finds a row changed elsewhere, when a read stopped at its window and ran
        short, and at least every ``idle``; on SQLite the engine's wakeup makes it read
        only the rows added since. Rows written by other processes wake nobody here, so
        with several processes pass a short ``idle``. Cancelled, it lets the sends in
        flight finish (up to ``drain_timeout``) so their outcome is kept."""
        await self.recover()
        recovered_at = time.monotonic()
        engine = self.engine
        tasks: set[asyncio.Task[str]] = set()
        freed = asyncio.Event()

        def finished(task: asyncio.Task[str]) -> None:
            tasks.discard(task)
            freed.set()  # a slot is free, the chat's next row may go
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "recording an outbox send failed; the row stays 'sending' until the "
                    "next start reports it uncertain",
                    exc_info=task.exception(),
                )

        def spawn(go: list[_Go]) -> None:
            for g in go:
                task = asyncio.create_task(self._deliver(g), name=f"outbox-send:{g.id}")
                tasks.add(task)
                task.add_done_callback(finished)

        self._spawn = spawn
        self._stale = True
        try:
            while True:
                if (
                    self.member is not None
                    and time.monotonic() - recovered_at >= self.recover_every
                ):
                    await self.recover()  # rows a dead peer left in sending
                    recovered_at = time.monotonic()
                fresh = engine.outbox_wakeup.is_set()
                engine.outbox_wakeup.clear()
                freed.clear()
                now = engine.clock.now()
                if self._read_at is None or now - self._read_at >= idle:
                    self._stale = True  # rows of other processes, or changed elsewhere
                result = SendRound()
                go = await self._claim(now, result, fresh=fresh)
                spawn(go)
                if len(go) >= self.batch or self._stale:
                    continue  # more may go at once, or a row changed elsewhere: read again
                now = engine.clock.now()
                until = now + idle
                if self._read_at is not None:
                    until = min(until, max(now, self._read_at + idle))
                if result.next_at is not None:
                    until = min(until, result.next_at)
                await _wait_for_any(engine.clock, until, engine.outbox_wakeup, freed)
        finally:
            self._spawn = None  # no more claims; a transaction under way may still start sends
            deadline = asyncio.get_running_loop().time() + self.drain_timeout
            while tasks and (left := deadline - asyncio.get_running_loop().time()) > 0:
                await asyncio.wait(set(tasks), timeout=left)
            late = set(tasks)
            for task in late:
                task.cancel()  # its row stays sending: uncertain at the next start
            await asyncio.gather(*late, return_exceptions=True)


async def _wait_for_any(clock: Clock, when: datetime, *events: asyncio.Event) -> None:
    """Wait until ``when`` or until one of ``events`` is set."""
    if any(e.is_set() for e in events):
        return
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(clock.sleep_until(when))]
    waiters += [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def contact_user_id(engine: ProjectEngine, contact_id: int) -> int | None:
    async with engine.db.sessions() as session:
        found: int | None = await session.scalar(
            select(Contact.telegram_user_id).where(Contact.id == contact_id)
        )
        return found
