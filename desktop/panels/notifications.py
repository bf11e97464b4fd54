"""Notifications (R9): what staff must look at — lost receipts, send errors, stuck
contacts, "notify admins" nodes. Unresolved count on the tab, filters, resolve, and a jump
to the contact's card."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import language, register
from desktop.panels import fill, selected_key, table, when

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
    },
)

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


class NotificationsPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.rows: list[dict[str, Any]] = []
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
        self.shown = QLabel()
        for w in (self.kind, self.only_unresolved, self.resolve_button, self.open_button, refresh):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.shown)
        self.table = table(["№", t("when"), t("kind"), t("contact"), t("text"), t("resolved")])
        self.table.doubleClicked.connect(lambda _: self.host.run(self.open_contact()))
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.timer = QTimer(self, interval=15000)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.window().isVisible():
            self.host.run(self.refresh_counter(), quiet=True)
        else:
            self.timer.stop()

    async def refresh(self) -> list[dict[str, Any]]:
        if not self.host.project:
            return []
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

    def _selected(self) -> dict[str, Any] | None:
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
