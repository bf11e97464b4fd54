"""Broadcasts (R17): a message to the subscribers of one bot, segmented by tags.

Sending goes through the outbox only: :func:`start_broadcast` materialises the recipients
(contacts ``subscribed`` in the broadcast's bot, matching the tag segment, at that moment)
as one ``pending`` outbox row each, keyed ``broadcast:<id>:<contact id>``, in the same
transaction that moves the broadcast to ``sending``. The existing
:class:`engine.outbox.OutboxSender` delivers them under Telegram's rate limits; a repeated
start (a retried request, a restart) inserts nothing twice because the key is unique.

Progress is read back from those rows (:func:`refresh_progress`); a broadcast is ``done``
when none of its rows is pending or sending. :func:`cancel_broadcast` turns the pending rows
into ``failed`` with error ``"cancelled"`` (rows already handed to Telegram finish).

:func:`start_due_broadcasts` is what a timer calls: it starts scheduled broadcasts whose
``scheduled_at`` has come. ``run_due_broadcasts(engine)`` wraps it in the engine's
transaction and wakes the sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import InlineButton, OutgoingMessage
from connectors.base import Media as ConnectorMedia
from db.models import (
    Broadcast,
    BroadcastStatus,
    Channel,
    ChannelKind,
    Contact,
    ContactChannel,
    ContactTag,
    OutboxMessage,
    OutboxStatus,
    SubscriptionStatus,
    Tag,
    TagMatch,
)
from engine import events as ev
from engine.project_engine import ProjectEngine
from graph.nodes.message import CAPTION_LIMIT
from graph.nodes.message import Media as NodeMedia

CANCELLED_ERROR = "cancelled"
INSERT_CHUNK = 500


class BroadcastError(Exception):
    """A broadcast request that cannot be carried out (shown to staff as is)."""


class BroadcastNotFoundError(BroadcastError):
    pass


class BroadcastStateError(BroadcastError):
    """The broadcast is not in a state that allows the action (e.g. sending a done one)."""


@dataclass(frozen=True)
class Segment:
    channel_id: int
    tags_included: tuple[str, ...] = ()
    tags_excluded: tuple[str, ...] = ()
    include_mode: TagMatch = TagMatch.ANY

    @classmethod
    def of(cls, broadcast: Broadcast) -> Segment:
        return cls(
            broadcast.channel_id,
            tuple(broadcast.tags_included or ()),
            tuple(broadcast.tags_excluded or ()),
            TagMatch(broadcast.include_mode),
        )


def key_prefix(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}:"


def idempotency_key(broadcast_id: int, contact_id: int) -> str:
    return f"{key_prefix(broadcast_id)}{contact_id}"


def _clean(names: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        name = name.strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)


async def check_segment(session: AsyncSession, segment: Segment) -> Segment:
    """The segment with tag names trimmed; BroadcastError for an unknown bot or tag."""
    channel = await session.get(Channel, segment.channel_id)
    if channel is None or channel.kind is not ChannelKind.BOT:
        raise BroadcastError(f"channel {segment.channel_id} is not a bot of this project")
    included, excluded = _clean(segment.tags_included), _clean(segment.tags_excluded)
    wanted = set(included) | set(excluded)
    if wanted:
        known = set(await session.scalars(select(Tag.name).where(Tag.name.in_(wanted))))
        missing = sorted(wanted - known)
        if missing:
            raise BroadcastError("unknown tags: " + ", ".join(missing))
    both = sorted(set(included) & set(excluded))
    if both:
        raise BroadcastError("tags both included and excluded: " + ", ".join(both))
    return Segment(segment.channel_id, included, excluded, segment.include_mode)


def _has_tag(names: Sequence[str]) -> Any:
    return (
        select(ContactTag.contact_id)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id == Contact.id, Tag.name.in_(names))
    )


def recipients_query(segment: Segment) -> Any:
    """SELECT contact id, Telegram user id of the segment's recipients, by contact id."""
    query = (
        select(Contact.id, Contact.telegram_user_id)
        .join(
            ContactChannel,
            and_(
                ContactChannel.contact_id == Contact.id,
                ContactChannel.channel_id == segment.channel_id,
            ),
        )
        .where(ContactChannel.status == SubscriptionStatus.SUBSCRIBED)
        .order_by(Contact.id)
    )
    if segment.tags_included:
        if segment.include_mode is TagMatch.ALL:
            have = (
                select(func.count(ContactTag.id))
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(
                    ContactTag.contact_id == Contact.id,
                    Tag.name.in_(segment.tags_included),
                )
                .scalar_subquery()
            )
            query = query.where(have == len(set(segment.tags_included)))
        else:
            query = query.where(exists(_has_tag(segment.tags_included)))
    if segment.tags_excluded:
        query = query.where(~exists(_has_tag(segment.tags_excluded)))
    return query


