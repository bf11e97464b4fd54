"""Notifications (R9): what staff must look at — lost receipts, send errors, stuck
contacts, "notify admins" nodes. Unresolved count on the tab, filters, resolve, and a jump
to the contact's card.

«Застрявшие» (R5) lists the contacts stuck now (``engine.stuck``: an overdue timer, a
failed run, a message that did not arrive) with «Перевести…», the contacts panel's move to
a node picked on the canvas. The row «Дублировать в Telegram-чат» sets the project's admin
chat (``engine.admin_chat``: every new notification is copied there by a bot) and shows
its last error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.backend import BackendError
from desktop.i18n import language, register
from desktop.panels import fill, person, selected_key, table, when

t = register(
    "notifications",
    {
        "all_kinds": ("Все виды", "All kinds"),
        "unresolved": ("Только нерешённые", "Unresolved only"),
        "resolve": ("Решено", "Resolve"),
        "open_contact": ("Открыть контакт", "Open contact"),
        "refresh": ("Обновить", "Refresh"),
        "when": ("Когда", "When"),
        "kind": ("Вид", "Kind"),
        "text": ("Текст", "Text"),
        "contact": ("Контакт", "Contact"),
        "resolved": ("Решено", "Resolved"),
        "pick": ("Выберите уведомление", "Choose a notification"),
        "no_contact": ("У уведомления нет контакта", "The notification has no contact"),
        "shown": ("Показано: {n}", "Shown: {n}"),
        "stuck": ("Застрявшие", "Stuck"),
        "stuck_tip": (
            "Контакты, которые сейчас застряли: таймер не сработал, робот остановился с "
            "ошибкой или сообщение не дошло",
            "Contacts stuck now: a timer did not fire, the robot failed or a message did "
            "not arrive",
        ),
        "move": ("Перевести…", "Move…"),
        "pick_stuck": ("Выберите застрявший контакт", "Choose a stuck contact"),
        "stuck_shown": ("Застряли: {n}", "Stuck: {n}"),
        "since": ("Застрял с", "Stuck since"),
        "late": ("опоздание {d}", "late by {d}"),
        "reason": ("Причина", "Reason"),
        "funnel": ("Робот", "Robot"),
        "node": ("Шаг", "Step"),
        "details": ("Подробности", "Details"),
        "chat_label": ("Дублировать в Telegram-чат:", "Copy to a Telegram chat:"),
        "chat_hint": (
            "id группы, канала или человека, напр. -1001234567890 (пусто — не дублировать)",
            "group, channel or person id, e.g. -1001234567890 (empty: do not copy)",
        ),
        "chat_tip": (
            "Каждое новое уведомление бот пришлёт в этот чат. Добавьте бота в группу "
            "(в канал — администратором). Узнать id группы: перешлите из неё сообщение "
            "боту @getidsbot.",
            "Every new notification is posted to this chat by the bot. Add the bot to the "
            "group (to a channel as an admin).",
        ),
        "main_bot": ("Главный бот", "Main bot"),
        "save": ("Сохранить", "Save"),
        "chat_off": ("Уведомления только в приложении", "Notifications stay in the app"),
        "chat_ok": (
            "✓ Пишет «{bot}» · отправлено: {sent} · в очереди: {pending}",
            "✓ Posted by “{bot}” · last sent: {sent} · waiting: {pending}",
        ),
        "chat_error": (
            "⚠ Не отправляется с {at}: {error}. Повтор {retry}",
            "⚠ Not sent since {at}: {error}. Retry {retry}",
        ),
        "retry_in": ("через {n} с", "in {n} s"),
        "retry_in_min": ("через {n} мин", "in {n} min"),
        "retry_soon": ("вот-вот", "soon"),
        "never": ("ещё нет", "not yet"),
        "chat_saved": ("Сохранено", "Saved"),
        "chat_cleared": ("Дублирование выключено", "Copying turned off"),
    },
)

REASONS: dict[str, tuple[str, str]] = {
    "timer_overdue": ("Таймер не сработал", "Timer overdue"),
    "run_failed": ("Ошибка в роботе", "Run failed"),
    "send_failed": ("Сообщение не дошло", "Message not delivered"),
}

KINDS: dict[str, tuple[str, str]] = {
    "lost_receipt": ("Потерянный чек", "Lost receipt"),
    "already_fired": ("Уже срабатывал", "Already fired"),
    "foreign_link_use": ("Чужая ссылка", "Someone else's link"),
    "send_error": ("Ошибка отправки", "Send error"),
    "stuck_contact": ("Застрявший контакт", "Stuck contact"),
    "admin_message": ("Сообщение админам", "Admin message"),
    "other": ("Другое", "Other"),
}


def kind_title(kind: str) -> str:
    pair = KINDS.get(kind)
    return (pair[0] if language() == "ru" else pair[1]) if pair else kind


def reason_title(reason: str) -> str:
    pair = REASONS.get(reason)
    return (pair[0] if language() == "ru" else pair[1]) if pair else reason


def parse_chat_id(text: str) -> int | None:
    """The chat id typed in the row (empty: stop copying); a clear error if malformed."""
    from engine.admin_chat import NotifyChatError, check_chat_id

    if not text.strip():
        return None
    try:
        return check_chat_id(text)
    except NotifyChatError as exc:
        raise BackendError(str(exc)) from exc


def _detail(stuck: dict[str, Any]) -> str:
    detail = str(stuck.get("detail") or "")
    if stuck.get("reason") == "timer_overdue" and detail:
        return t("late", d=detail)
    return detail


def _retry_text(retry_at: str | None) -> str:
    """When the copy to Telegram is tried again, relative to now."""
    if not retry_at:
        return t("retry_soon")
    try:
        seconds = (datetime.fromisoformat(retry_at) - datetime.now(UTC)).total_seconds()
    except ValueError:
        return retry_at
    if seconds <= 1:
        return t("retry_soon")
    if seconds < 120:
        return t("retry_in", n=int(seconds))
    return t("retry_in_min", n=round(seconds / 60))


class NotificationsPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.rows: list[dict[str, Any]] = []
        self.stuck: list[dict[str, Any]] = []
        self.notify_chat: dict[str, Any] | None = None
        self.unresolved = 0
        bar = QHBoxLayout()
        self.kind = QComboBox()
        self.kind.addItem(t("all_kinds"), None)
        for key in KINDS:
            self.kind.addItem(kind_title(key), key)
        self.kind.currentIndexChanged.connect(lambda _: self.host.run(self.refresh()))
        self.only_unresolved = QCheckBox(t("unresolved"))
        self.only_unresolved.setChecked(True)
        self.only_unresolved.toggled.connect(lambda _: self.host.run(self.refresh()))
        self.resolve_button = QPushButton(t("resolve"))
        self.resolve_button.clicked.connect(lambda: self.host.run(self.resolve()))
        self.open_button = QPushButton(t("open_contact"))
        self.open_button.clicked.connect(lambda: self.host.run(self.open_contact()))
        refresh = QPushButton(t("refresh"))
        refresh.clicked.connect(lambda: self.host.run(self.refresh()))
        self.stuck_button = QPushButton(t("stuck"))
        self.stuck_button.setCheckable(True)
        self.stuck_button.setToolTip(t("stuck_tip"))
        self.stuck_button.toggled.connect(self._stuck_mode)
        self.move_button = QPushButton(t("move"))
        self.move_button.clicked.connect(lambda: self.host.run(self.move_stuck()))
        self.move_button.setVisible(False)
        self.shown = QLabel()
        for w in (
            self.kind,
            self.only_unresolved,
            self.stuck_button,
            self.resolve_button,
            self.open_button,
            self.move_button,
            refresh,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.shown)
        self.table = table(["№", t("when"), t("kind"), t("contact"), t("text"), t("resolved")])
        self.table.doubleClicked.connect(lambda _: self.host.run(self.open_contact()))
        self.stuck_table = table(
            ["№", t("since"), t("reason"), t("contact"), t("funnel"), t("node"), t("details")]
        )
        self.stuck_table.doubleClicked.connect(lambda _: self.host.run(self.open_contact()))
        self.pages = QStackedWidget()
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.stuck_table)

        chat_row = QHBoxLayout()
        chat_row.addWidget(QLabel(t("chat_label")))
        self.chat_id = QLineEdit(placeholderText=t("chat_hint"))
        self.chat_id.setToolTip(t("chat_tip"))
        self.chat_id.setMinimumWidth(230)
        self.chat_id.setMaximumWidth(260)
        self.chat_bot = QComboBox()
        self.chat_bot.setMinimumWidth(170)
        self.chat_save = QPushButton(t("save"))
        self.chat_save.clicked.connect(lambda: self.host.run(self.save_notify_chat()))
        self.chat_status = QLabel()
        self.chat_status.setWordWrap(True)
        for w in (self.chat_id, self.chat_bot, self.chat_save):
            chat_row.addWidget(w)
        chat_row.addWidget(self.chat_status, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.pages)
        layout.addLayout(chat_row)
        self.timer = QTimer(self, interval=15000)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.window().isVisible():
            self.host.run(self.refresh_counter(), quiet=True)
        else:
            self.timer.stop()

    def _stuck_mode(self, on: bool) -> None:
        self.pages.setCurrentWidget(self.stuck_table if on else self.table)
        for w in (self.kind, self.only_unresolved, self.resolve_button):
            w.setEnabled(not on)
        self.move_button.setVisible(on)
        self.host.run(self.refresh())

    async def refresh(self) -> list[dict[str, Any]]:
        if not self.host.project:
            return []
        await self.refresh_notify_chat()
        if self.stuck_button.isChecked():
            return await self.refresh_stuck()
        resolved = False if self.only_unresolved.isChecked() else None
        self.rows = await self.host.backend.list_notifications(
            self.host.project, self.kind.currentData(), resolved
        )
        fill(
            self.table,
            [
                [
                    n["id"],
                    when(n["created_at"]),
                    kind_title(n["kind"]),
                    n.get("contact_id") or "",
                    n["text"],
                    f"{when(n['resolved_at'])} {n.get('resolved_by') or ''}".strip(),
                ]
                for n in self.rows
            ],
            [n["id"] for n in self.rows],
        )
        self.shown.setText(t("shown", n=len(self.rows)))
        await self.refresh_counter()
        return self.rows

    async def refresh_counter(self) -> int:
        """The unresolved count into the tab title «Уведомления (N)»."""
        if not self.host.project:
            return 0
        if not self.timer.isActive():
            self.timer.start()
        self.unresolved = await self.host.backend.unresolved_notifications(self.host.project)
        from desktop.main_window import t as main_t

        title = (
            main_t("tab_notifications_n", n=self.unresolved)
            if self.unresolved
            else main_t("tab_notifications")
        )
        if hasattr(self.host, "set_panel_title"):
            self.host.set_panel_title(self, title)
        return self.unresolved

    async def refresh_stuck(self) -> list[dict[str, Any]]:
        """The contacts stuck now into the «Застрявшие» table (longest stuck first)."""
        if not self.host.project:
            return []
        self.stuck = await self.host.backend.list_stuck(self.host.project)
        fill(
            self.stuck_table,
            [
                [
                    s["run_id"],
                    when(s["since"]),
                    reason_title(s["reason"]),
                    person(s),
                    s["funnel"],
                    s["node"],
                    _detail(s),
                ]
                for s in self.stuck
            ],
            [s["run_id"] for s in self.stuck],
        )
        self.shown.setText(t("stuck_shown", n=len(self.stuck)))
        await self.refresh_counter()
        return self.stuck

    def _selected_stuck(self) -> dict[str, Any] | None:
        key = selected_key(self.stuck_table)
        row = next((s for s in self.stuck if s["run_id"] == key), None)
        if row is None:
            self.host.show_error(t("pick_stuck"))
        return row

    async def move_stuck(self) -> bool:
        """Move the chosen stuck contact: its card opens with the run selected and the
        run's robot waits for a node to be picked on the canvas (as «Переместить на
        узел…» in the contacts panel). False if the pick did not start."""
        row = self._selected_stuck()
        if row is None:
            return False
        contacts = self.host.show_panel("contacts")
        await contacts.open_contact(int(row["contact_id"]))
        for r in range(contacts.runs.rowCount()):
            item = contacts.runs.item(r, 0)
            if item is not None and item.data(0x0100) == row["run_id"]:
                contacts.runs.selectRow(r)
                break
        return bool(await contacts.pick_node_for_run())

    # --- the Telegram admin chat ----------------------------------------------------------

    async def refresh_notify_chat(self) -> dict[str, Any] | None:
        project = self.host.project
        backend = self.host.backend
        bots = [c for c in await backend.list_channels(project) if c.get("kind") == "bot"]
        self.notify_chat = await backend.get_notify_chat(project)
        chat = self.notify_chat or {}
        self.chat_bot.blockSignals(True)
        self.chat_bot.clear()
        self.chat_bot.addItem(t("main_bot"), None)
        for bot in bots:
            self.chat_bot.addItem(bot["name"], bot["id"])
        index = self.chat_bot.findData(chat.get("bot_id")) if chat.get("bot_id") else 0
        self.chat_bot.setCurrentIndex(max(0, index))
        self.chat_bot.blockSignals(False)
        self.chat_id.setText(str(chat["chat_id"]) if chat else "")
        self._show_chat_status()
        return self.notify_chat

    def _show_chat_status(self) -> None:
        chat = self.notify_chat
        if not chat:
            self.chat_status.setText(t("chat_off"))
            self.chat_status.setStyleSheet("color: #666;")
        elif chat.get("error"):
            retry = _retry_text(chat.get("retry_at"))
            self.chat_status.setText(
                t("chat_error", at=when(chat.get("error_at")), error=chat["error"], retry=retry)
            )
            self.chat_status.setStyleSheet("color: #b3261e;")
        else:
            self.chat_status.setText(
                t(
                    "chat_ok",
                    bot=chat.get("bot") or "—",
                    sent=when(chat.get("last_sent_at")) or t("never"),
                    pending=chat.get("pending", 0),
                )
            )
            self.chat_status.setStyleSheet("color: #1e7b34;")

    async def save_notify_chat(self) -> dict[str, Any] | None:
        """Store the chat id and bot of the row (an empty id turns copying off)."""
        project = self.host.project
        if not project:
            return None
        self.notify_chat = await self.host.backend.set_notify_chat(
            project, parse_chat_id(self.chat_id.text()), self.chat_bot.currentData()
        )
        self._show_chat_status()
        self.host.statusBar().showMessage(
            t("chat_saved") if self.notify_chat else t("chat_cleared"), 5000
        )
        return self.notify_chat

    def _selected(self) -> dict[str, Any] | None:
        if self.stuck_button.isChecked():
            stuck = self._selected_stuck()
            return None if stuck is None else {**stuck, "id": stuck["run_id"]}
        key = selected_key(self.table)
        row = next((n for n in self.rows if n["id"] == key), None)
        if row is None:
            self.host.show_error(t("pick"))
        return row

    async def resolve(self) -> None:
        row = self._selected()
        if row is None:
            return
        await self.host.backend.resolve_notification(self.host.project, row["id"], "desktop")
        await self.refresh()

    async def open_contact(self) -> None:
        row = self._selected()
        if row is None:
            return
        if not row.get("contact_id"):
            self.host.show_error(t("no_contact"))
            return
        contacts = self.host.show_panel("contacts")
        await contacts.open_contact(int(row["contact_id"]))
