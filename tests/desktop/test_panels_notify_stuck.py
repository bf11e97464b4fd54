"""The notifications panel's «Застрявшие» (R5: contacts stuck now, moved on through a node
picked on the canvas) and its row «Дублировать в Telegram-чат» (R9: the admin chat, its
bot and its last error), on the embedded engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Channel
from desktop.backend import BackendError
from desktop.panels import cells
from engine.admin_chat import AdminChatForwarder
from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import busy_day

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures

ADMIN = "-1001234567890"


def notifications_panel(window: Any, loop: asyncio.AbstractEventLoop) -> Any:
    panel = window.show_panel("notifications")
    settle(loop, window)
    return panel


def test_stuck_contacts_are_listed_and_moved_on(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    # Monday 2024: those waiting for a birth date had a one-day timeout that never fired.
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    panel = notifications_panel(window, loop)
    assert not panel.move_button.isVisible()
    panel.stuck_button.click()
    settle(loop, window)
    assert panel.move_button.isVisible() and not panel.resolve_button.isEnabled()
    rows = cells(panel.stuck_table)
    assert rows and panel.shown.text() == f"Застряли: {len(rows)}"
    assert {r[2] for r in rows} == {"Таймер не сработал"}
    first = panel.stuck[0]
    assert rows[0][4] == "Разбор по дате рождения" and rows[0][5] == first["node"]
    assert rows[0][3].startswith(first["first_name"])

    # «Перевести…» without a choice says so; with one it opens the pick on the canvas.
    panel.stuck_table.clearSelection()
    panel.stuck_table.setCurrentCell(-1, -1)
    assert not loop.run_until_complete(panel.move_stuck())
    assert window.errors[-1] == "Выберите застрявший контакт"
    panel.stuck_table.selectRow(0)
    assert loop.run_until_complete(panel.move_stuck())
    settle(loop, window)
    contacts = window.panels["contacts"]
    assert contacts.card["id"] == first["contact_id"]
    assert window.tabs.currentWidget() is window.editor and window.editor.is_picking()

    target = next(str(n.id) for n in window.draft.document.nodes if n.title == "Ждём дату")
    window.answers = [True]
    window.editor._picker.pick(target)
    settle(loop, window)
    assert "Переместить" in window.questions[-1] and "«Ждём дату»" in window.questions[-1]
    card = loop.run_until_complete(window.service.contact_card("Демо", first["contact_id"]))
    run = next(r for r in card["runs"] if r["id"] == first["run_id"])
    assert run["node_id"] == target and run["status"] == "waiting"

    panel = notifications_panel(window, loop)  # the stuck list no longer has them
    assert first["run_id"] not in {s["run_id"] for s in panel.stuck}
    assert len(panel.stuck) == len(rows) - 1

    panel.stuck_button.click()  # back to the notifications
    settle(loop, window)
    assert panel.pages.currentWidget() is panel.table and panel.resolve_button.isEnabled()


def test_the_telegram_admin_chat_row(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    panel = notifications_panel(window, loop)
    assert panel.chat_id.text() == "" and panel.chat_status.text() == (
        "Уведомления только в приложении"
    )
    bots = [panel.chat_bot.itemText(i) for i in range(panel.chat_bot.count())]
    assert bots[0] == "Главный бот" and "Платный бот" in bots and "Менеджер" not in bots

    panel.chat_id.setText("группа")
    with pytest.raises(BackendError, match="chat_id"):
        loop.run_until_complete(panel.save_notify_chat())

    panel.chat_id.setText(ADMIN)
    panel.chat_bot.setCurrentIndex(panel.chat_bot.findText("Платный бот"))
    saved = loop.run_until_complete(panel.save_notify_chat())
    assert saved is not None and saved["chat_id"] == int(ADMIN)
    assert panel.chat_status.text().startswith("✓ Пишет «Платный бот» · отправлено: ещё нет")

    panel.chat_bot.setCurrentIndex(0)  # the main bot; it has no token in this workspace
    loop.run_until_complete(panel.save_notify_chat())

    async def engine_tries() -> None:
        engine = await window.service.project_engine("Демо")
        database = await window.service.database("Демо")
        async with database.sessions() as session:
            main = await session.scalar(select(Channel.id).where(Channel.is_main.is_(True)))
        await AdminChatForwarder(engine, {}, failed={main: "нет токена"}).tick()

    loop.run_until_complete(engine_tries())
    panel.stuck_button.click()  # the stuck list beside the chat's error
    settle(loop, window)
    assert panel.chat_id.text() == ADMIN and panel.chat_bot.currentIndex() == 0
    status = panel.chat_status.text()
    assert status.startswith("⚠ Не отправляется с ") and "«Открытый бот» не запущен" in status
    panel.stuck_table.selectRow(2)
    window.resize(1280, 640)
    shoot(window, "panel-notifications-stuck.png")

    panel.chat_id.setText("")
    assert loop.run_until_complete(panel.save_notify_chat()) is None
    assert panel.chat_status.text() == "Уведомления только в приложении"
