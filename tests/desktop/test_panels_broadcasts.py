"""The broadcasts panel: the live recipients count follows the bot and tags, "send now"
asks first and queues the messages, the progress bar follows delivery, a scheduled
broadcast can be cancelled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.clock import VirtualClock
from engine.simulation import Harness
from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import crowd

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures


async def _open_harness(window: Any) -> Harness:
    """Simulated Telegram and an engine with its outbox sender (the daemon's job), on the
    real time: the desktop queues broadcasts at the real time."""
    project = await window.service.workspace.get_project("Демо")
    return await Harness.open(window.service.workspace, project, VirtualClock(datetime.now(UTC)))


async def _traffic(harness: Harness) -> None:
    """20 contacts start the open bot; 11 get the free analysis, 3 type a wrong date."""
    bot = harness.channel_name("open")
    people = crowd(20)
    for person in people:
        await harness.world.contact_starts(bot, person)
    for person in people[:11]:
        await harness.world.contact_says(bot, person, "12.03.1990")
    for person in people[11:14]:
        await harness.world.contact_says(bot, person, "не помню")
    await harness.settle()


def test_compose_count_send_progress_and_cancel(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    harness = loop.run_until_complete(_open_harness(window))
    loop.run_until_complete(_traffic(harness))
    panel = window.show_panel("broadcasts")
    settle(loop, window)
    bots = [panel.bot.itemText(i) for i in range(panel.bot.count())]
    assert bots, "the demo has bots"
    assert panel.count == 20 and panel.count_label.text() == "Получат: 20"

    panel.set_tags(included=["получил анализ"])
    assert loop.run_until_complete(panel.update_count()) == 11
    panel.set_tags(excluded=["получил анализ"])
    assert loop.run_until_complete(panel.update_count()) == 9
    panel.set_tags(included=["получил анализ"])
    loop.run_until_complete(panel.update_count())

    panel.title.setText("Скидка на разбор")
    panel.text.setPlainText("Только сегодня — полный разбор со скидкой 30%")
    window.answers.append(False)
    assert loop.run_until_complete(panel.submit(send_now=True)) is None  # refused: nothing sent
    assert "Отправить рассылку 11 контактам" in window.questions[-1]
    assert loop.run_until_complete(window.service.list_broadcasts("Демо")) == []

    window.answers.append(True)
    panel.send_button.click()
    settle(loop, window)
    [sent] = panel.broadcasts
    assert sent["status"] == "sending" and sent["total"] == 11
    assert panel.progress.maximum() == 11 and panel.progress.value() == 0

    loop.run_until_complete(harness.advance(timedelta(minutes=1)))  # the sender delivers
    loop.run_until_complete(panel.reload())
    assert panel.broadcasts[0]["sent"] == 11
    assert panel.progress.value() == 11

    panel.text.setPlainText("Напоминание: завтра эфир")
    window.answers.append(True)
    scheduled = loop.run_until_complete(panel.submit(send_now=False))
    assert scheduled is not None and scheduled["status"] == "scheduled"
    assert "Запланировать рассылку" in window.questions[-1]
    assert panel.table.item(0, 2).text() == "запланирована"
    panel.title.setText("Эфир в четверг")
    panel.text.setPlainText(
        "Друзья, в четверг в 19:00 — открытый эфир о матрице судьбы.\n"
        "Ссылка придёт за час до начала."
    )
    panel.table.selectRow(1)
    assert panel.progress.value() == panel.progress.maximum() == 11
    shoot(window, "panel-broadcasts.png")

    window.answers.append(True)
    panel.table.selectRow(0)
    panel.cancel_button.click()
    settle(loop, window)
    assert panel.broadcasts[0]["status"] == "cancelled"
    assert panel.table.item(0, 2).text() == "отменена" and not panel.cancel_button.isEnabled()
    panel.poll.stop()
    loop.run_until_complete(harness.close())
    assert window.errors == []
