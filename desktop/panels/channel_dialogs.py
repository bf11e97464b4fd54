"""The dialogs of the Channels tab: adding a bot by its token, and the manager-account
login wizard (details → code from Telegram → 2FA password → done).

Both are non-modal (``open()``), call only the backend, and keep their async work on the
host's loop (``host.run``); ``submit()`` / ``next_step()`` are the coroutines behind the
buttons, so tests drive them directly and look at :attr:`message` afterwards.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.backend import BackendError, LoginBackendError
from desktop.i18n import language, register

t = register(
    "channel_dialogs",
    {
        "add_bot_title": ("Добавить бота", "Add a bot"),
        "add_bot_hint": (
            "Токен бота выдаёт @BotFather в Telegram (команда /newbot или /token). "
            "Он хранится зашифрованным и больше нигде не показывается.",
            "@BotFather in Telegram gives the bot token (/newbot or /token). It is stored "
            "encrypted and never shown again.",
        ),
        "token": ("Токен:", "Token:"),
        "role": ("Роль:", "Role:"),
        "name": ("Название:", "Name:"),
        "name_optional": ("по умолчанию — имя бота в Telegram", "default: the bot's name"),
        "main": ("Главный бот проекта", "The project's main bot"),
        "add": ("Добавить", "Add"),
        "cancel": ("Отмена", "Cancel"),
        "close": ("Закрыть", "Close"),
        "checking": ("Проверяем токен в Telegram…", "Checking the token with Telegram…"),
        "no_token": ("Вставьте токен бота", "Paste the bot token"),
        "bot_added": ("Бот @{username} добавлен", "Bot @{username} added"),
        "login_title": ("Подключить аккаунт менеджера", "Connect a manager account"),
        "login_hint": (
            "api_id и api_hash выдаёт Telegram: войдите на my.telegram.org → "
            "«API development tools» и создайте приложение.",
            "Telegram issues api_id and api_hash: sign in at my.telegram.org → "
            "“API development tools” and create an application.",
        ),
        "phone": ("Телефон:", "Phone:"),
        "api_id": ("api_id:", "api_id:"),
        "api_hash": ("api_hash:", "api_hash:"),
        "send_code": ("Получить код", "Send the code"),
        "code_sent": (
            "Telegram отправил код на {phone} — он пришёл в приложение Telegram "
            "(чат «Telegram»), не по SMS.",
            "Telegram sent a code for {phone}: it is in the Telegram app (the “Telegram” "
            "chat), not an SMS.",
        ),
        "code": ("Код:", "Code:"),
        "sign_in": ("Войти", "Sign in"),
        "password_needed": (
            "На аккаунте включена двухэтапная проверка: введите облачный пароль.",
            "The account has two-step verification: enter its cloud password.",
        ),
        "password_hint": ("Подсказка: {hint}", "Hint: {hint}"),
        "password": ("Пароль:", "Password:"),
        "done": ("Аккаунт «{name}» подключён{username}.", "Account “{name}” connected{username}."),
        "finish": ("Готово", "Done"),
        "sending": ("Отправляем запрос в Telegram…", "Asking Telegram…"),
        "flood": (
            "Telegram просит подождать {n} мин. и попробовать снова.",
            "Telegram asks to wait {n} min and try again.",
        ),
        "need_fields": ("Заполните: {fields}", "Fill in: {fields}"),
        "need_code": ("Введите код из Telegram", "Enter the code from Telegram"),
        "need_password": ("Введите пароль", "Enter the password"),
        "wrong_code": (
            "Код не подошёл — проверьте его и введите ещё раз.",
            "The code is wrong: check it and type it again.",
        ),
        "wrong_password": (
            "Пароль не подошёл — попробуйте ещё раз.",
            "The password is wrong: try again.",
        ),
        "bad_token": (
            "Это не токен бота: он выглядит как 123456789:ABC… (его выдаёт @BotFather).",
            "This is not a bot token: it looks like 123456789:ABC… (from @BotFather).",
        ),
        "rejected_token": (
            "Telegram не принял токен: он отозван или в нём опечатка.",
            "Telegram rejected the token: it was revoked or mistyped.",
        ),
        "duplicate_bot": ("Этот бот уже есть в проекте.", "This bot is already in the project."),
        "restart": (
            "Вход прерван — проверьте данные и начните заново.",
            "The login stopped: check the details and start again.",
        ),
    },
)

ROLES: dict[str, tuple[str, str]] = {
    "open": ("открытый", "open"),
    "paid": ("платный", "paid"),
    "free": ("бесплатный", "free"),
    "other": ("другой", "other"),
}


def role_title(role: str | None) -> str:
    pair = ROLES.get(role or "")
    if pair is None:
        return role or "—"
    return pair[0] if language() == "ru" else pair[1]


def role_combo() -> QComboBox:
    combo = QComboBox()
    for key in ROLES:
        combo.addItem(role_title(key), key)
    return combo


def flood_text(retry_after: int) -> str:
    """«Telegram просит подождать N мин.» (whole minutes, at least 1)."""
    return t("flood", n=max(1, math.ceil(retry_after / 60)))


def _explain_bot_error(message: str) -> str:
    """The engine's (English) reason with a plain Russian line first for the usual ones."""
    if language() != "ru":
        return message
    lowered = message.casefold()
    key = (
        "bad_token" if lowered.startswith("token:")
        else "rejected_token" if "rejected the token" in lowered
        else "duplicate_bot" if "already" in lowered
        else None
    )  # fmt: skip
    return f"{t(key)}\n{message}" if key else message