async def preview_count(session: AsyncSession, segment: Segment) -> int:
    """How many contacts the segment reaches now."""
    sub = recipients_query(segment).order_by(None).subquery()
    return int(await session.scalar(select(func.count()).select_from(sub)) or 0)


def _buttons(rows: Sequence[Sequence[dict[str, Any]]]) -> tuple[tuple[InlineButton, ...], ...]:
    return tuple(tuple(InlineButton.model_validate(b) for b in row) for row in rows if row)


def check_media(media: Sequence[Any]) -> list[dict[str, str]]:
    """The media items as plain dicts, validated with the message node's item model (a path
    in the project's media store such as ``media/<sha>/<name>``, an URL or a file_id);
    BroadcastError naming the bad item."""
    out: list[dict[str, str]] = []
    for i, item in enumerate(media):
        try:
            parsed = NodeMedia.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "".join(f".{p}" for p in first["loc"])
            raise BroadcastError(f"bad media[{i}]{where}: {first['msg']}") from None
        out.append({"kind": parsed.kind, "source": parsed.source})
    return out


def validate_message(
    text: str, buttons: Sequence[Sequence[dict[str, Any]]], media: Sequence[Any] = ()
) -> None:
    """BroadcastError unless the text, media and URL buttons make a valid outgoing message."""
    items = check_media(media)
    if not text.strip() and not items:
        raise BroadcastError("the broadcast text is empty")
    if items and len(text) > CAPTION_LIMIT:
        raise BroadcastError(
            f"the broadcast text is a media caption and is longer than {CAPTION_LIMIT} characters"
        )
    try:
        parsed = _buttons(buttons)
    except ValueError as exc:
        raise BroadcastError(f"bad buttons: {exc}") from None
    if any(b.url is None for row in parsed for b in row):
        raise BroadcastError("broadcast buttons must be URL buttons")


