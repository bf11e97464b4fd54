"""The chat simulator (issue 8.6): staff play the contact and the manager against a sandbox
copy of the open robot — replies, reply-keyboard and inline buttons, time jumps firing
timers, the canvas badges showing the sandbox — while the real project stays untouched,
with the embedded engine and over the HTTP API."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from PySide6.QtCore import Qt

from tests.api.conftest import PASSWORD, Api
from tests.desktop import panel_fixtures, test_remote
from tests.desktop.panel_fixtures import settle
from tests.desktop.traffic import PEOPLE, START, start_open_bot

loop = panel_fixtures.loop
window = panel_fixtures.window
server = test_remote.server
_isolated_environment = test_remote._isolated_environment  # fixtures


def _node(window: Any, title: str) -> str:
    return next(str(n.id) for n in window.draft.document.nodes if n.title == title)


def _texts(panel: Any) -> list[str]:
    return [b.entry.text for b in panel.chat.bubbles]


def _open_simulator(window: Any, loop: asyncio.AbstractEventLoop) -> Any:
    panel = window.simulator.panel
    panel.start_time = START
    window.simulator.open()
    settle(loop, window)
    assert window.simulator.isVisible() and panel.sandbox is not None
    return panel


def test_contact_and_manager_in_the_sandbox(
    window: Any, loop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    service = window.service
    loop.run_until_complete(start_open_bot(service.workspace, "Демо"))  # real traffic
    window.refresh_timer.stop()
    assert window.draft.document.name == "Разбор по дате рождения"
    wait_date = _node(window, "Ждём дату")
    loop.run_until_complete(window.refresh_counts())
    assert window.editor.badge_text(wait_date) == "3"  # the real contacts
    real_contacts = loop.run_until_complete(window.backend.search_contacts("Демо"))
    real_counts = loop.run_until_complete(window.backend.node_counts("Демо", window.draft.id))

    panel = _open_simulator(window, loop)
    assert panel.current_chat().role == "open"  # the bot the robot starts in
    assert window.editor.badge_text(wait_date) is None  # nobody in the sandbox yet

    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    settle(loop, window)
    texts = _texts(panel)
    assert texts[0] == "/start" and panel.chat.bubbles[0].mine
    assert texts[1].startswith("Здравствуйте!") and not panel.chat.bubbles[1].mine
    assert "<b>ДД.ММ.ГГГГ</b>" in panel.chat.bubbles[2].text()  # formatted as Telegram does
    assert window.editor.badge_text(wait_date) == "1"  # the sandbox contact, not the 3 real
    assert window.editor.selected_uuids() == [wait_date]
    assert "«Ждём дату»" in panel.state_label.text()

    # The real counts are not polled back over the sandbox's while the simulator is open.
    loop.run_until_complete(window.refresh_counts())
    assert window.editor.badge_text(wait_date) == "1"

    panel.input.setText("12.03.1990")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    settle(loop, window)
    assert _texts(panel)[-1].startswith("Ваш разбор по дате рождения 12.03.1990")
    assert panel.keyboard.isVisibleTo(panel) and panel.keyboard_texts() == ["Расскажи подробнее"]
    assert "получил анализ" in panel.state_label.text()

    qtbot.mouseClick(panel.keyboard_buttons[0], Qt.MouseButton.LeftButton)  # a keyboard button
    settle(loop, window)
    assert _texts(panel)[-2:][0] == "Расскажи подробнее"
    assert _texts(panel)[-1].startswith("Полный разбор Таро")
    next_day = _node(window, "Через день")
    assert window.editor.badge_text(next_day) == "1"
    assert window.editor.badge_text(wait_date) == "0"
    sent = len(panel.chat.bubbles)

    qtbot.mouseClick(panel.jump_buttons["plus_hour"], Qt.MouseButton.LeftButton)
    settle(loop, window)
    assert len(panel.chat.bubbles) == sent  # the delay is a day: nothing yet
    qtbot.mouseClick(panel.jump_buttons["plus_day"], Qt.MouseButton.LeftButton)
    settle(loop, window)
    assert _texts(panel)[-1].startswith("Вчера я прислала вам бесплатный разбор")
    assert window.editor.badge_text(next_day) == "0"
    assert window.editor.badge_text(_node(window, "Через 2 дня")) == "1"
    assert "7 мая 2024" in panel.time_label.text()

    # The manager types the code phrase in their account: the payment robot sends the link.
    panel.set_manager(True)
    assert not panel.current_chat().is_bot and not panel.start_button.isVisibleTo(panel)
    panel.input.setText("оплату за Таро получила")
    qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)
    settle(loop, window)
    link_message = panel.chat.bubbles[-1]
    assert "Спасибо за оплату" in link_message.entry.text
    url = next(w for w in link_message.entry.text.split() if w.startswith("https://t.me/"))
    assert f'href="{url}"' in link_message.text()  # a clickable link

    # The contact follows it into the paid bot and presses its inline buttons.
    link_message.text_label.linkActivated.emit(url)
    settle(loop, window)
    assert panel.current_chat().role == "paid" and not panel.is_manager
    assert panel.chat.button_texts() == ["Начать расклад"]
    panel.chat.press("Начать расклад")
    settle(loop, window)
    assert _texts(panel)[-1].startswith("<b>Карта года — Звезда.</b>")
    assert panel.chat.button_texts()[-1] == "Дальше"
    # Arriving in the paid bot stopped the open bot's robot: no one is on it any more.
    assert window.editor.badge_text(_node(window, "Через 2 дня")) == "0"
    assert "Контакт не в этом роботе" in panel.state_label.text()

    # "Start over" builds a fresh sandbox: an empty chat, zero badges.
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    settle(loop, window)
    assert panel.chat.bubbles == [] and window.editor.badge_text(wait_date) is None

    # The real project never saw any of it.
    assert loop.run_until_complete(window.backend.search_contacts("Демо")) == real_contacts
    assert loop.run_until_complete(window.backend.node_counts("Демо", window.draft.id)) == (
        real_counts
    )
    assert {c["telegram_user_id"] for c in real_contacts} == {p.user_id for p in PEOPLE}

    directory = panel.sandbox._directory
    window.simulator.toggle_action.setChecked(False)  # closing gives the badges back
    settle(loop, window)
    assert not window.simulator.isVisible() and panel.sandbox is None
    assert not os.path.exists(directory)
    assert window.editor.badge_text(wait_date) == "3"


def test_simulator_over_the_api(
    qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Any, server: Api
) -> None:
    """With a remote engine the sandbox is built from what the API returns (the server's
    data is only read)."""
    import httpx

    from desktop.dialogs import ConnectRequest
    from desktop.main_window import MainWindow
    from desktop.remote_client import RemoteBackend
    from desktop.token_store import TokenStore
    from engine.service import WorkspaceService
    from tests.desktop.test_remote import URL

    local = loop.run_until_complete(WorkspaceService.open(str(tmp_path / "local")))
    main = MainWindow(local, token_store=TokenStore(tmp_path / "config", use_keyring=False))
    main.remote_transport = httpx.ASGITransport(app=server.app)
    errors: list[str] = []
    main.show_error = errors.append
    qtbot.addWidget(main)
    main.show()
    try:
        loop.run_until_complete(main.load())
        loop.run_until_complete(
            main.connect_to_server(ConnectRequest(URL, login="admin", password=PASSWORD))
        )
        assert isinstance(main.backend, RemoteBackend)
        main.refresh_timer.stop()
        panel = _open_simulator(main, loop)
        loop.run_until_complete(panel.send("/start"))
        assert _texts(panel)[1].startswith("Здравствуйте!")
        assert main.editor.badge_text(_node(main, "Ждём дату")) == "1"
        directory = panel.sandbox._directory
        main.close()  # closing the window throws the sandbox away
        settle(loop, main)
        assert panel.sandbox is None and not os.path.exists(directory)
        assert errors == []
        assert loop.run_until_complete(server.service.search_contacts("Демо")) == []
    finally:
        main.refresh_timer.stop()
        loop.run_until_complete(main.backend.close())
        loop.run_until_complete(local.close())
