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

Several processes (PostgreSQL, :mod:`engine.cluster`): rows are claimed with ``SELECT …
FOR UPDATE SKIP LOCKED``. On every database a row is claimable only when no earlier row
of its chat is pending or sending, so per-chat order holds across processes and across
the overlapping sends of :meth:`OutboxSender.run_forever`. A claimed row names its
process in ``error`` while ``sending`` (PostgreSQL); with a
:class:`~engine.cluster.ClusterMember`, :meth:`OutboxSender.recover` (at start and every
``recover_every`` seconds) only turns rows of processes whose liveness lock is gone into
``uncertain``. Without a member (one process, SQLite or PostgreSQL) every ``sending`` row
found at start is a crash leftover.

**Funnel messages before broadcasts** (issue #6). Rows of a broadcast (``outbox.bulk``,
set from the ``broadcast:…`` idempotency key) are *bulk*; every other row is
*transactional* (a funnel's reply). Both kinds are read separately, oldest first, along
the index (status, bulk, not_before, id), so a 10,000-row broadcast never hides a later
funnel message and reading the queue stays cheap however long it is; per bot, transactional rows take the send slots first, but after
``bulk_every`` transactional sends in a row one waiting bulk row goes, so a broadcast
still gets at least 1/(bulk_every + 1) of a saturated bot and all of an idle one.

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
import logging
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
from engine.clock import wait_until_or_event
from engine.cluster import ClusterMember, claim_note, claim_owner
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter
from engine.steps import INVITE_PLACEHOLDER_RE

log = logging.getLogger(__name__)

_Go = tuple[OutboxMessage, OutgoingMessage, Connector]

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


@dataclass
class _Pending:
    """A send that returned and waits for its outcome to be committed."""

    go: _Go
    sent: SendResult
    done: asyncio.Future[str] = field(repr=False)


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
        """``batch``: most rows claimed at once (all channels); ``max_in_flight``: most
        rows of one channel being sent at once (the bound of what a crash leaves
        uncertain); ``bulk_every``: transactional sends in a row before a waiting
        broadcast row gets a slot; ``drain_timeout``: how long a cancelled
        :meth:`run_forever` lets its in-flight sends finish; ``link_makers``: bot
        connectors (by channel id) this process does not send through but may ask for an
        invite link (with several processes, the bots whose intake another one owns)."""
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
        self._record_lock = asyncio.Lock()
        self._claim_lock = asyncio.Lock()  # in-flight counts stay exact across claimers

    @property
    def in_flight(self) -> int:
        """Rows this sender has claimed and not yet recorded (all channels)."""
        return sum(self._in_flight.values())

    def _claim_note(self) -> str:
        if self.member is not None:
            return self.member.note()
        return claim_note(None, "the only engine process")

    async def recover(self) -> int:
        """Rows left in ``sending`` by a dead process become ``uncertain`` (reported, never
        resent). Without a cluster member that is every ``sending`` row (call it at start);
        with one, only rows whose claiming process no longer holds its liveness lock."""
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

    # --- claiming ------------------------------------------------------------------

    def _budgets(self) -> dict[int, int]:
        """Free in-flight slots per connected channel (channels with none left out)."""
        budgets = {}
        for channel_id in sorted(self.connectors):
            free = self.max_in_flight - self._in_flight.get(channel_id, 0)
            if free > 0:
                budgets[channel_id] = free
        return budgets

    async def _read_candidates(
        self,
        session: AsyncSession,
        now: datetime,
        channel_ids: Sequence[int],
        window: int,
        result: SendRound,
    ) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
        """(transactional, bulk) rows that may go now, oldest first, each the oldest
        waiting row of its chat; on PostgreSQL locked ``FOR UPDATE SKIP LOCKED``. With
        none, ``result.next_at`` learns when the next pending row is due."""
        earlier = aliased(OutboxMessage)
        waiting = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        found: list[list[OutboxMessage]] = []
        for bulk in (False, True):
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.not_before <= now,
                    OutboxMessage.channel_id.in_(channel_ids),
                    OutboxMessage.bulk.is_(bulk),
                    ~exists().where(
                        earlier.channel_id == OutboxMessage.channel_id,
                        earlier.contact_id == OutboxMessage.contact_id,
                        earlier.id < OutboxMessage.id,
                        earlier.status.in_(waiting),
                    ),
                )
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                .limit(window)
            )
            if not self.engine.is_sqlite:
                query = query.with_for_update(of=OutboxMessage, skip_locked=True)
            found.append(list((await session.scalars(query)).all()))
        if found[0] or found[1]:
            return found[0], found[1]  # the caller comes back soon anyway
        later: datetime | None = await session.scalar(
            select(func.min(OutboxMessage.not_before)).where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.not_before > now,
                OutboxMessage.channel_id.in_(channel_ids),
            )
        )
        if later is not None:
            result.later(later)
        return found[0], found[1]

    def _choose(
        self,
        transactional: list[OutboxMessage],
        bulk: list[OutboxMessage],
        budgets: dict[int, int],
        limit: int,
        now: datetime,
        result: SendRound,
    ) -> list[_Go]:
        """Rows that get a send slot now: per channel, transactional first, one bulk row
        after every ``bulk_every`` transactional sends; each slot is taken from the
        limiter (a row the limiter refuses stays pending; ``result.next_at`` says when
        to ask again)."""
        by_channel: dict[int, tuple[deque[OutboxMessage], deque[OutboxMessage]]] = {}
        for rows, index in ((transactional, 0), (bulk, 1)):
            for row in rows:
                by_channel.setdefault(row.channel_id, (deque(), deque()))[index].append(row)
        go: list[_Go] = []
        stamp = now.timestamp()
        for channel_id, (first, second) in by_channel.items():
            budget = budgets.get(channel_id, 0)
            connector = self.connectors[channel_id]
            while (first or second) and budget > 0 and len(go) < limit:
                take_bulk = bool(second) and (
                    not first or self._streak.get(channel_id, 0) >= self.bulk_every
                )
                row = second.popleft() if take_bulk else first.popleft()
                message = OutgoingMessage.model_validate(row.payload)
                wait = self.limiter.reserve(
                    message.channel.key, message.chat_id, message.chat_id < 0, stamp
                )
                if wait > 0:
                    # whole milliseconds, at least one: float noise must not stall the loop
                    result.later(now + timedelta(milliseconds=max(1, math.ceil(wait * 1000))))
                    continue
                self._streak[channel_id] = 0 if take_bulk else self._streak.get(channel_id, 0) + 1
                budget -= 1
                go.append((row, message, connector))
        return go

    async def _claim(self, now: datetime, result: SendRound) -> list[_Go]:
        """Claim (mark ``sending``) the rows that go now; they count as in flight."""
        async with self._claim_lock:
            return await self._claim_locked(now, result)

    async def _claim_locked(self, now: datetime, result: SendRound) -> list[_Go]:
        budgets = self._budgets()
        stamp = now.timestamp()
        for channel_id in list(budgets):
            # read no more than the bot may send now, and nothing while it is at its limit
            room, wait = self.limiter.channel_room(self.connectors[channel_id].channel.key, stamp)
            if room:
                budgets[channel_id] = min(budgets[channel_id], room)
            else:
                del budgets[channel_id]
                result.later(now + timedelta(milliseconds=max(1, math.ceil(wait * 1000))))
        if not budgets:
            return []
        limit = min(self.batch, sum(budgets.values()))
        window = 2 * limit + 8  # some chats may be at their own limit
        channel_ids = list(budgets)
        if self.engine.is_sqlite:
            # one process, one writer: read without the writer lock, then claim with one
            # UPDATE that skips rows no longer pending (e.g. a cancelled broadcast)
            async with self.engine.db.sessions() as session:
                first, second = await self._read_candidates(
                    session, now, channel_ids, window, result
                )
            go = self._choose(first, second, budgets, limit, now, result)
            if go:
                async with self.engine.transaction() as session:
                    claimed = await session.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.id.in_([r.id for r, _, _ in go]),
                            OutboxMessage.status == OutboxStatus.PENDING,
                        )
                        .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
                        .returning(OutboxMessage.id)
                        .execution_options(synchronize_session=False)
                    )
                    ids = set(claimed.scalars())
                go = [g for g in go if g[0].id in ids]
        else:
            async with self.engine.db.sessions() as session, session.begin():
                first, second = await self._read_candidates(
                    session, now, channel_ids, window, result
                )
                go = self._choose(first, second, budgets, limit, now, result)
                note = self._claim_note()
                for row, _, _ in go:
                    row.status = OutboxStatus.SENDING
                    row.attempts = (row.attempts or 0) + 1
                    row.error = note
        for row, _, _ in go:
            self._in_flight[row.channel_id] = self._in_flight.get(row.channel_id, 0) + 1
        return go

    # --- sending and recording -----------------------------------------------------

    async def _deliver(self, go: _Go) -> str:
        """Send one claimed row and commit its outcome right after."""
        row, message, connector = go
        try:
            if invite_placeholders(row.payload):
                return await self._resolve_invite_links(go)
            try:
                sent = await connector.send(message)
            except Exception as exc:  # a connector bug or a lost connection mid-call
                sent = SendResult.failure(
                    SendErrorKind.NETWORK, f"{type(exc).__name__}: {exc}", maybe_delivered=True
                )
            return await self._commit(go, sent)
        finally:
            self._in_flight[row.channel_id] -= 1

    async def _resolve_invite_links(self, go: _Go) -> str:
        """Make (or re-use) the invite links a claimed row's placeholders stand for, store
        them in the row and put it back to ``pending``; the send is a later claim's job."""
        row = go[0]
        now = self.engine.clock.now()
        urls: dict[str, str] = {}
        try:
            for placeholder, token, chat_id in invite_placeholders(row.payload):
                urls[placeholder] = await self._invite_link(token, chat_id, now)
        except _InviteLinkFailure as failure:
            return await self._commit(go, SendResult.failure(failure.kind, str(failure)))
        async with self.engine.transaction() as session:
            query = select(OutboxMessage).where(OutboxMessage.id == row.id)
            if not self.engine.is_sqlite:
                query = query.with_for_update()
            fresh = await session.scalar(query.execution_options(populate_existing=True))
            if fresh is None or fresh.status is not OutboxStatus.SENDING:
                return SKIPPED  # a peer took this process for dead
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
        self.engine.outbox_wakeup.set()
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
            await self.engine.register_invite_link(token, link, expires_at=expires_at)
        except (ValueError, LookupError) as exc:
            raise _InviteLinkFailure(SendErrorKind.BAD_REQUEST, f"{where}: {exc}") from None
        return link

    async def _commit(self, go: _Go, sent: SendResult) -> str:
        """Group commit: whoever holds the lock records every result queued so far, so
        results that return together share one transaction, and none waits for more
        than the commit in progress."""
        item = _Pending(go, sent, asyncio.get_running_loop().create_future())
        self._to_record.append(item)
        async with self._record_lock:
            if not item.done.done():
                items, self._to_record = self._to_record, []
                try:
                    outcomes = await self._record([(p.go, p.sent) for p in items])
                except BaseException:
                    # the others record themselves when they get the lock
                    self._to_record[:0] = [p for p in items if p is not item]
                    raise
                for p, outcome in zip(items, outcomes, strict=True):
                    p.done.set_result(outcome)
        return item.done.result()

    async def send_round(self) -> SendRound:
        """Claim the rows that may go now and send them; returns when all are recorded."""
        now = self.engine.clock.now()
        result = SendRound()
        go = await self._claim(now, result)
        if go:
            for outcome in await asyncio.gather(*(self._deliver(g) for g in go)):
                result.count(outcome)
        return result

    async def _record(self, done: list[tuple[_Go, SendResult]]) -> list[str]:
        now = self.engine.clock.now()
        async with self.engine.transaction() as session:
            query = select(OutboxMessage).where(OutboxMessage.id.in_([go[0].id for go, _ in done]))
            if not self.engine.is_sqlite:
                query = query.with_for_update()
            rows = {
                r.id: r
                for r in (
                    await session.scalars(query.execution_options(populate_existing=True))
                ).all()
            }
            return [
                await self._record_one(session, rows[go[0].id], go[1], sent, now)
                for go, sent in done
            ]

    async def _record_one(
        self,
        session: AsyncSession,
        row: OutboxMessage,
        message: OutgoingMessage,
        sent: SendResult,
        now: datetime,
    ) -> str:
        if row.status is not OutboxStatus.SENDING:
            # a peer took this process for dead and reported the row uncertain
            return SKIPPED

        def history(kind: str, **details: Any) -> None:
            session.add(
                HistoryEvent(
                    contact_id=row.contact_id,
                    at=now,
                    kind=kind,
                    run_id=row.run_id,
                    funnel_version_id=row.funnel_version_id,
                    node_id=row.node_id,
                    channel_id=row.channel_id,
                    details={"outbox_id": row.id, **details},
                )
            )

        def notify(text: str, **details: Any) -> None:
            session.add(
                Notification(
                    kind=NotificationKind.SEND_ERROR,
                    contact_id=row.contact_id,
                    run_id=row.run_id,
                    channel_id=row.channel_id,
                    text=text,
                    details={"outbox_id": row.id, **details},
                    created_at=now,
                )
            )

        if sent.ok:
            row.status = OutboxStatus.SENT
            row.sent_at = now
            row.telegram_message_id = sent.message_id
            row.error = None
            history("message.sent", telegram_message_id=sent.message_id)
            return SENT
        error = sent.error
        assert error is not None
        row.error = f"{error.kind.value}: {error.description}"
        if error.kind is SendErrorKind.RETRY_AFTER:
            retry = float(error.retry_after or 1.0)
            row.status = OutboxStatus.PENDING
            row.not_before = now + timedelta(seconds=retry)
            self.limiter.penalise(message.channel.key, message.chat_id, retry, now.timestamp())
            return RETRIED
        if error.kind is SendErrorKind.BLOCKED:
            row.status = OutboxStatus.FAILED
            status = await session.get(ContactChannel, (row.contact_id, row.channel_id))
            if status is not None and status.status is not SubscriptionStatus.BLOCKED:
                status.status = SubscriptionStatus.BLOCKED
                status.status_changed_at = now
            history("message.failed", error=row.error, blocked=True)
            return FAILED
        if error.kind is SendErrorKind.NETWORK and error.maybe_delivered:
            row.status = OutboxStatus.UNCERTAIN
            history("message.uncertain", error=row.error)
            notify(
                "Не известно, дошло ли сообщение (сетевая ошибка); повторно не отправлено.",
                uncertain=True,
            )
            return UNCERTAIN
        if error.retryable and row.attempts < self.max_attempts:
            row.status = OutboxStatus.PENDING
            row.not_before = now + timedelta(seconds=min(300, 2**row.attempts))
            return RETRIED
        row.status = OutboxStatus.FAILED
        history("message.failed", error=row.error)
        notify(f"Сообщение не отправлено: {row.error}")
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
        waiting for the slowest send of a round. Rows written by other processes wake
        nobody here, so with several processes pass a short ``idle``. Cancelled, it lets
        the sends in flight finish (up to ``drain_timeout``) so their outcome is kept."""
        await self.recover()
        recovered_at = time.monotonic()
        engine = self.engine
        tasks: set[asyncio.Task[str]] = set()

        def finished(task: asyncio.Task[str]) -> None:
            tasks.discard(task)
            engine.outbox_wakeup.set()  # a slot is free, the chat's next row may go
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "recording an outbox send failed; the row stays 'sending' until the "
                    "next start reports it uncertain",
                    exc_info=task.exception(),
                )

        try:
            while True:
                if (
                    self.member is not None
                    and time.monotonic() - recovered_at >= self.recover_every
                ):
                    await self.recover()  # rows a dead peer left in sending
                    recovered_at = time.monotonic()
                engine.outbox_wakeup.clear()
                now = engine.clock.now()
                result = SendRound()
                go = await self._claim(now, result)
                for g in go:
                    task = asyncio.create_task(self._deliver(g), name=f"outbox-send:{g[0].id}")
                    tasks.add(task)
                    task.add_done_callback(finished)
                if len(go) >= self.batch:
                    continue  # more may go at once
                now = engine.clock.now()
                until = result.next_at if result.next_at is not None else now + idle
                await wait_until_or_event(
                    engine.clock, min(until, now + idle), engine.outbox_wakeup
                )
        finally:
            if tasks:
                _, late = await asyncio.wait(set(tasks), timeout=self.drain_timeout)
                for task in late:
                    task.cancel()  # its row stays sending: uncertain at the next start
                await asyncio.gather(*late, return_exceptions=True)


async def contact_user_id(engine: ProjectEngine, contact_id: int) -> int | None:
    async with engine.db.sessions() as session:
        found: int | None = await session.scalar(
            select(Contact.telegram_user_id).where(Contact.id == contact_id)
        )
        return found
