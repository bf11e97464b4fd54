"""The broadcasts panel: the live recipients count follows the bot and tags, the text has
the message node's formatting buttons and preview, URL buttons are checked before sending
and reach the contacts under the message, "send now" asks first and queues the messages,
the progress bar follows delivery, a scheduled broadcast can be cancelled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
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

    # formatting as in the message node: a button wraps the selection, the preview renders it
    cursor = panel.text.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(len("Только сегодня"), cursor.MoveMode.KeepAnchor)
    panel.text.setTextCursor(cursor)
    panel.text_field.buttons["b"].click()
    assert panel.text.toPlainText().startswith("<b>Только сегодня</b> — полный разбор")
    assert panel.text_field.preview is not None
    assert "<b>Только сегодня</b>" in panel.text_field.preview.text()

    # URL buttons: a bad link is named and nothing is sent; the fixed one goes out
    panel.add_url_button("Записаться", "example.org/zapis")
    panel.add_url_button("Канал", "tg://resolve?domain=demo_channel")
    assert panel.buttons_preview.isVisible() and "Записаться" in panel.buttons_preview.text()
    window.answers.append(True)
    assert loop.run_until_complete(panel.submit(send_now=True)) is None
    assert window.errors == [
        "Кнопка 1 («Записаться»): ссылка «example.org/zapis» должна начинаться с https://, "
        "http:// или tg:// и вести куда-то"
    ]
    window.errors.clear()
    window.answers.clear()
    panel.buttons.item(0, 1).setText("https://example.org/zapis")

    window.answers.append(True)
    panel.send_button.click()
    settle(loop, window)
    assert panel.buttons.rowCount() == 0 and not panel.buttons_preview.isVisible()
    [sent] = panel.broadcasts
    assert sent["status"] == "sending" and sent["total"] == 11
    assert panel.progress.maximum() == 11 and panel.progress.value() == 0

    loop.run_until_complete(harness.advance(timedelta(minutes=1)))  # the sender delivers
    loop.run_until_complete(panel.reload())
    assert panel.broadcasts[0]["sent"] == 11
    assert panel.progress.value() == 11
    got = harness.world.received(harness.channel_name("open"), crowd(20)[0])[-1]
    assert got.text.startswith("<b>Только сегодня</b>")
    assert [(b.text, b.url) for row in got.buttons for b in row] == [
        ("Записаться", "https://example.org/zapis"),
        ("Канал", "tg://resolve?domain=demo_channel"),
    ]

    panel.text.setPlainText("Напоминание: завтра эфир")
    window.answers.append(True)
    scheduled = loop.run_until_complete(panel.submit(send_now=False))
    assert scheduled is not None and scheduled["status"] == "scheduled"
    assert "Запланировать рассылку" in window.questions[-1]
    assert panel.table.item(0, 2).text() == "запланирована"
    panel.title.setText("Эфир в четверг")
    panel.text.setPlainText(
        "Друзья, в четверг в <b>19:00</b> — открытый эфир о <i>матрице судьбы</i>.\n"
        "Ссылка придёт за час до начала."
    )
    panel.add_url_button("Напомнить в Telegram", "https://t.me/demo_channel")
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


def test_picked_media_reach_telegram_as_a_photo(
    window: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    from tests.desktop.test_media_upload import PICTURE

    harness = loop.run_until_complete(_open_harness(window))
    bot = harness.channel_name("open")
    [person] = crowd(1)
    loop.run_until_complete(harness.world.contact_starts(bot, person))
    loop.run_until_complete(harness.settle())
    panel = window.show_panel("broadcasts")
    settle(loop, window)
    picture = tmp_path / "Афиша.png"
    picture.write_bytes(PICTURE)
    panel.media.choose_files = lambda parent: [str(picture)]  # the file dialog
    panel.media.pick_files()
    loop.run_until_complete(panel.media.wait_uploads())
    [item] = panel.media.value()
    assert item["kind"] == "photo" and item["source"].startswith("media/")  # in the store
    assert (panel.media.media_root / item["source"]).read_bytes() == PICTURE
    panel.text.setPlainText("Афиша эфира")
    window.answers.append(True)
    created = loop.run_until_complete(panel.submit(send_now=True))
    assert created is not None and created["media"] == [item]
    assert panel.media.value() == []  # the composer is cleared
    loop.run_until_complete(harness.advance(timedelta(minutes=1)))
    got = harness.world.received(bot, person)[-1]
    assert got.text == "Афиша эфира"
    assert [(m.kind, m.source) for m in got.media] == [("photo", item["source"])]
    panel.poll.stop()
    loop.run_until_complete(harness.close())
    assert window.errors == []


def test_url_button_links() -> None:
    from desktop.panels.broadcasts import valid_url

    for good in (
        "https://example.org",
        "http://example.org/a?b=c",
        "HTTPS://t.me/channel",
        "tg://resolve?domain=demo",
    ):
        assert valid_url(good), good
    for bad in (
        "example.org",
        "https://",
        "https://localhost",
        "ftp://example.org",
        "javascript:alert(1)",
        "tg://",
        "https://exa mple.org",
        "",
    ):
        assert not valid_url(bad), bad
