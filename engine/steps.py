"""One executor per node type (R3): what a node does when a run enters it.

Each executor returns an outcome: ``Go(port)`` to continue, ``Wait(awaiting, due_at)`` to
stop until an event or a timer, ``Finish()`` to end the run. Waiting nodes are resumed by
:meth:`engine.project_engine.ProjectEngine` (reply, button, arrival, timer) along the port
named in :data:`RESUME_PORTS`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connectors.base import OutgoingMessage
from connectors.base import personal_link as personal_link_url
from db.models import (
    LIVE_RUN_STATUSES,
    HistoryEvent,
    NotificationKind,
    OutboxStatus,
    PersonalLink,
    Purchase,
    Run,
    VariableRetention,
)
from engine.funnel_index import CompiledFunnel
from engine.runs import Finish, Go, Outcome, StepError, Wait
from engine.schedule import Window, after_duration, at_time_of_day, next_allowed, resolve_wall_time
from engine.templates import render
from graph.nodes.actions import NotifyAdminsProps, PersonalLinkProps, StopFunnelsProps
from graph.nodes.data import RecordPurchaseProps, SetVariableProps, TagsProps
from graph.nodes.flow import (
    ConditionProps,
    DateTimeRule,
    DelayProps,
    GotoFunnelProps,
    HasTagRule,
    NoTagRule,
    PurchasedRule,
    RandomizerProps,
    ReplyTextRule,
    VariableRule,
    WaitArrivalProps,
    WaitReplyProps,
)
from graph.nodes.message import MessageProps
from graph.ports import NEXT, branch_port, button_port

if TYPE_CHECKING:
    from engine.runs import Tx

Executor = Callable[["Tx", Run, CompiledFunnel, str], Awaitable[Outcome]]

AWAIT_REPLY = "reply"
AWAIT_BUTTON = "button"
AWAIT_DELAY = "delay"
AWAIT_RESUME = "resume"  # a rolled-back run that was stopped mid-step: re-run its node
ARRIVAL_PREFIX = "arrival:"

TIMEOUT_PORTS = {"delay": NEXT, "wait_reply": "timeout", "wait_arrival": "timeout"}


async def execute(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    node = cf.node(node_id)
    executor = EXECUTORS.get(node.type)
    if executor is None:
        node_type = node.node_type
        if node_type is not None and node_type.is_trigger:
            return Go(NEXT)  # a staff move onto a trigger: continue after it
        raise StepError(f"node type {node.type!r} cannot be executed")
    return await executor(tx, run, cf, node_id)


# --- message -------------------------------------------------------------------------


def callback_data(run_id: int, node_id: str, button_id: str) -> str:
    return f"r{run_id}:{node_id[:8]}:{button_id}"


def parse_callback_data(data: str) -> tuple[int, str, str] | None:
    m = re.fullmatch(r"r(\d+):([0-9a-f]{8}):([A-Za-z0-9_\-]{1,32})", data)
    return (int(m.group(1)), m.group(2), m.group(3)) if m else None


async def _message(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, MessageProps)
    channel = tx.engine.message_channel(run, cf, props)
    if channel is None:
        raise StepError(f"no channel to send message {cf.title(node_id)!r} ({props.channel})")
    variables = await tx.variables()
    text = render(props.text, variables, escape=True)
    inline: list[list[dict[str, Any]]] = []
    for button in props.buttons:
        if button.kind == "url":
            inline.append([{"text": button.text, "url": render(button.url or "", variables)}])
        else:
            inline.append(
                [{"text": button.text, "callback_data": callback_data(run.id, node_id, button.id)}]
            )
    keyboard = [[b] for b in props.reply_buttons] if props.reply_buttons and not inline else None
    count = int((run.context or {}).get("steps", 0))
    key = f"run:{run.id}:node:{node_id}:{count}"
    message = OutgoingMessage(
        channel=channel.ref,
        chat_id=tx.contact.telegram_user_id,
        text=text,
        media=tuple({"kind": m.kind, "source": m.source} for m in props.media),  # type: ignore[misc]
        inline_buttons=tuple(tuple(row) for row in inline),  # type: ignore[misc]
        reply_keyboard=tuple(tuple(r) for r in keyboard) if keyboard else None,
        protect_content=props.protect_content,
        disable_link_preview=props.disable_link_preview,
        idempotency_key=key,
    )
    tx.records.outbox.append(  # inserted in bulk with the history (Records.write)
        {
            "idempotency_key": key,
            "run_id": run.id,
            "contact_id": tx.contact.id,
            "channel_id": channel.id,
            "funnel_version_id": run.funnel_version_id,
            "node_id": node_id,
            "payload": message.model_dump(mode="json"),
            "status": OutboxStatus.PENDING,
            "not_before": tx.now,
            "created_at": tx.now,
        }
    )
    tx.queued_messages += 1
    tx.history("message.queued", run, node_id, channel_id=channel.id, key=key, text=text[:200])
    if cf.target(node_id, NEXT) is not None:
        return Go(NEXT)
    if any(cf.target(node_id, button_port(b.id)) for b in props.buttons if b.kind == "callback"):
        return Wait(AWAIT_BUTTON)
    return Finish("no_exit")


# --- delay / waits -----------------------------------------------------------------


def _delay_due(props: DelayProps, now: datetime, tz: Any) -> datetime:
    window = None
    hours = None
    if props.allowed_hours_from is not None and props.allowed_hours_to is not None:
        hours = (time(props.allowed_hours_from % 24), time(props.allowed_hours_to % 24))
    weekdays = (
        frozenset(props.weekdays) if props.weekdays and props.mode != "next_weekday" else None
    )
    if hours is not None or weekdays is not None:
        start, end = hours or (time(0), time(0))
        window = Window(start=start, end=end, weekdays=weekdays or frozenset(range(7)))
    if props.mode == "duration":
        return after_duration(now, timedelta(seconds=props.duration.total_seconds()), tz, window)
    at = _parse_time(props.time or "00:00")
    if props.mode == "until_time":
        return at_time_of_day(now, at, tz, window)
    today = now.astimezone(tz).date()
    for offset in range(1, 8):
        day = today + timedelta(days=offset)
        if day.weekday() in props.weekdays:
            return next_allowed(resolve_wall_time(datetime.combine(day, at), tz), tz, window)
    raise StepError("next_weekday delay without weekdays")


def _parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


async def _delay(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, DelayProps)
    return Wait(AWAIT_DELAY, _delay_due(props, tx.now, tx.engine.tz))


async def _wait_reply(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, WaitReplyProps)
    due = after_duration(tx.now, timedelta(seconds=props.timeout.total_seconds()), tx.engine.tz)
    return Wait(AWAIT_REPLY, due)


def reply_port(cf: CompiledFunnel, node_id: str, text: str) -> str:
    props = cf.props_of(node_id)
    assert isinstance(props, WaitReplyProps)
    if props.phrases and cf.matcher(node_id, props.phrases, props.match).matches(text):
        return "matched"
    return "other"


async def _wait_arrival(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, WaitArrivalProps)
    product = await tx.product(props.product)
    arrived = await tx.session.scalar(
        select(PersonalLink.id).where(
            PersonalLink.contact_id == tx.contact.id,
            PersonalLink.product_id == product.id,
            PersonalLink.used_at.is_not(None),
            PersonalLink.revoked_at.is_(None),
        )
    )
    if arrived is not None:
        return Go("arrived")
    due = after_duration(tx.now, timedelta(seconds=props.timeout.total_seconds()), tx.engine.tz)
    return Wait(f"{ARRIVAL_PREFIX}{product.id}", due)


# --- condition ---------------------------------------------------------------------


_DATE_RE = re.compile(r"^\s*(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4}|\d{2})\s*$")


def parse_date(text: str) -> date | None:
    m = _DATE_RE.match(text)
    if not m:
        return None
    day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year < 100:
        year += 1900 if year > 30 else 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _comparable(value: Any) -> float | date | None:
    if value is None:
        return None
    text = str(value).strip()
    parsed = parse_date(text)
    if parsed is not None:
        return parsed
    try:
        return float(text.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None


async def _rule(tx: Tx, cf: CompiledFunnel, node_id: str, index: int, rule: Any) -> bool:
    if isinstance(rule, HasTagRule):
        return rule.tag in await tx.tag_names()
    if isinstance(rule, NoTagRule):
        return rule.tag not in await tx.tag_names()
    if isinstance(rule, PurchasedRule):
        return await tx.has_purchased(rule.product)
    if isinstance(rule, VariableRule):
        variables = await tx.variables()
        value = variables.get(rule.name)
        if rule.op == "exists":
            return value is not None and str(value) != ""
        text = "" if value is None else str(value)
        if rule.op == "eq":
            return text.strip().casefold() == rule.value.strip().casefold()
        if rule.op == "neq":
            return text.strip().casefold() != rule.value.strip().casefold()
        if rule.op == "contains":
            return rule.value.casefold() in text.casefold()
        left, right = _comparable(value), _comparable(rule.value)
        if left is None or right is None or type(left) is not type(right):
            return False
        return left > right if rule.op == "gt" else left < right  # type: ignore[operator]
    if isinstance(rule, DateTimeRule):
        local = tx.now.astimezone(tx.engine.tz)
        if rule.weekdays and local.weekday() not in rule.weekdays:
            return False
        if rule.date_from and local.date() < rule.date_from:
            return False
        if rule.date_to and local.date() > rule.date_to:
            return False
        if rule.from_time or rule.to_time:
            start = _parse_time(rule.from_time or "00:00")
            end = _parse_time(rule.to_time or "00:00")
            if not Window(start=start, end=end).allows_wall_time(local.time().replace(tzinfo=None)):
                return False
        return True
    if isinstance(rule, ReplyTextRule):
        reply = (await tx.variables()).get("last_reply")
        if reply is None:
            return False
        return cf.matcher(f"{node_id}#{index}", rule.phrases, rule.match).matches(str(reply))
    raise StepError(f"unknown condition rule {rule!r}")


async def _condition(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, ConditionProps)
    results = [await _rule(tx, cf, node_id, i, r) for i, r in enumerate(props.rules)]
    ok = all(results) if props.combine == "all" else any(results)
    tx.history("condition.checked", run, node_id, result=ok, rules=results)
    return Go("yes" if ok else "no")


# --- data ----------------------------------------------------------------------------


async def _tag_add(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, TagsProps)
    await tx.add_tags(props.tags, run, node_id=node_id)
    return Go(NEXT)


async def _tag_remove(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, TagsProps)
    await tx.remove_tags(props.tags, run, node_id=node_id)
    return Go(NEXT)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_value(kind: str, value: str, pattern: str | None, today: date) -> str | None:
    """The normalised value, or None when it is invalid."""
    text = value.strip()
    if kind == "none":
        return value
    if kind == "date":
        parsed = parse_date(text)
        if parsed is None or parsed.year < 1900 or parsed > today:
            return None
        return parsed.strftime("%d.%m.%Y")
    if kind == "number":
        try:
            number = Decimal(text.replace(",", ".").replace(" ", ""))
        except ArithmeticError:
            return None
        return str(number) if number.is_finite() else None
    if kind == "email":
        return text if _EMAIL.match(text) else None
    if kind == "phone":
        digits = re.sub(r"[\s()\-]", "", text)
        if not re.fullmatch(r"\+?\d{10,15}", digits):
            return None
        return digits if digits.startswith("+") else "+" + digits
    if kind == "regex":
        return text if pattern and re.fullmatch(pattern, text) else None
    return None


async def _set_variable(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, SetVariableProps)
    raw = render(props.value, await tx.variables())
    today = tx.now.astimezone(tx.engine.tz).date()
    value = validate_value(props.validate_as, raw, props.pattern, today)
    if value is None:
        tx.history("variable.invalid", run, node_id, name=props.name, value=raw)
        return Go("invalid")
    await tx.set_variable(
        props.name, value, run, VariableRetention(props.retention), node_id=node_id
    )
    return Go(NEXT)


async def _record_purchase(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, RecordPurchaseProps)
    product = await tx.product(props.product)
    tx.session.add(
        Purchase(
            contact_id=tx.contact.id,
            product_id=product.id,
            amount=Decimal(props.amount) if props.amount else None,
            currency=props.currency if props.amount else None,
            recorded_at=tx.now,
            run_id=run.id,
            channel_id=tx.channel.id if tx.channel is not None else run.triggered_by_channel_id,
        )
    )
    tx.history("purchase.recorded", run, node_id, product=props.product, amount=props.amount)
    return Go(NEXT)


# --- flow ------------------------------------------------------------------------------


async def _randomizer(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, RandomizerProps)
    keys = [b.key for b in props.branches]
    if props.sticky:
        await tx.write_records()  # this transaction's own picks count too
        earlier = await tx.session.scalar(
            select(HistoryEvent.details)
            .where(
                HistoryEvent.contact_id == tx.contact.id,
                HistoryEvent.node_id == node_id,
                HistoryEvent.kind == "randomizer.picked",
            )
            .order_by(HistoryEvent.id.desc())
            .limit(1)
        )
        if earlier and earlier.get("branch") in keys:
            tx.history("randomizer.picked", run, node_id, branch=earlier["branch"], sticky=True)
            return Go(branch_port(earlier["branch"]))
    seed = f"{tx.contact.id}:{node_id}:{run.id}:{(run.context or {}).get('steps')}"
    roll = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    total = sum(b.weight for b in props.branches)
    point = roll % total
    for branch in props.branches:
        if point < branch.weight:
            tx.history("randomizer.picked", run, node_id, branch=branch.key)
            return Go(branch_port(branch.key))
        point -= branch.weight
    raise AssertionError("unreachable")


async def _goto_funnel(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, GotoFunnelProps)
    target = tx.engine.index.by_name(props.funnel)
    if target is None:
        raise StepError(f"funnel {props.funnel!r} is not published or is disabled")
    if props.node is not None:
        entry: str | None = str(props.node)
        if entry not in target.nodes:
            raise StepError(f"funnel {props.funnel!r} has no node {entry}")
    else:
        entry = next((t.entry for t in target.triggers), None)
    tx.finish(run, "goto_funnel")
    await tx.start_run(
        target,
        entry,
        channel_id=run.triggered_by_channel_id,
        reason=f"goto from {cf.name}",
    )
    return Finish("goto_funnel")


async def _end(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    return Finish("end")


# --- actions -----------------------------------------------------------------------


async def _stop_funnels(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, StopFunnelsProps)
    stopped = []
    await tx.ensure_inserted(run)  # the stopped runs refer to it
    for other in await tx.live_runs():
        if other.id == run.id or other.status not in LIVE_RUN_STATUSES:
            continue
        other_cf = await tx.engine.compiled(tx.session, other.funnel_version_id)
        if other_cf.funnel_id == cf.funnel_id and not props.include_this_funnel:
            continue
        if other_cf.name in props.except_funnels:
            continue
        if props.scope == "bot" and other_cf.settings.bot_role != props.bot_role:
            continue
        tx.stop(other, by_run=run, reason=f"stop_funnels in {cf.name}")
        stopped.append(other.id)
    tx.history("funnels.stopped", run, node_id, runs=stopped, scope=props.scope)
    return Go(NEXT)


async def _personal_link(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, PersonalLinkProps)
    bot = tx.engine.bot_by_role(props.bot_role)
    if bot is None or not bot.username:
        raise StepError(f"no bot with role {props.bot_role!r} (and a username) in the project")
    product = await tx.product(props.product)
    link = await tx.session.scalar(
        select(PersonalLink)
        .where(
            PersonalLink.contact_id == tx.contact.id,
            PersonalLink.product_id == product.id,
            PersonalLink.target_channel_id == bot.id,
            PersonalLink.revoked_at.is_(None),
            PersonalLink.used_at.is_(None),
            # not an invite link registered for a token (engine.register_invite_link)
            PersonalLink.token.not_like("%/%"),
        )
        .order_by(PersonalLink.id.desc())
        .limit(1)
    )
    if link is not None and link.expires_at is not None and link.expires_at <= tx.now:
        link = None
    if link is None:
        link = PersonalLink(
            token=secrets.token_urlsafe(16),
            contact_id=tx.contact.id,
            product_id=product.id,
            target_channel_id=bot.id,
            created_by_run_id=run.id,
            created_at=tx.now,
            expires_at=tx.now + timedelta(hours=props.expires_hours)
            if props.expires_hours
            else None,
        )
        tx.session.add(link)
        await tx.session.flush()
        tx.history("link.created", run, node_id, product=props.product, link_id=link.id)
    if props.target == "chat":
        if props.chat_id is None:
            raise StepError("a personal invite link needs chat_id (the private group/channel)")
        # createChatInviteLink is a network call: never inside this transaction. The
        # outbox sender makes the link when a message carrying the placeholder is sent.
        url = invite_placeholder(link.token, props.chat_id)
    else:
        url = personal_link_url(bot.username, link.token)
    await tx.set_variable(props.variable, url, run, node_id=node_id)
    return Go(NEXT)


# A personal_link node with target "chat" stores this placeholder in its variable; the
# outbox sender (engine.outbox) replaces it in the message with a one-person invite link
# made right before the send. Characters chosen to survive HTML escaping and templates.
INVITE_PLACEHOLDER_RE = re.compile(r"⟦invite:([A-Za-z0-9_\-]{1,64}):(-?\d{1,20})⟧")


def invite_placeholder(token: str, chat_id: int) -> str:
    return f"⟦invite:{token}:{chat_id}⟧"


_NOTIFY_KINDS = {
    "info": NotificationKind.ADMIN_MESSAGE,
    "lost_receipt": NotificationKind.LOST_RECEIPT,
    "already_fired": NotificationKind.ALREADY_FIRED,
    "stuck": NotificationKind.STUCK_CONTACT,
    "error": NotificationKind.OTHER,
}


async def _notify_admins(tx: Tx, run: Run, cf: CompiledFunnel, node_id: str) -> Outcome:
    props = cf.props_of(node_id)
    assert isinstance(props, NotifyAdminsProps)
    text = render(props.text, await tx.variables())
    tx.notify(
        _NOTIFY_KINDS[props.kind],
        text,
        run,
        funnel=cf.name,
        node_id=node_id,
        node_kind=props.kind,
        to_telegram=props.to_telegram,
    )
    return Go(NEXT)


EXECUTORS: dict[str, Executor] = {
    "message": _message,
    "delay": _delay,
    "wait_reply": _wait_reply,
    "condition": _condition,
    "randomizer": _randomizer,
    "goto_funnel": _goto_funnel,
    "wait_arrival": _wait_arrival,
    "end": _end,
    "tag_add": _tag_add,
    "tag_remove": _tag_remove,
    "set_variable": _set_variable,
    "record_purchase": _record_purchase,
    "stop_funnels": _stop_funnels,
    "personal_link": _personal_link,
    "notify_admins": _notify_admins,
}

__all__ = ["EXECUTORS", "INVITE_PLACEHOLDER_RE", "execute", "invite_placeholder"]