class _Dialog(QDialog):
    """A dialog with a message line (errors in red, progress in grey)."""

    def __init__(self, host: Any, title: str) -> None:
        super().__init__(host if isinstance(host, QWidget) else None)
        self.host = host
        self.project: str = host.project
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = False

    @property
    def message(self) -> str:
        return self.message_label.text()

    def say(self, text: str, error: bool = False) -> None:
        colour = "#b3261e" if error else "#555"
        self.message_label.setStyleSheet(f"color: {colour};")
        self.message_label.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        for button in self.findChildren(QPushButton):
            if button.property("cancel") is not True:
                button.setEnabled(not busy)


class AddBotDialog(_Dialog):
    """Token (hidden) + role + name; the token is checked by Telegram (getMe) on «Добавить»."""

    added = Signal(dict)

    def __init__(self, host: Any) -> None:
        super().__init__(host, t("add_bot_title"))
        layout = QVBoxLayout(self)
        hint = QLabel(t("add_bot_hint"))
        hint.setWordWrap(True)
        layout.addWidget(hint)
        form = QFormLayout()
        self.token = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("123456789:AA…")
        self.role = role_combo()
        self.name = QLineEdit(placeholderText=t("name_optional"))
        form.addRow(t("token"), self.token)
        form.addRow(t("role"), self.role)
        form.addRow(t("name"), self.name)
        layout.addLayout(form)
        layout.addWidget(self.message_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.add_button = QPushButton(t("add"))
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(lambda: self.host.run(self.submit()))
        cancel = QPushButton(t("cancel"))
        cancel.setProperty("cancel", True)
        cancel.clicked.connect(self.reject)
        buttons.addWidget(self.add_button)
        buttons.addWidget(cancel)
        layout.addLayout(buttons)
        self.result_channel: dict[str, Any] | None = None

    def set_role(self, role: str) -> None:
        self.role.setCurrentIndex(max(0, self.role.findData(role)))

    async def submit(self) -> dict[str, Any] | None:
        """Add the bot; on an error the dialog stays open with the message."""
        if self.busy:
            return None
        token = self.token.text().strip()
        if not token:
            self.say(t("no_token"), error=True)
            return None
        self.set_busy(True)
        self.say(t("checking"))
        try:
            channel = await self.host.backend.add_bot(
                self.project,
                token,
                self.role.currentData(),
                name=self.name.text().strip() or None,
            )
        except BackendError as exc:
            self.say(_explain_bot_error(str(exc)), error=True)
            return None
        finally:
            self.set_busy(False)
        self.result_channel = channel
        self.say(t("bot_added", username=channel.get("username") or channel.get("name")))
        self.added.emit(channel)
        self.accept()
        return channel


class ManagerLoginWizard(_Dialog):
    """Name, phone, api_id, api_hash → the code Telegram sent → the 2FA password → done.

    A wrong code or password keeps the wizard on its step with Telegram's message;
    closing it before the end cancels the login at the engine."""

    PAGES = ("details", "code", "password", "done")
    connected = Signal(dict)

    def __init__(self, host: Any) -> None:
        super().__init__(host, t("login_title"))
        self.login_id: str | None = None
        self.channel: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages)

        details = QWidget()
        form = QFormLayout(details)
        self.login_hint = QLabel(t("login_hint"))
        self.login_hint.setWordWrap(True)
        form.addRow(self.login_hint)
        self.name = QLineEdit(placeholderText="Мария (поддержка)")
        self.phone = QLineEdit(placeholderText="+7 999 000-00-00")
        self.api_id = QLineEdit()
        self.api_id.setValidator(QIntValidator(1, 2_000_000_000))
        self.api_hash = QLineEdit()
        form.addRow(t("name"), self.name)
        form.addRow(t("phone"), self.phone)
        form.addRow(t("api_id"), self.api_id)
        form.addRow(t("api_hash"), self.api_hash)
        self.pages.addWidget(details)

        code_page = QWidget()
        form = QFormLayout(code_page)
        self.code_sent = QLabel()
        self.code_sent.setWordWrap(True)
        form.addRow(self.code_sent)
        self.code = QLineEdit()
        form.addRow(t("code"), self.code)
        self.pages.addWidget(code_page)

        password_page = QWidget()
        form = QFormLayout(password_page)
        needed = QLabel(t("password_needed"))
        needed.setWordWrap(True)
        form.addRow(needed)
        self.hint = QLabel()
        form.addRow(self.hint)
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        form.addRow(t("password"), self.password)
        self.pages.addWidget(password_page)

        done_page = QWidget()
        done_layout = QVBoxLayout(done_page)
        self.done_label = QLabel()
        self.done_label.setWordWrap(True)
        done_layout.addWidget(self.done_label)
        done_layout.addStretch(1)
        self.pages.addWidget(done_page)

        layout.addWidget(self.message_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.next_button = QPushButton(t("send_code"))
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(lambda: self.host.run(self.next_step()))
        self.cancel_button = QPushButton(t("cancel"))
        self.cancel_button.setProperty("cancel", True)
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.next_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

    @property
    def step(self) -> str:
        return self.PAGES[self.pages.currentIndex()]

    def _go(self, step: str) -> None:
        self.pages.setCurrentIndex(self.PAGES.index(step))
        label = {"details": "send_code", "code": "sign_in", "password": "sign_in"}
        self.next_button.setText(t(label.get(step, "finish")))
        self.cancel_button.setVisible(step != "done")
        focus = {"details": self.name, "code": self.code, "password": self.password}
        if step in focus:
            focus[step].setFocus()

    async def next_step(self) -> str:
        """Do the current step (the «Далее» button); the step the wizard is on after it."""
        if self.busy:
            return self.step
        if self.step == "done":
            self.accept()
            return self.step
        missing = self._missing()
        if missing:
            self.say(missing, error=True)
            return self.step
        self.set_busy(True)
        self.say(t("sending"))
        try:
            await self._submit()
        except LoginBackendError as exc:
            self._failed(exc)
        except BackendError as exc:
            self.say(str(exc), error=True)
        finally:
            self.set_busy(False)
        return self.step

    def _missing(self) -> str | None:
        if self.step == "details":
            fields = [
                label.rstrip(":")
                for label, widget in ((t("name"), self.name), (t("phone"), self.phone))
                if not widget.text().strip()
            ]
            return t("need_fields", fields=", ".join(fields)) if fields else None
        if self.step == "code" and not self.code.text().strip():
            return t("need_code")
        if self.step == "password" and not self.password.text():
            return t("need_password")
        return None

    async def _submit(self) -> None:
        backend, project = self.host.backend, self.project
        if self.step == "details":
            started = await backend.begin_manager_login(
                project,
                name=self.name.text().strip(),
                phone=self.phone.text().strip(),
                api_id=int(self.api_id.text()) if self.api_id.text().strip() else None,
                api_hash=self.api_hash.text().strip() or None,
            )
            self.login_id = str(started["login_id"])
            self.code_sent.setText(t("code_sent", phone=started.get("phone") or ""))
            self.code.clear()
            self.say("")
            self._go("code")
            return
        assert self.login_id is not None
        if self.step == "code":
            answer = await backend.submit_login_code(
                project, self.login_id, self.code.text().strip()
            )
        else:
            answer = await backend.submit_login_password(
                project, self.login_id, self.password.text()
            )
        if answer.get("state") == "password_needed":
            hint = answer.get("hint")
            self.hint.setText(t("password_hint", hint=hint) if hint else "")
            self.hint.setVisible(bool(hint))
            self.password.clear()
            self.say("")
            self._go("password")
            return
        self.channel = dict(answer.get("channel") or {})
        self.login_id = None
        username = self.channel.get("username")
        self.done_label.setText(
            t(
                "done",
                name=self.channel.get("name", ""),
                username=f" (@{username})" if username else "",
            )
        )
        self.say("")
        self._go("done")
        self.connected.emit(self.channel)

    def _failed(self, exc: LoginBackendError) -> None:
        text = flood_text(exc.retry_after) if exc.retry_after else str(exc)
        if exc.state == "failed":
            self.login_id = None
            if not exc.retry_after:
                text = f"{text}\n{t('restart')}"
            self._go("details")
        elif exc.state in ("code_sent", "password_needed"):
            on_code = exc.state == "code_sent"
            self._go("code" if on_code else "password")
            (self.code if on_code else self.password).selectAll()
            if not exc.retry_after and self.step == ("code" if on_code else "password"):
                text = f"{t('wrong_code' if on_code else 'wrong_password')}\n{text}"
        self.say(text, error=True)

    def reject(self) -> None:
        """Closing before the end cancels the login at the engine (Telegram's code dies)."""
        if self.login_id is not None:
            login_id, self.login_id = self.login_id, None
            self.host.run(
                self.host.backend.cancel_manager_login(self.project, login_id), quiet=True
            )
        super().reject()
