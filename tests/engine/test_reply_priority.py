"""A reply that a "wait for reply" node takes is the answer, not a keyword (decision).

Like Salebot's and ManyChat's "wait for the user's input" steps: while a funnel waits for
the contact's answer in that bot, the message resumes it and keyword triggers of other
funnels do not fire on it. Once nothing waits, the same words start the keyword funnel.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from db.models import FunnelVersion, OutboxMessage, Run
from db.workspace import Workspace
from engine import events as ev
from engine.project_engine import ProjectEngine
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, make_project


def question() -> FunnelDocument:
    return funnel(
        "Анкета",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Вопрос": ("message", {"text": "Что вас интересует?"}),
            "Ждём": ("wait_reply", {"timeout": {"hours": 1}}),
            "Принято": ("message", {"text": "Спасибо, записали: {{last_reply}}"}),
        },
        [("Старт", "next", "Вопрос"), ("Вопрос", "next", "Ждём"), ("Ждём", "other", "Принято")],
        bot_role="open",
    )


def prices() -> FunnelDocument:
    return funnel(
        "Цены",
        {
            "Цена": ("trigger.contact_keyword", {"phrases": ["цена"], "source": "bot"}),
            "Прайс": ("message", {"text": "Курс стоит 10 000 ₽"}),
        },
        [("Цена", "next", "Прайс")],
        bot_role="open",
    )


@pytest.fixture
async def engine(workspace: Workspace) -> AsyncIterator[ProjectEngine]:
    project = await make_project(
        workspace,
        [question(), prices()],
        name=f"reply {uuid.uuid4().hex[:8]}",
    )
    db = await workspace.open_project_db(project)
    eng = ProjectEngine(db, project=project.name, timezone=project.timezone)
    await eng.start()
    try:
        yield eng
    finally:
        await db.dispose()


def identity() -> ev.ContactIdentity:
    return ev.ContactIdentity(user_id=4242, first_name="Ира")


async def texts(engine: ProjectEngine) -> list[str]:
    async with engine.db.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [r.payload["text"] for r in rows]


async def funnels_run(engine: ProjectEngine) -> list[str]:
    async with engine.db.sessions() as s:
        versions = (
            await s.scalars(
                select(FunnelVersion.document_json)
                .join(Run, Run.funnel_version_id == FunnelVersion.id)
                .order_by(Run.id)
            )
        ).all()
    return ["Цены" if '"Цены"' in v else "Анкета" for v in versions]


async def test_consumed_reply_fires_no_keyword_trigger(engine: ProjectEngine) -> None:
    bot = engine.bot_by_role("open")
    assert bot is not None
    now = datetime.now(UTC)
    await engine.handle(
        ev.Start(channel=bot.ref, contact=identity(), occurred_at=now, update_id=1, message_id=1)
    )

    def says(update: int, body: str) -> ev.ContactMessage:
        return ev.ContactMessage(
            channel=bot.ref,
            contact=identity(),
            occurred_at=now,
            update_id=update,
            message_id=update,
            text=body,
        )

    answered = await engine.handle(says(2, "цена"))  # the answer to "Что вас интересует?"
    assert answered.started == []
    assert await texts(engine) == ["Что вас интересует?", "Спасибо, записали: цена"]
    assert await funnels_run(engine) == ["Анкета"]

    asked = await engine.handle(says(3, "цена"))  # nothing waits now: the keyword fires
    assert len(asked.started) == 1
    assert (await texts(engine))[-1] == "Курс стоит 10 000 ₽"
    assert await funnels_run(engine) == ["Анкета", "Цены"]
