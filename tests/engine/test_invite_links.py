"""One-person invite links to a private group/channel (issue #4 item 2).

A funnel issues a personal link for a product; the invite link made for it
(``createChatInviteLink``, member limit 1) is registered with the engine. Joining the
group through it is the owner's arrival (the waiting run continues, the arrival trigger
fires); anyone else joining through it gets nothing and the admins are notified.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from db.models import Notification, NotificationKind, OutboxMessage, PersonalLink
from db.workspace import Workspace
from engine import events as ev
from engine.project_engine import ProjectEngine
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, make_project

INVITE = "https://t.me/+AbCdEfGh12345678"
FRESH = "https://t.me/+FreshLink87654321"
GROUP = -100_777


def sale() -> FunnelDocument:
    return funnel(
        "Продажа",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Ссылка": ("personal_link", {"product": "Курс", "bot_role": "paid"}),
            "Ждём": ("wait_arrival", {"product": "Курс", "timeout": {"hours": 2}}),
            "Добро": ("message", {"text": "Вы в группе курса"}),
        },
        [("Старт", "next", "Ссылка"), ("Ссылка", "next", "Ждём"), ("Ждём", "arrived", "Добро")],
        bot_role="open",
    )


def welcome() -> FunnelDocument:
    return funnel(
        "Приветствие покупателя",
        {
            "Пришёл": ("trigger.personal_link", {"product": "Курс", "bot_role": "paid"}),
            "Привет": ("message", {"text": "Спасибо за покупку!"}),
        },
        [("Пришёл", "next", "Привет")],
        bot_role="paid",
    )


@pytest.fixture
async def engine(workspace: Workspace) -> AsyncIterator[ProjectEngine]:
    project = await make_project(
        workspace,
        [sale(), welcome()],
        name=f"invite {uuid.uuid4().hex[:8]}",
    )
    db = await workspace.open_project_db(project)
    eng = ProjectEngine(db, project=project.name, timezone=project.timezone)
    await eng.start()
    try:
        yield eng
    finally:
        await db.dispose()


def person(user_id: int) -> ev.ContactIdentity:
    return ev.ContactIdentity(user_id=user_id, first_name=f"U{user_id}")


async def texts(engine: ProjectEngine) -> list[str]:
    async with engine.db.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [r.payload["text"] for r in rows]


async def test_join_through_personal_invite_link(engine: ProjectEngine) -> None:
    opened, paid = engine.bot_by_role("open"), engine.bot_by_role("paid")
    assert opened is not None and paid is not None
    now = datetime.now(UTC)
    await engine.handle(
        ev.Start(channel=opened.ref, contact=person(1), occurred_at=now, update_id=1, message_id=1)
    )
    async with engine.db.sessions() as s:
        token = await s.scalar(select(PersonalLink.token))
    assert token is not None
    await engine.register_invite_link(token, INVITE)

    # someone else joins through it: nothing for them, the admins are told
    stranger = await engine.handle(
        ev.ChatMemberChange(
            channel=paid.ref,
            contact=person(2),
            occurred_at=now,
            update_id=2,
            change=ev.MemberChange.JOINED,
            chat_id=GROUP,
            invite_link=INVITE,
        )
    )
    assert stranger.ignored == "foreign personal link" and stranger.started == []
    async with engine.db.sessions() as s:
        kinds = (await s.scalars(select(Notification.kind))).all()
    assert kinds == [NotificationKind.FOREIGN_LINK_USE]
    assert await texts(engine) == []
    # the stranger took the link's only seat: it is retired, the owner gets a fresh one
    async with engine.db.sessions() as s:
        retired = await s.scalar(
            select(PersonalLink.revoked_at).where(PersonalLink.token == INVITE)
        )
    assert retired is not None
    await engine.register_invite_link(token, FRESH)

    # a join through an ordinary invite link is just a group change
    other = await engine.handle(
        ev.ChatMemberChange(
            channel=paid.ref,
            contact=person(1),
            occurred_at=now,
            update_id=3,
            change=ev.MemberChange.JOINED,
            chat_id=GROUP,
            invite_link="https://t.me/+SomebodyElsesLink",
        )
    )
    assert other.started == [] and await texts(engine) == []

    # the owner joins: the waiting run continues and the arrival trigger fires
    owner = await engine.handle(
        ev.ChatMemberChange(
            channel=paid.ref,
            contact=person(1),
            occurred_at=now,
            update_id=4,
            change=ev.MemberChange.JOINED,
            chat_id=GROUP,
            invite_link=FRESH,
        )
    )
    assert owner.ignored is None and len(owner.started) == 1
    assert sorted(await texts(engine)) == ["Вы в группе курса", "Спасибо за покупку!"]
    async with engine.db.sessions() as s:
        used = await s.scalar(select(PersonalLink.used_at).where(PersonalLink.token == FRESH))
    assert used is not None


async def test_join_request_through_someone_elses_link(engine: ProjectEngine) -> None:
    opened, paid = engine.bot_by_role("open"), engine.bot_by_role("paid")
    assert opened is not None and paid is not None
    now = datetime.now(UTC)
    await engine.handle(
        ev.Start(channel=opened.ref, contact=person(1), occurred_at=now, update_id=1, message_id=1)
    )
    async with engine.db.sessions() as s:
        token = await s.scalar(select(PersonalLink.token))
    assert token is not None
    await engine.register_invite_link(token, INVITE)
    result = await engine.handle(
        ev.JoinRequest(
            channel=paid.ref,
            contact=person(3),
            occurred_at=now,
            update_id=5,
            chat_id=GROUP,
            invite_link=INVITE,
        )
    )
    assert result.ignored == "foreign personal link"
    with pytest.raises(LookupError):
        await engine.register_invite_link("no-such-token", "https://t.me/+x")
