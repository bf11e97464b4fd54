"""Issuing one-person invite links from a funnel (issue #4 item 2), in the simulator.

A ``personal_link`` node with target "chat" stores a placeholder; the outbox sender makes
the invite link through the bot that administers the chat right before the send (never
inside the engine's transaction). Joining through it is the owner's arrival.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from connectors.base import start_event
from db.models import (
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    PersonalLink,
    Purchase,
)
from db.workspace import Workspace
from engine import events as ev
from engine.clock import VirtualClock
from engine.simulation import Harness
from engine.steps import INVITE_PLACEHOLDER_RE
from graph.document import FunnelDocument
from graph.loading import load_funnel
from graph.nodes.actions import PersonalLinkProps
from graph.validation import validate_funnel
from tests.engine.helpers import funnel, make_project

OPEN, PAID = "t_open_bot", "t_paid_bot"
GROUP = -100_424_242


def sale(chat_id: int | None = GROUP) -> FunnelDocument:
    return funnel(
        "Продажа в группу",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Ссылка": (
                "personal_link",
                {"product": "Курс", "bot_role": "paid", "target": "chat", "chat_id": chat_id},
            ),
            "Письмо": ("message", {"text": "Вступайте: {{link}}"}),
        },
        [("Старт", "next", "Ссылка"), ("Ссылка", "next", "Письмо")],
        bot_role="open",
    )


def paid_flow() -> FunnelDocument:
    return funnel(
        "Покупатель",
        {
            "Пришёл": ("trigger.personal_link", {"product": "Курс", "bot_role": "paid"}),
            "Покупка": ("record_purchase", {"product": "Курс"}),
        },
        [("Пришёл", "next", "Покупка")],
        bot_role="paid",
    )


def test_chat_target_needs_a_chat_id_and_old_documents_keep_loading() -> None:
    old = PersonalLinkProps.model_validate({"product": "Курс", "bot_role": "paid"})
    assert old.target == "bot" and old.chat_id is None and old.issues() == []
    issues = PersonalLinkProps(product="Курс", target="chat").issues()
    assert [i.field for i in issues] == ["chat_id"]
    assert "группы или канала" in issues[0].message_ru and "channel" in issues[0].message
    problems = validate_funnel(sale(chat_id=None))
    assert any("chat_id" in p.message or "group" in p.message for p in problems), problems
    assert not any("group or channel" in p.message for p in validate_funnel(sale()))
    demo = Path(__file__).parents[2] / "resources/demo/paid_flow_taro.json"
    doc = load_funnel(demo.read_text(encoding="utf-8"))
    links = [n for n in doc.nodes if n.type == "personal_link"]
    assert links
    for node in links:
        props = PersonalLinkProps.model_validate(node.props)
        assert props.target == "bot" and props.chat_id is None and props.issues() == []


async def test_simulated_bot_makes_the_link_and_the_join_is_an_arrival(
    workspace: Workspace, clock: VirtualClock
) -> None:
    project = await make_project(workspace, [sale(), paid_flow()])
    h = await Harness.open(workspace, project, clock)
    try:
        await h.world.contact_starts(OPEN, 1001)
        (entry,) = h.world.received(OPEN, 1001)
        link = entry.text.split(": ", 1)[1]
        assert link.startswith("https://t.me/+sim") and not INVITE_PLACEHOLDER_RE.search(entry.text)
        made = h.world.invite_links[link]
        assert made.chat_id == GROUP and made.creator.username == PAID
        await h.world.joins_via_invite_link(1001, link)
        await h.settle()
        async with h.engine.db.sessions() as s:
            assert await s.scalar(select(func.count(Purchase.id))) == 1
            assert (
                await s.scalar(
                    select(func.count(PersonalLink.id)).where(PersonalLink.token == link)
                )
                == 1
            )
        assert h.world.duplicate_sends == []
    finally:
        await h.close()


async def test_a_bot_that_cannot_make_the_link_fails_the_row_naming_the_chat(
    workspace: Workspace, clock: VirtualClock
) -> None:
    project = await make_project(workspace, [sale(), paid_flow()])
    h = await Harness.open(workspace, project, clock)
    try:
        paid = next(c.id for c in h.engine.channels.values() if c.role == "paid")
        del h.sender.connectors[paid]  # type: ignore[attr-defined]  # paid bot not run here
        await h.world.contact_starts(OPEN, 1001)
        assert h.world.received(OPEN, 1001) == []  # a placeholder is never sent
        async with h.engine.db.sessions() as s:
            (row,) = (await s.scalars(select(OutboxMessage))).all()
            assert row.status is OutboxStatus.FAILED
            assert str(GROUP) in (row.error or "") and "paid bot" in (row.error or "")
            notes = (await s.scalars(select(Notification))).all()
        assert [n.kind for n in notes] == [NotificationKind.SEND_ERROR]
        assert str(GROUP) in notes[0].text
    finally:
        await h.close()


async def test_a_crash_while_making_the_link_leaves_the_row_pending_not_uncertain(
    workspace: Workspace, clock: VirtualClock
) -> None:
    project = await make_project(workspace, [sale(), paid_flow()])
    h = await Harness.open(workspace, project, clock)
    try:
        await h.world.contact_starts(OPEN, 1001)
        (first,) = h.world.received(OPEN, 1001)
        link = first.text.split(": ", 1)[1]
        open_bot = next(c for c in h.engine.channels.values() if c.role == "open")
        who = ev.ContactIdentity(user_id=1001, first_name="Анна")
        await h.engine.handle(  # /start again: the message is queued, nothing sent yet
            start_event(open_bot.ref, who, None, message_id=99, occurred_at=clock.now())
        )
        async with h.engine.transaction() as s:
            row = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))).first()
            assert row is not None and INVITE_PLACEHOLDER_RE.search(row.payload["text"])
            row.status = OutboxStatus.SENDING  # killed during createChatInviteLink
        assert await h.sender.recover() == 0  # not uncertain: a placeholder is never sent
        await h.settle()
        first, second = h.world.received(OPEN, 1001)
        assert second.text == first.text  # the same personal link, its stored invite link
        assert len(h.world.invite_links) == 1 and link in h.world.invite_links
        async with h.engine.db.sessions() as s:
            statuses = (await s.scalars(select(OutboxMessage.status))).all()
            assert statuses == [OutboxStatus.SENT, OutboxStatus.SENT]
            assert await s.scalar(select(func.count(Notification.id))) == 0
        assert h.world.duplicate_sends == []
    finally:
        await h.close()
