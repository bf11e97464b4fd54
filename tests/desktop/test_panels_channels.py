"""The Channels tab: adding a bot through its dialog (the token checked by the fake Bot API
over HTTP), the manager-account login wizard over Telethon's fake wire (wrong code, right
code, 2FA password, FloodWait, cancel), enabling/renaming/roles/logout/delete, project
settings (time zone, R15 labels) and the tags' colour / manager label; once over the HTTP
API too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from telethon import functions

from engine.channels_admin import BOT_API_ENV
from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures

TOKEN = "7001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def bot_api(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeTelegramBotAPI]:
    fake = FakeTelegramBotAPI()
    loop.run_until_complete(fake.start())
    monkeypatch.setenv(BOT_API_ENV, fake.base_url)
    yield fake
    loop.run_until_complete(fake.close())


def channels_panel(window: Any, loop: asyncio.AbstractEventLoop) -> Any:
    panel = window.show_panel("channels")
    settle(loop, window)
    return panel


def row_of(panel: Any, name: str) -> dict[str, str]:
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    for row in panel.channel_rows():
        if row[0] == name:
            return dict(zip(headers, row, strict=True))
    raise AssertionError(f"no row {name!r} in {panel.channel_rows()}")


def test_add_a_bot_through_the_dialog(
    window: Any, loop: asyncio.AbstractEventLoop, bot_api: FakeTelegramBotAPI
) -> None:
    bot_api.add_bot(TOKEN, username="tarot_paid_bot", first_name="Таро")
    panel = channels_panel(window, loop)
    before = len(panel.channels)
    assert before >= 1 and window.errors == []

    dialog = panel.open_add_bot()
    assert dialog.isVisible()
    assert loop.run_until_complete(dialog.submit()) is None
    assert dialog.message == "Вставьте токен бота"

    dialog.token.setText("not a token")
    assert loop.run_until_complete(dialog.submit()) is None
    assert dialog.message.startswith("Это не токен бота") and dialog.isVisible()
    assert "token:" in dialog.message

    dialog.token.setText("7002:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")  # unknown to Telegram
    assert loop.run_until_complete(dialog.submit()) is None
    assert "Telegram rejected the token" in dialog.message

    dialog.token.setText(TOKEN)
    dialog.set_role("paid")
    dialog.name.setText("Платный Таро")
    checking = loop.create_task(dialog.submit())
    loop.run_until_complete(asyncio.sleep(0))  # the check is under way at Telegram
    assert dialog.message == "Проверяем токен в Telegram…"
    assert not dialog.add_button.isEnabled()
    channel = loop.run_until_complete(checking)
    assert channel is not None and not dialog.isVisible()
    settle(loop, window)
    assert len(panel.channels) == before + 1
    row = row_of(panel, "Платный Таро")
    assert row["Роль"] == "платный" and row["Username"] == "@tarot_paid_bot"
    assert row["Состояние"] == "работает" and row["Включён"] == "да"
    assert panel.selected_id() == channel["id"]
    assert TOKEN not in str(panel.channels)

    again = panel.open_add_bot()
    again.token.setText(TOKEN)
    assert loop.run_until_complete(again.submit()) is None
    assert again.message.startswith("Этот бот уже есть в проекте") and again.isVisible()
    again.reject()

    # per-row actions: disable, rename, role, make main, delete (the question names it)
    panel.select("Платный Таро")
    loop.run_until_complete(panel.toggle_enabled())
    assert row_of(panel, "Платный Таро")["Включён"] == "нет"
    assert panel.toggle_button.text() == "Включить"
    window.prompt_text = lambda title, label, value="": "Таро (платный)"
    loop.run_until_complete(panel.rename())
    panel.choose = lambda title, label, items, current: items.index("бесплатный")
    loop.run_until_complete(panel.change_role())
    assert row_of(panel, "Таро (платный)")["Роль"] == "бесплатный"
    loop.run_until_complete(panel.make_main())
    assert row_of(panel, "Таро (платный)")["Главный"] == "★"
    window.answers = [False]
    assert not loop.run_until_complete(panel.delete())
    assert "«Таро (платный)»" in window.questions[-1]
    window.answers = [True]
    assert loop.run_until_complete(panel.delete())
    assert all(c["name"] != "Таро (платный)" for c in panel.channels)
    assert window.errors == []


def fill_details(wizard: Any) -> None:
    wizard.name.setText("Мария")
    wizard.phone.setText("+7 999 000-00-00")
    wizard.api_id.setText(str(API_ID))
    wizard.api_hash.setText(API_HASH)


def test_manager_login_wizard_code_password_logout(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    account = FakeTelegramAccount.create(password="тайна", password_hint="кличка кота")
    account.login_code = "24680"
    account.authorized = False  # a fresh key: Telegram does not know it yet
    window.service.telegram_client_factory = account.client_factory()
    panel = channels_panel(window, loop)

    wizard = panel.open_manager_login()
    assert "my.telegram.org" in wizard.login_hint.text()
    assert loop.run_until_complete(wizard.next_step()) == "details"
    assert "Название" in wizard.message  # the name is missing
    fill_details(wizard)
    assert loop.run_until_complete(wizard.next_step()) == "code"
    assert "•" in wizard.code_sent.text()  # the masked phone

    wizard.code.setText("11111")
    assert loop.run_until_complete(wizard.next_step()) == "code"
    assert wizard.message.startswith("Код не подошёл")
    wizard.code.setText("24680")
    assert loop.run_until_complete(wizard.next_step()) == "password"
    assert wizard.hint.text() == "Подсказка: кличка кота"

    wizard.password.setText("не та")
    assert loop.run_until_complete(wizard.next_step()) == "password"
    assert wizard.message.startswith("Пароль не подошёл")
    wizard.password.setText("тайна")
    assert loop.run_until_complete(wizard.next_step()) == "done"
    assert "Мария" in wizard.done_label.text() and "@manager500" in wizard.done_label.text()
    loop.run_until_complete(wizard.next_step())
    assert not wizard.isVisible()
    settle(loop, window)
    row = row_of(panel, "Мария")
    assert row["Вид"] == "аккаунт менеджера" and row["Состояние"] == "работает"
    assert row["Username"] == "@manager500"

    panel.select("Мария")
    assert panel.action_buttons["logout"].isEnabled()
    assert not panel.action_buttons["change_role"].isEnabled()
    window.answers = [True]
    assert loop.run_until_complete(panel.logout())
    assert "Выйти из аккаунта «Мария»" in window.questions[-1]
    assert account.logged_out
    assert row_of(panel, "Мария")["Состояние"].startswith("нужен вход")

    # log in again under the same name: the wizard comes pre-filled, the session renewed
    relogin = loop.run_until_complete(panel.relogin())
    assert (relogin.name.text(), relogin.api_id.text()) == ("Мария", str(API_ID))
    relogin.phone.setText("+79990000000")
    relogin.api_hash.setText(API_HASH)
    account.password = None
    assert loop.run_until_complete(relogin.next_step()) == "code"
    relogin.code.setText("24680")
    assert loop.run_until_complete(relogin.next_step()) == "done"
    settle(loop, window)
    assert row_of(panel, "Мария")["Состояние"] == "работает"
    assert window.errors == []


def test_flood_wait_and_cancel(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    account = FakeTelegramAccount.create()
    account.authorized = False
    window.service.telegram_client_factory = account.client_factory()
    panel = channels_panel(window, loop)

    account.fail_next(functions.auth.SendCodeRequest, (420, "FLOOD_WAIT_300"))
    wizard = panel.open_manager_login()
    fill_details(wizard)
    assert loop.run_until_complete(wizard.next_step()) == "details"
    assert "Telegram просит подождать 5 мин" in wizard.message

    assert loop.run_until_complete(wizard.next_step()) == "code"
    login_id = wizard.login_id
    wizard.reject()  # cancel: the login ends at the engine
    settle(loop, window)
    with pytest.raises(Exception, match="no login"):
        loop.run_until_complete(window.backend.submit_login_code("Демо", login_id, "12345"))
    assert window.errors == []


def test_settings_and_tags(
    window: Any, loop: asyncio.AbstractEventLoop, bot_api: FakeTelegramBotAPI
) -> None:
    backend = window.backend
    bot_api.add_bot(TOKEN, username="tarot_paid_bot")
    loop.run_until_complete(backend.add_bot("Демо", TOKEN, "paid", name="Таро — платный"))
    panel = channels_panel(window, loop)
    assert panel.timezone.currentText() == "Europe/Moscow"
    assert not panel.labels.isChecked()

    panel.labels.setChecked(True)
    settle(loop, window)
    assert loop.run_until_complete(backend.get_project_settings("Демо"))["manager_labels"]
    panel.timezone.setCurrentText("Asia/Nowhere")
    panel.timezone.lineEdit().editingFinished.emit()
    assert "Asia/Nowhere" in panel.settings_state.text()
    assert panel.timezone.currentText() == "Europe/Moscow"
    panel.timezone.setCurrentText("Asia/Yekaterinburg")
    panel.timezone.lineEdit().editingFinished.emit()
    settle(loop, window)
    assert loop.run_until_complete(backend.get_project_settings("Демо"))["timezone"] == (
        "Asia/Yekaterinburg"
    )
    assert window.projects["Демо"].timezone == "Asia/Yekaterinburg"

    tag = panel.select_tag("получил анализ")
    panel.pick_colour = lambda current: "#e67e22"
    loop.run_until_complete(panel.edit_colour())
    panel.prompt_label = lambda title, label, value: "🔮 анализ"
    loop.run_until_complete(panel.edit_label())
    loop.run_until_complete(panel.toggle_key())
    [stored] = [
        x for x in loop.run_until_complete(backend.list_tags("Демо")) if x["id"] == tag["id"]
    ]
    assert (stored["colour"], stored["manager_label"], stored["is_key"]) == (
        "#e67e22", "🔮 анализ", not tag["is_key"],
    )  # fmt: skip
    assert next(r[:3] for r in panel.tag_rows() if r[0] == "получил анализ") == [
        "получил анализ",
        "#e67e22",
        "🔮 анализ",
    ]
    panel.prompt_label = lambda title, label, value: "слишком длинная подпись"
    assert loop.run_until_complete(panel.edit_label()) is None
    assert "длиннее 16" in window.errors.pop()

    panel.select_tag("купил")
    panel.prompt_label = lambda title, label, value: "💰"
    loop.run_until_complete(panel.edit_label())
    panel.pick_colour = lambda current: "#2e7d32"
    loop.run_until_complete(panel.edit_colour())

    panel.labels.setChecked(False)
    settle(loop, window)
    assert not loop.run_until_complete(backend.get_project_settings("Демо"))["manager_labels"]
    panel.labels.setChecked(True)
    settle(loop, window)
    window.resize(1400, 860)
    panel.select("Таро — платный")
    shoot(window, "panel-channels.png")
    assert window.errors == []


def test_channels_over_the_api(qtbot: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tab against the engine server (the real FastAPI app) through RemoteBackend."""
    import httpx

    from db.secrets import SECRET_KEY_ENV
    from db.workspace import WORKSPACE_ENV
    from desktop.main_window import MainWindow
    from desktop.remote_client import RemoteBackend
    from desktop.token_store import TokenStore
    from engine.service import WorkspaceService
    from tests.api.conftest import PASSWORD, build_api
    from tests.desktop.test_remote import connect

    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    fake = FakeTelegramBotAPI()
    event_loop.run_until_complete(fake.start())
    monkeypatch.setenv(BOT_API_ENV, fake.base_url)
    api, service = event_loop.run_until_complete(build_api(tmp_path / "server"))
    local = event_loop.run_until_complete(WorkspaceService.open(str(tmp_path / "local")))
    main: Any = MainWindow(local, token_store=TokenStore(tmp_path / "config", use_keyring=False))
    main.remote_transport = httpx.ASGITransport(app=api.app)
    main.errors = []
    main.show_error = main.errors.append
    qtbot.addWidget(main)
    try:
        main.show()
        connect(main, event_loop, login="admin", password=PASSWORD)
        assert isinstance(main.backend, RemoteBackend)
        panel = channels_panel(main, event_loop)
        assert any(c["name"] == "Менеджер" for c in panel.channels)

        fake.add_bot(TOKEN, username="tarot_paid_bot")
        dialog = panel.open_add_bot()
        dialog.token.setText("7002:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
        assert event_loop.run_until_complete(dialog.submit()) is None
        assert "Telegram rejected the token" in dialog.message
        dialog.token.setText(TOKEN)
        assert event_loop.run_until_complete(dialog.submit()) is not None
        settle(event_loop, main)
        assert row_of(panel, "@tarot_paid_bot")["Состояние"] == "работает"

        account = FakeTelegramAccount.create(user_id=501)
        account.authorized = False
        service.telegram_client_factory = account.client_factory()
        wizard = panel.open_manager_login()
        fill_details(wizard)
        wizard.phone.setText("+79990000000")
        account.fail_next(functions.auth.SendCodeRequest, (420, "FLOOD_WAIT_61"))
        assert event_loop.run_until_complete(wizard.next_step()) == "details"
        assert "Telegram просит подождать 2 мин" in wizard.message
        assert event_loop.run_until_complete(wizard.next_step()) == "code"
        wizard.code.setText("00000")
        assert event_loop.run_until_complete(wizard.next_step()) == "code"
        assert "wrong" in wizard.message
        wizard.code.setText(account.login_code)
        assert event_loop.run_until_complete(wizard.next_step()) == "done"
        settle(event_loop, main)
        assert row_of(panel, "Мария")["Username"] == "@manager501"

        panel.labels.setChecked(True)
        settle(event_loop, main)
        assert event_loop.run_until_complete(service.get_project_settings("Демо"))["manager_labels"]
        panel.select_tag("купил")
        panel.prompt_label = lambda title, label, value: "₽"
        event_loop.run_until_complete(panel.edit_label())
        tags = event_loop.run_until_complete(main.backend.list_tags("Демо"))
        assert next(x for x in tags if x["name"] == "купил")["manager_label"] == "₽"
        assert main.errors == []
    finally:
        main.refresh_timer.stop()
        settle(event_loop, main)
        if not isinstance(main.backend, type(main.embedded)):
            event_loop.run_until_complete(main.backend.close())
        event_loop.run_until_complete(api.client.aclose())
        event_loop.run_until_complete(service.close())
        event_loop.run_until_complete(local.close())
        event_loop.run_until_complete(fake.close())
        event_loop.close()
        asyncio.set_event_loop(None)