async def create_broadcast(
    session: AsyncSession,
    *,
    text: str,
    segment: Segment,
    created_by: str,
    now: datetime,
    buttons: Sequence[Sequence[dict[str, Any]]] = (),
    media: Sequence[Any] = (),
    title: str = "",
    scheduled_at: datetime | None = None,
) -> Broadcast:
    """A draft, or ``scheduled`` when ``scheduled_at`` is given."""
    validate_message(text, buttons, media)
    segment = await check_segment(session, segment)
    broadcast = Broadcast(
        title=title.strip(),
        text=text,
        buttons=[list(row) for row in buttons if row],
        media=check_media(media),
        channel_id=segment.channel_id,
        tags_included=list(segment.tags_included),
        tags_excluded=list(segment.tags_excluded),
        include_mode=segment.include_mode,
        status=BroadcastStatus.SCHEDULED if scheduled_at else BroadcastStatus.DRAFT,
        scheduled_at=scheduled_at,
        created_by=created_by,
        created_at=now,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def _locked(session: AsyncSession, broadcast_id: int) -> Broadcast:
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        query = query.with_for_update()
    found = (await session.scalars(query.execution_options(populate_existing=True))).one_or_none()
    if found is None:
        raise BroadcastNotFoundError(f"no broadcast {broadcast_id}")
    return found


def _channel_ref(channel: Channel, project: str) -> ev.ChannelRef:
    """As :meth:`ProjectEngine._info` builds it (the sender's rate-limit key)."""
    return ev.ChannelRef(
        project=project,
        kind=ev.ChannelKind(channel.kind.value),
        channel_id=str(channel.id),
        name=channel.username or channel.name,
    )


async def start_broadcast(
    session: AsyncSession, broadcast_id: int, *, project: str, now: datetime
) -> Broadcast:
    """Queue the broadcast: one pending outbox row per recipient; status → sending.

    Starting a broadcast that is already sending or done changes nothing; a cancelled one
    raises :class:`BroadcastStateError`."""
    broadcast = await _locked(session, broadcast_id)
    if broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.DONE):
        return broadcast
    if broadcast.status is BroadcastStatus.CANCELLED:
        raise BroadcastStateError(f"broadcast {broadcast_id} was cancelled")
    channel = await session.get(Channel, broadcast.channel_id)
    if channel is None:  # pragma: no cover - RESTRICT foreign key
        raise BroadcastError(f"the bot of broadcast {broadcast_id} no longer exists")
    ref = _channel_ref(channel, project)
    buttons = _buttons(broadcast.buttons or [])
    media = tuple(ConnectorMedia.model_validate(m) for m in broadcast.media or [])
    recipients = (await session.execute(recipients_query(Segment.of(broadcast)))).all()
    insert = sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert
    rows: list[dict[str, Any]] = []
    for contact_id, user_id in recipients:
        key = idempotency_key(broadcast.id, contact_id)
        message = OutgoingMessage(
            channel=ref,
            chat_id=user_id,
            text=broadcast.text,
            media=media,  # as the funnel message step puts them (engine.steps)
            inline_buttons=buttons,
            idempotency_key=key,
        )
        rows.append(
            {
                "idempotency_key": key,
                "contact_id": contact_id,
                "channel_id": channel.id,
                "payload": message.model_dump(mode="json"),
                "status": OutboxStatus.PENDING,
                "bulk": True,  # funnel messages go first (engine.outbox)
                "attempts": 0,
                "not_before": now,
                "created_at": now,
            }
        )
    for i in range(0, len(rows), INSERT_CHUNK):
        await session.execute(
            insert(OutboxMessage)
            .values(rows[i : i + INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
    if insert is postgresql.insert and rows:
        # fresh planner statistics, or the sender's per-chat check plans a nested loop
        # over every new row (seconds per claim) until autovacuum gets to the table
        await session.execute(text("ANALYZE outbox"))
    first_id, last_id = (
        await session.execute(
            select(func.min(OutboxMessage.id), func.max(OutboxMessage.id)).where(
                OutboxMessage.idempotency_key.like(key_prefix(broadcast.id) + "%")
            )
        )
    ).one()
    broadcast.outbox_first_id, broadcast.outbox_last_id = first_id, last_id
    broadcast.status = BroadcastStatus.SENDING
    broadcast.started_at = now
    await refresh_progress(session, broadcast, now=now)
    return broadcast


async def start_due_broadcasts(session: AsyncSession, now: datetime, *, project: str) -> list[int]:
    """Start every scheduled broadcast whose time has come; their ids."""
    due = list(
        await session.scalars(
            select(Broadcast.id)
            .where(
                Broadcast.status == BroadcastStatus.SCHEDULED,
                Broadcast.scheduled_at.is_not(None),
                Broadcast.scheduled_at <= now,
            )
            .order_by(Broadcast.scheduled_at, Broadcast.id)
        )
    )
    for broadcast_id in due:
        await start_broadcast(session, broadcast_id, project=project, now=now)
    return due


async def next_scheduled(session: AsyncSession) -> datetime | None:
    """When the next scheduled broadcast is due (for a timer's sleep)."""
    found: datetime | None = await session.scalar(
        select(func.min(Broadcast.scheduled_at)).where(
            Broadcast.status == BroadcastStatus.SCHEDULED
        )
    )
    return found


def _rows_of(broadcast: Broadcast) -> Any:
    """WHERE clause of the broadcast's outbox rows (none before it started)."""
    if broadcast.outbox_first_id is None or broadcast.outbox_last_id is None:
        return OutboxMessage.id.is_(None)  # matches nothing
    return and_(
        OutboxMessage.id >= broadcast.outbox_first_id,
        OutboxMessage.id <= broadcast.outbox_last_id,
        OutboxMessage.idempotency_key.like(key_prefix(broadcast.id) + "%"),
    )


@dataclass
class Progress:
    total: int = 0
    pending: int = 0  # pending + sending
    sent: int = 0
    failed: int = 0  # failed by Telegram (blocked, bad request…), not cancelled
    uncertain: int = 0
    cancelled: int = 0


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    """Counts of the broadcast's outbox rows by outcome."""
    out = Progress()
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastNotFoundError(f"no broadcast {broadcast_id}")
    cancelled = (OutboxMessage.status == OutboxStatus.FAILED) & (
        OutboxMessage.error == CANCELLED_ERROR
    )
    rows = await session.execute(
        select(OutboxMessage.status, cancelled.label("cancelled"), func.count())
        .where(_rows_of(broadcast))
        .group_by(OutboxMessage.status, cancelled)
    )
    for status, was_cancelled, n in rows.all():
        n = int(n)
        out.total += n
        status = OutboxStatus(status)
        if status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
            out.pending += n
        elif status is OutboxStatus.SENT:
            out.sent += n
        elif status is OutboxStatus.UNCERTAIN:
            out.uncertain += n
        elif was_cancelled:
            out.cancelled += n
        else:
            out.failed += n
    return out


async def refresh_progress(
    session: AsyncSession, broadcast: Broadcast, *, now: datetime
) -> Progress:
    """Store the counts on the broadcast; a sending broadcast with nothing left is done."""
    found = await progress(session, broadcast.id)
    if broadcast.status in (
        BroadcastStatus.SENDING,
        BroadcastStatus.DONE,
        BroadcastStatus.CANCELLED,
    ):
        broadcast.total = found.total
        broadcast.sent = found.sent
        broadcast.failed = found.failed + found.uncertain
        if broadcast.status is BroadcastStatus.SENDING and found.pending == 0:
            broadcast.status = BroadcastStatus.DONE
            broadcast.finished_at = now
    return found


async def cancel_broadcast(
    session: AsyncSession, broadcast_id: int, *, actor: str, now: datetime
) -> Broadcast:
    """Cancel a draft, scheduled or sending broadcast; its pending rows never go out."""
    broadcast = await _locked(session, broadcast_id)
    if broadcast.status is BroadcastStatus.CANCELLED:
        return broadcast
    if broadcast.status is BroadcastStatus.DONE:
        raise BroadcastStateError(f"broadcast {broadcast_id} is already done")
    await session.execute(
        update(OutboxMessage)
        .where(_rows_of(broadcast), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.FAILED, error=CANCELLED_ERROR)
        .execution_options(synchronize_session=False)
    )
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.cancelled_at = now
    broadcast.cancelled_by = actor
    await refresh_progress(session, broadcast, now=now)
    return broadcast


# --- with a running engine ---------------------------------------------------------------


async def send_now(engine: ProjectEngine, broadcast_id: int) -> Broadcast:
    """Start the broadcast in the engine's transaction and wake its sender."""
    async with engine.transaction() as session:
        broadcast = await start_broadcast(
            session, broadcast_id, project=engine.project, now=engine.clock.now()
        )
    engine.outbox_wakeup.set()
    return broadcast


async def cancel(engine: ProjectEngine, broadcast_id: int, *, actor: str) -> Broadcast:
    async with engine.transaction() as session:
        return await cancel_broadcast(session, broadcast_id, actor=actor, now=engine.clock.now())


async def run_due_broadcasts(engine: ProjectEngine) -> list[int]:
    """For the daemon's timer: start due scheduled broadcasts, wake the sender, and refresh
    the counts of broadcasts still sending (so they turn ``done`` without anyone looking)."""
    async with engine.transaction() as session:
        now = engine.clock.now()
        started = await start_due_broadcasts(session, now, project=engine.project)
        sending = await session.scalars(
            select(Broadcast).where(
                Broadcast.status == BroadcastStatus.SENDING, Broadcast.id.not_in(started or [0])
            )
        )
        for broadcast in sending.all():
            await refresh_progress(session, broadcast, now=now)
    if started:
        engine.outbox_wakeup.set()
    return started


__all__ = [
    "CANCELLED_ERROR",
    "BroadcastError",
    "BroadcastNotFoundError",
    "BroadcastStateError",
    "Progress",
    "Segment",
    "cancel",
    "cancel_broadcast",
    "check_segment",
    "create_broadcast",
    "idempotency_key",
    "next_scheduled",
    "preview_count",
    "progress",
    "recipients_query",
    "refresh_progress",
    "run_due_broadcasts",
    "send_now",
    "start_broadcast",
    "start_due_broadcasts",
]
