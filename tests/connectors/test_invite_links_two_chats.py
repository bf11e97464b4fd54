"""One funnel, one product and bot, two private chats: each chat gets its own invite link.

Both "chat" personal-link nodes use the contact's one personal link for the product; the
invite links registered for it are told apart by their chat, so the second message does
not carry the first chat's link. Real aiogram against the fake Bot API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.workspace import Workspace
from graph.document import FunnelDocument
from tests.connectors.test_invite_links_e2e import ANNA, TOKENS, Stack, start_stack
from tests.engine.helpers import funnel, make_project
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI

CLUB, CHAT = -100_555_000_201, -100_555_000_202


def two_chats() -> FunnelDocument:
    def link(chat: int) -> tuple[str, dict[str, object]]:
        return (
            "personal_link",
            {"product": "Курс", "bot_role": "paid", "target": "chat", "chat_id": chat,
             "variable": f"link{abs(chat) % 1000}"},
        )  # fmt: skip

    return funnel(
        "Две группы",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Клуб": link(CLUB),
            "Чат": link(CHAT),
            "Письмо": ("message", {"text": "Клуб: {{link201}} Чат: {{link202}}"}),
        },
        [("Старт", "next", "Клуб"), ("Клуб", "next", "Чат"), ("Чат", "next", "Письмо")],
        bot_role="open",
    )


@pytest.fixture
async def stack(fake_telegram: FakeTelegramBotAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    for role, token in TOKENS.items():
        fake_telegram.add_bot(token, username=f"t_{role}_bot")
    fake_telegram.add_user(ANNA, "Анна")
    for chat in (CLUB, CHAT):
        fake_telegram.add_chat(chat, type="supergroup", title=f"Группа {chat}")
    async with await Workspace.open(tmp_path / "ws") as workspace:
        project = await make_project(
            workspace, [two_chats()], name=f"two chats {uuid.uuid4().hex[:8]}"
        )
        running = await start_stack(fake_telegram, workspace, project)
        try:
            yield running
        finally:
            await running.stop()


async def test_each_chat_gets_its_own_invite_link(stack: Stack) -> None:
    fake = stack.fake
    fake.user_sends_start(TOKENS["open"], ANNA)

    async def received() -> bool:
        return any("Клуб: https://" in (m.text or "") for m in fake.sent(TOKENS["open"], ANNA))

    await stack.eventually(received, "Anna receives both invite links")
    made = [r.params for r in fake.requests(TOKENS["paid"], "createChatInviteLink")]
    assert sorted(int(str(p["chat_id"])) for p in made) == sorted([CLUB, CHAT])
    (message,) = [m for m in fake.sent(TOKENS["open"], ANNA) if "Клуб:" in (m.text or "")]
    club = (message.text or "").split("Клуб: ", 1)[1].split(" ", 1)[0]
    chat = (message.text or "").split("Чат: ", 1)[1].strip()
    assert club != chat
    assert fake.invite_links[club].chat_id == CLUB
    assert fake.invite_links[chat].chat_id == CHAT
