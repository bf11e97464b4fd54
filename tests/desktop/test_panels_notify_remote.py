"""The notifications panel's «Застрявшие» and «Дублировать в Telegram-чат» over the HTTP
API (RemoteBackend), as with the embedded engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from desktop.backend import BackendError
from desktop.panels import cells
from desktop.remote_client import RemoteBackend, RemoteError
from engine.admin_chat import notify_chat_info
from tests.api.conftest import PASSWORD, Api
from tests.desktop import test_remote
from tests.desktop.test_remote import connect, settle
from tests.desktop.traffic import busy_day

loop = test_remote.loop
window = test_remote.window
server = test_remote.server
_isolated_environment = test_remote._isolated_environment  # fixtures


def test_stuck_contacts_and_the_admin_chat_over_the_api(
    window: Any, loop: asyncio.AbstractEventLoop, server: Api
) -> None:
    loop.run_until_complete(busy_day(server.service.workspace, "Демо"))
    connect(window, loop, login="admin", password=PASSWORD)
    assert isinstance(window.backend, RemoteBackend)
    panel = window.show_panel("notifications")
    settle(loop, window)
    assert panel.chat_status.text() == "Уведомления только в приложении"

    panel.stuck_button.click()
    settle(loop, window)
    rows = cells(panel.stuck_table)
    assert len(rows) == len(panel.stuck) > 0
    assert {r[2] for r in rows} == {"Таймер не сработал"}

    panel.chat_id.setText("-1001234567890")
    panel.chat_bot.setCurrentIndex(panel.chat_bot.findText("Платный бот"))
    saved = loop.run_until_complete(panel.save_notify_chat())
    assert saved is not None and saved["bot"] == "Платный бот"
    assert panel.chat_status.text().startswith("✓ Пишет «Платный бот»")

    async def stored() -> dict[str, Any] | None:
        async with (await server.service.database("Демо")).sessions() as session:
            return await notify_chat_info(session)

    assert (loop.run_until_complete(stored()) or {})["chat_id"] == -1001234567890
    loop.run_until_complete(panel.refresh())
    assert panel.chat_id.text() == "-1001234567890"
    assert panel.chat_bot.currentText() == "Платный бот"

    panel.chat_id.setText("0")
    with pytest.raises(BackendError):
        loop.run_until_complete(panel.save_notify_chat())
    panel.chat_id.setText("")
    assert loop.run_until_complete(panel.save_notify_chat()) is None
    assert loop.run_until_complete(stored()) is None

    # a viewer sees the list but may not change the chat
    window.backend.token = server.tokens["viewer"]
    assert len(loop.run_until_complete(panel.refresh_stuck())) == len(rows)
    panel.chat_id.setText("-1001234567890")
    with pytest.raises(RemoteError, match="Недостаточно прав"):
        loop.run_until_complete(panel.save_notify_chat())
