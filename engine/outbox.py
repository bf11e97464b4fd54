"""Delivering the outbox over the connectors, under Telegram's limits (DESIGN: step loop).

A row goes pending → sending (committed BEFORE the network call) → sent / failed /
uncertain, so a crash mid-send leaves it in ``sending``; :meth:`OutboxSender.recover`
turns such rows into ``uncertain`` and reports them instead of sending twice.

Several processes (PostgreSQL, :mod:`engine.cluster`): rows are claimed with ``SELECT …
FOR UPDATE SKIP LOCKED``, and a row is claimable only when no earlier row of its chat is
pending or sending, so per-chat order holds across processes. A claimed row names its
process in ``error`` while ``sending``; with a :class:`~engine.cluster.ClusterMember`,
:meth:`OutboxSender.recover` (at start and every ``recover_every`` seconds) only turns
rows of processes whose liveness lock is gone into ``uncertain``. Without a member (one
process, SQLite or PostgreSQL) every ``sending`` row found at start is a crash leftover.

- Per chat, rows go strictly in id order: only the oldest pending row of a chat is a
  candidate, so a 429 (``not_before = now + retry_after``) holds the chat's later rows.
- Limits (per bot ≈30/s, per chat 1/s, per group 20/min) come from
  :class:`engine.ratelimit.RateLimiter`, fed with the clock's time.
- blocked (403) → failed, the contact's status in that channel becomes blocked (tags stay);
  bad request / unauthorized → failed + a send-error notification; server or network
  errors without delivery → retried with back-off (failed + notification after
  ``max_attempts``); a network error that may have delivered → uncertain + notification.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import aliased

from connectors.base import Connector, OutgoingMessage, SendErrorKind, SendResult
from db.models import (
    Contact,
    ContactChannel,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    SubscriptionStatus,
)
from engine.clock import wait_until_or_event
from engine.cluster import ClusterMember, claim_note, claim_owner
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter

_Go = tuple[OutboxMessage, OutgoingMessage, Connector]


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
    ) -> None:
        self.engine = engine
        self.connectors = connectors  # by channel id
        self.limiter = limiter or RateLimiter()
        self.batch = batch
        self.max_attempts = max_attempts
        self.member = member
        self.recover_every = recover_every

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
            for row in rows:
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
        return len(rows)

    async def _candidates(self, now: datetime) -> tuple[list[OutboxMessage], datetime | None]:
        async with self.engine.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                    .order_by(OutboxMessage.id)
                    .limit(self.batch * 5)
                )
            ).all()
        first: dict[tuple[int, int], OutboxMessage] = {}
        for row in rows:
            first.setdefault((row.channel_id, row.contact_id), row)
        due, later = [], None
        for row in first.values():
            if row.not_before <= now:
                due.append(row)
            elif later is None or row.not_before < later:
                later = row.not_before
        return due[: self.batch], later

    async def _claim_shared(self, now: datetime, result: SendRound) -> list[_Go]:
        """PostgreSQL: claim due rows with ``FOR UPDATE SKIP LOCKED``. A row is claimable
        only when no earlier row of its chat is pending or sending (order across
        processes); rows of channels without a connector here are left to their owner."""
        channel_ids = sorted(self.connectors)
        if not channel_ids:
            return []
        earlier = aliased(OutboxMessage)
        waiting = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        go: list[_Go] = []
        async with self.engine.db.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.not_before <= now,
                        OutboxMessage.channel_id.in_(channel_ids),
                        ~exists().where(
                            earlier.channel_id == OutboxMessage.channel_id,
                            earlier.contact_id == OutboxMessage.contact_id,
                            earlier.id < OutboxMessage.id,
                            earlier.status.in_(waiting),
                        ),
                    )
                    .order_by(OutboxMessage.id)
                    .limit(self.batch)
                    .with_for_update(of=OutboxMessage, skip_locked=True)
                )
            ).all()
            later: datetime | None = await session.scalar(
                select(func.min(OutboxMessage.not_before)).where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.not_before > now,
                    OutboxMessage.channel_id.in_(channel_ids),
                )
            )
            if later is not None:
                result.next_at = later
            note = self._claim_note()
            for row in rows:
                message = OutgoingMessage.model_validate(row.payload)
                wait = self.limiter.reserve(
                    message.channel.key, message.chat_id, message.chat_id < 0, now.timestamp()
                )
                if wait > 0:
                    at = now + timedelta(milliseconds=max(1, math.ceil(wait * 1000)))
                    result.next_at = at if result.next_at is None else min(result.next_at, at)
                    continue
                row.status = OutboxStatus.SENDING
                row.attempts = (row.attempts or 0) + 1
                row.error = note
                go.append((row, message, self.connectors[row.channel_id]))
        return go

    async def send_round(self) -> SendRound:
        """Claim and send the due rows once (the oldest per chat)."""
        now = self.engine.clock.now()
        result = SendRound()
        if self.engine.is_sqlite:
            go = await self._claim_single(now, result)
        else:
            go = await self._claim_shared(now, result)
        if not go:
            return result

        async def one(message: OutgoingMessage, connector: Connector) -> SendResult:
            try:
                return await connector.send(message)
            except Exception as exc:  # a connector bug or a lost connection mid-call
                return SendResult.failure(
                    SendErrorKind.NETWORK, f"{type(exc).__name__}: {exc}", maybe_delivered=True
                )

        results = await asyncio.gather(*(one(m, c) for _, m, c in go))
        await self._record(list(zip(go, results, strict=True)), result)
        return result

    async def _claim_single(self, now: datetime, result: SendRound) -> list[_Go]:
        """SQLite (one process, one writer): pick the oldest due row per chat, then mark
        them ``sending`` with one UPDATE."""
        rows, result.next_at = await self._candidates(now)
        go: list[tuple[OutboxMessage, OutgoingMessage, Connector]] = []
        for row in rows:
            connector = self.connectors.get(row.channel_id)
            if connector is None:
                continue  # channel not connected: the row waits
            message = OutgoingMessage.model_validate(row.payload)
            wait = self.limiter.reserve(
                message.channel.key, message.chat_id, message.chat_id < 0, now.timestamp()
            )
            if wait > 0:
                # whole milliseconds, at least one: float noise must not stall the loop
                at = now + timedelta(milliseconds=max(1, math.ceil(wait * 1000)))
                result.next_at = at if result.next_at is None else min(result.next_at, at)
                continue
            go.append((row, message, connector))
        if not go:
            return go
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
        return [g for g in go if g[0].id in ids]

    async def _record(
        self,
        done: list[tuple[_Go, SendResult]],
        result: SendRound,
    ) -> None:
        now = self.engine.clock.now()
        async with self.engine.transaction() as session:
            for (row0, message, _), sent in done:
                row = await session.get(
                    OutboxMessage,
                    row0.id,
                    populate_existing=True,
                    with_for_update=not self.engine.is_sqlite,
                )
                assert row is not None
                if row.status is not OutboxStatus.SENDING:
                    # a peer took this process for dead and reported the row uncertain
                    continue

                def history(kind: str, row: OutboxMessage = row, **details: object) -> None:
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

                def notify(text: str, row: OutboxMessage = row, **details: object) -> None:
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
                    result.sent += 1
                    continue
                error = sent.error
                assert error is not None
                row.error = f"{error.kind.value}: {error.description}"
                if error.kind is SendErrorKind.RETRY_AFTER:
                    retry = float(error.retry_after or 1.0)
                    row.status = OutboxStatus.PENDING
                    row.not_before = now + timedelta(seconds=retry)
                    self.limiter.penalise(
                        message.channel.key, message.chat_id, retry, now.timestamp()
                    )
                    result.retried += 1
                elif error.kind is SendErrorKind.BLOCKED:
                    row.status = OutboxStatus.FAILED
                    status = await session.get(ContactChannel, (row.contact_id, row.channel_id))
                    if status is not None and status.status is not SubscriptionStatus.BLOCKED:
                        status.status = SubscriptionStatus.BLOCKED
                        status.status_changed_at = now
                    history("message.failed", error=row.error, blocked=True)
                    result.failed += 1
                elif error.kind is SendErrorKind.NETWORK and error.maybe_delivered:
                    row.status = OutboxStatus.UNCERTAIN
                    history("message.uncertain", error=row.error)
                    notify(
                        "Не известно, дошло ли сообщение (сетевая ошибка); повторно не отправлено.",
                        uncertain=True,
                    )
                    result.uncertain += 1
                elif error.retryable and row.attempts < self.max_attempts:
                    row.status = OutboxStatus.PENDING
                    row.not_before = now + timedelta(seconds=min(300, 2**row.attempts))
                    result.retried += 1
                else:
                    row.status = OutboxStatus.FAILED
                    history("message.failed", error=row.error)
                    notify(f"Сообщение не отправлено: {row.error}")
                    result.failed += 1

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
        """The sender loop of the daemon (cancel to stop). Rows written by other processes
        wake nobody here, so with several processes pass a short ``idle``."""
        await self.recover()
        recovered_at = time.monotonic()
        engine = self.engine
        while True:
            if self.member is not None and time.monotonic() - recovered_at >= self.recover_every:
                await self.recover()  # rows a dead peer left in sending
                recovered_at = time.monotonic()
            engine.outbox_wakeup.clear()
            r = await self.send_round()
            if r.attempted:
                continue
            now = engine.clock.now()
            until = r.next_at if r.next_at is not None else now + idle
            await wait_until_or_event(engine.clock, min(until, now + idle), engine.outbox_wakeup)


async def contact_user_id(engine: ProjectEngine, contact_id: int) -> int | None:
    async with engine.db.sessions() as session:
        found: int | None = await session.scalar(
            select(Contact.telegram_user_id).where(Contact.id == contact_id)
        )
        return found
