"""The chat simulator dock: play a contact or a manager against a sandbox copy of the robot.

:class:`SimulatorPanel` builds an :class:`engine.sandbox.Sandbox` from what the main
window has open — the editor's current document (unsaved edits included) plus the
project's other published robots, tags, products and channels, all fetched through the
window's backend, so it works the same with the embedded engine and a remote server —
and never writes to the real project. While it runs, the editor's badges show the
sandbox's counts (``MainWindow.refresh_counts`` skips the real ones) and the node the
test contact stands on is selected. Every engine call runs as a task on the window's
event loop (``MainWindow.run``), one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from connectors.simulator import SimulatorError
from desktop.i18n import language, register, weekday_label
from desktop.simulator.chat import ChatView, date_label
from engine.sandbox import DEFAULT_TIMEZONE, ChatInfo, ContactState, Sandbox, SandboxSpec
from graph.document import FunnelDocument

_STRINGS: dict[str, tuple[str, str]] = {
    "action": ("Симулятор чата", "Chat simulator"),
    "action_tip": (
        "Проверить робота без Telegram: песочница, реальные контакты не затрагиваются",
        "Test the robot without Telegram: a sandbox, real contacts are untouched",
    ),
    "title": ("Симулятор чата", "Chat simulator"),
    "sandbox": (
        "Песочница: «{robot}» (текущий черновик) и опубликованные роботы проекта. "
        "Реальные контакты не затрагиваются.",
        "Sandbox: “{robot}” (the current draft) and the project's published robots. "
        "Real contacts are untouched.",
    ),
    "no_robot": ("Откройте робота, чтобы его проверить.", "Open a robot to test it."),
    "starting": ("Запуск песочницы…", "Starting the sandbox…"),
    "i_am": ("Я —", "I am"),
    "contact": ("контакт", "the contact"),
    "manager": ("менеджер", "the manager"),
    "chat_with": ("Чат:", "Chat:"),
    "bot": ("Бот «{name}»", "Bot “{name}”"),
    "account": ("Аккаунт менеджера «{name}»", "Manager account “{name}”"),
    "placeholder_contact": ("Сообщение от контакта…", "A message from the contact…"),
    "placeholder_manager": (
        "Сообщение менеджера контакту (например, кодовая фраза)…",
        "The manager's message to the contact (e.g. the code phrase)…",
    ),
    "send": ("Отправить", "Send"),
    "start": ("/start", "/start"),
    "time": ("Время в песочнице: {when}", "Sandbox time: {when}"),
    "jump": ("Перемотать:", "Jump:"),
    "plus_minute": ("+1 мин", "+1 min"),
    "plus_hour": ("+1 ч", "+1 h"),
    "plus_day": ("+1 день", "+1 day"),
    "unit_minutes": ("мин", "min"),
    "unit_hours": ("ч", "h"),
    "unit_days": ("дн.", "days"),
    "go": ("Вперёд", "Go"),
    "jumped": ("Перемотка +{delta} → {when}", "Jumped +{delta} → {when}"),
    "reset": ("Сначала", "Start over"),
    "reset_tip": (
        "Новая песочница с текущим черновиком робота",
        "A new sandbox with the robot's current draft",
    ),
    "close": ("Закрыть", "Close"),
    "step": ("Шаг в этом роботе: {steps}", "Step in this robot: {steps}"),
    "no_step": ("Контакт не в этом роботе", "The contact is not in this robot"),
    "tags": ("Теги: {tags}", "Tags: {tags}"),
    "no_tags": ("нет", "none"),
    "other_robot": (
        "Открыт другой робот — нажмите «Сначала», чтобы проверить его.",
        "Another robot is open — press “Start over” to test it.",
    ),
    "failed": ("Песочница не запустилась: {error}", "The sandbox did not start: {error}"),
    "web_link": ("Открылась бы страница {url}", "Would open the page {url}"),
    "link_opened": ("Переход по ссылке в {bot}", "Followed the link to {bot}"),
}

t = register("simulator", _STRINGS)


def _format_delta(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {t('unit_days')}")
    if hours:
        parts.append(f"{hours} {t('unit_hours')}")
    if mins or not parts:
        parts.append(f"{mins} {t('unit_minutes')}")
    return " ".join(parts)


class SimulatorPanel(QWidget):
    """The simulator's widget; ``main`` is the :class:`desktop.main_window.MainWindow`."""

    def __init__(self, window: Any, start_time: datetime | None = None) -> None:
        super().__init__()
        self.main = window
        self.start_time = start_time
        """Where the virtual clock starts (None: now); tests pin it."""
        self.sandbox: Sandbox | None = None
        self.funnel_id: int | None = None
        self.project: str | None = None
        self.chat_key: str | None = None
        self.state: ContactState | None = None
        self.notes: list[tuple[datetime, str]] = []
        self._lock = asyncio.Lock()
        self._followed: str | None = None
        self._build()
        self._set_enabled(False)

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.info = QLabel(t("no_robot"))
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #5b6b78; font-size: 11px;")
        layout.addWidget(self.info)

        who = QHBoxLayout()
        who.addWidget(QLabel(t("i_am")))
        self.as_contact = QToolButton(text=t("contact"), checkable=True, checked=True)
        self.as_manager = QToolButton(text=t("manager"), checkable=True)
        group = QButtonGroup(self)
        group.setExclusive(True)
        for button in (self.as_contact, self.as_manager):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setMinimumWidth(90)
            group.addButton(button)
            who.addWidget(button)
        self.as_contact.toggled.connect(lambda _: self._role_changed())
        who.addStretch(1)
        layout.addLayout(who)

        chat_row = QHBoxLayout()
        chat_row.addWidget(QLabel(t("chat_with")))
        self.chat_combo = QComboBox()
        self.chat_combo.currentIndexChanged.connect(lambda _: self._chat_changed())
        chat_row.addWidget(self.chat_combo, 1)
        layout.addLayout(chat_row)

        self.chat = ChatView()
        self.chat.buttonPressed.connect(lambda value: self.main.run(self.press(value)))
        self.chat.linkClicked.connect(lambda url: self.main.run(self.open_link(url)))
        layout.addWidget(self.chat, 1)

        self.keyboard = QWidget()
        self.keyboard_grid = QGridLayout(self.keyboard)
        self.keyboard_grid.setContentsMargins(0, 0, 0, 0)
        self.keyboard_grid.setSpacing(3)
        self.keyboard_buttons: list[QPushButton] = []
        layout.addWidget(self.keyboard)

        entry = QHBoxLayout()
        self.start_button = QPushButton(t("start"))
        self.start_button.clicked.connect(lambda: self.main.run(self.send_start()))
        entry.addWidget(self.start_button)
        self.input = QLineEdit()
        self.input.returnPressed.connect(self._send_typed)
        entry.addWidget(self.input, 1)
        self.send_button = QPushButton(t("send"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._send_typed)
        entry.addWidget(self.send_button)
        layout.addLayout(entry)

        self.time_label = QLabel()
        self.time_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.time_label)
        jump = QHBoxLayout()
        jump.addWidget(QLabel(t("jump")))
        self.jump_buttons: dict[str, QPushButton] = {}
        for key, delta in (
            ("plus_minute", timedelta(minutes=1)),
            ("plus_hour", timedelta(hours=1)),
            ("plus_day", timedelta(days=1)),
        ):
            jump_button = QPushButton(t(key))
            jump_button.clicked.connect(lambda _=False, d=delta: self.main.run(self.advance(d)))
            self.jump_buttons[key] = jump_button
            jump.addWidget(jump_button)
        self.jump_amount = QSpinBox(minimum=1, maximum=999, value=2)
        self.jump_unit = QComboBox()
        for key, unit in (("unit_minutes", 1), ("unit_hours", 60), ("unit_days", 24 * 60)):
            self.jump_unit.addItem(t(key), unit)
        self.jump_unit.setCurrentIndex(1)
        self.jump_go = QPushButton(t("go"))
        self.jump_go.clicked.connect(lambda: self.main.run(self.advance(self.custom_delta())))
        jump.addStretch(1)
        jump.addWidget(self.jump_amount)
        jump.addWidget(self.jump_unit)
        jump.addWidget(self.jump_go)
        layout.addLayout(jump)

        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setStyleSheet(
            "background: #f3f6f8; border: 1px solid #dde3e8; border-radius: 6px; padding: 6px;"
        )
        layout.addWidget(self.state_label)

        bottom = QHBoxLayout()
        self.reset_button = QPushButton("↺ " + t("reset"))
        self.reset_button.setToolTip(t("reset_tip"))
        self.reset_button.clicked.connect(lambda: self.main.run(self.start()))
        bottom.addWidget(self.reset_button)
        bottom.addStretch(1)
        layout.addLayout(bottom)
        self._role_changed()

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (
            self.as_contact, self.as_manager, self.chat_combo, self.input, self.send_button,
            self.start_button, self.jump_amount, self.jump_unit, self.jump_go, self.keyboard,
            *self.jump_buttons.values(),
        ):  # fmt: skip
            widget.setEnabled(enabled)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the sandbox runs for the robot open in the editor (badges are ours)."""
        draft = getattr(self.main, "draft", None)
        return (
            self.sandbox is not None
            and draft is not None
            and draft.id == self.funnel_id
            and self.main.project == self.project
        )

    async def start(self) -> None:
        """(Re)build the sandbox from the robot open now; the old one is thrown away."""
        window = self.main
        async with self._lock:
            await self._close_sandbox()
            if window.draft is None or window.project is None:
                self.info.setText(t("no_robot"))
                self._set_enabled(False)
                return
            self.info.setText(t("starting"))
            doc = self._document()
            try:
                spec = await self._spec(window.project, window.draft.id, doc)
                self.sandbox = await Sandbox.create(spec, self.start_time)
            except Exception as exc:
                self.info.setText(t("failed", error=str(exc)))
                self._set_enabled(False)
                raise
            self.funnel_id = window.draft.id
            self.project = window.project
            self.notes = []
            self._followed = None
            self.info.setText(t("sandbox", robot=doc.name))
            self._fill_chats(self._default_chat(doc))
            self._set_enabled(True)
            await self._refresh()

    async def stop(self) -> None:
        """Close the sandbox and give the badges back to the real project."""
        async with self._lock:
            await self._close_sandbox()
            self._set_enabled(False)
        editor = self.main.editor
        if hasattr(editor, "set_counts"):
            editor.set_counts({})
        await self.main.refresh_counts()

    def discard(self) -> None:
        """The window is closing: close the sandbox on the loop if it still runs, and
        remove its files now in any case (nothing in them is worth keeping)."""
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            self.main.run(sandbox.close(), quiet=True)
            sandbox.discard_files()

    async def _close_sandbox(self) -> None:
        sandbox, self.sandbox = self.sandbox, None
        self.funnel_id = None
        self.state = None
        if sandbox is not None:
            await sandbox.close()

    def _document(self) -> FunnelDocument:
        editor = self.main.editor
        if hasattr(editor, "document"):
            return editor.document()  # type: ignore[no-any-return]
        return self.main.draft.document  # type: ignore[no-any-return]

    async def _spec(self, project: str, funnel_id: int, doc: FunnelDocument) -> SandboxSpec:
        backend = self.main.backend
        catalog = await backend.catalog(project)
        bots: list[dict[str, Any]] = []
        if hasattr(backend, "list_bots"):
            with contextlib.suppress(Exception):  # usernames only make links look real
                bots = await backend.list_bots(project)
        others = []
        for funnel in await backend.list_funnels(project):
            if funnel.id != funnel_id and funnel.published_version:
                others.append(
                    await backend.version_document(project, funnel.id, funnel.published_version)
                )
        info = getattr(self.main, "projects", {}).get(project)
        timezone = getattr(info, "timezone", None) or DEFAULT_TIMEZONE
        return SandboxSpec.from_catalog(doc, catalog, others=others, bots=bots, timezone=timezone)

    @staticmethod
    def _default_chat(doc: FunnelDocument) -> str | None:
        """The bot the robot starts in (its first trigger naming a bot role)."""
        for node in sorted(doc.nodes, key=lambda n: (n.ui.x, n.ui.y)):
            role = node.props.get("bot_role") if node.type.startswith("trigger.") else None
            if role:
                return str(role)
        return None

    # --- chats and roles --------------------------------------------------------------------

    @property
    def is_manager(self) -> bool:
        return self.as_manager.isChecked()

    def chats(self) -> list[ChatInfo]:
        if self.sandbox is None:
            return []
        chats = self.sandbox.chats()
        return [c for c in chats if not c.is_bot] if self.is_manager else chats

    def _fill_chats(self, role: str | None = None, key: str | None = None) -> None:
        chats = self.chats()
        wanted = key or self.chat_key
        if role is not None and self.sandbox is not None:
            found = self.sandbox.chat_for_role(role)
            wanted = found.key if found is not None else wanted
        self.chat_combo.blockSignals(True)
        self.chat_combo.clear()
        for chat in chats:
            label = t("bot", name=chat.name) if chat.is_bot else t("account", name=chat.name)
            self.chat_combo.addItem(label, chat.key)
        index = max(0, self.chat_combo.findData(wanted)) if chats else -1
        self.chat_combo.setCurrentIndex(index)
        self.chat_combo.blockSignals(False)
        self.chat_key = self.chat_combo.currentData()

    def select_chat(self, name_or_role: str) -> None:
        """Show the chat with the channel of this name, username or bot role."""
        for i in range(self.chat_combo.count()):
            key = self.chat_combo.itemData(i)
            chat = next(c for c in self.chats() if c.key == key)
            if name_or_role in (chat.name, chat.username, chat.role, key):
                self.chat_combo.setCurrentIndex(i)
                return
        raise LookupError(f"no chat {name_or_role!r}")

    def set_manager(self, manager: bool) -> None:
        (self.as_manager if manager else self.as_contact).setChecked(True)

    def _role_changed(self) -> None:
        manager = self.is_manager
        self.input.setPlaceholderText(
            t("placeholder_manager" if manager else "placeholder_contact")
        )
        if self.sandbox is not None:
            self._fill_chats()
            self._show()

    def _chat_changed(self) -> None:
        self.chat_key = self.chat_combo.currentData()
        self._show()

    def current_chat(self) -> ChatInfo | None:
        return next((c for c in self.chats() if c.key == self.chat_key), None)

    # --- actions ----------------------------------------------------------------------------

    def _send_typed(self) -> None:
        text = self.input.text().strip()
        if text:
            self.input.clear()
            self.main.run(self.send(text))

    async def send(self, text: str) -> None:
        """Type ``text`` into the current chat as the contact or the manager."""
        chat = self._need_chat()
        async with self._lock:
            assert self.sandbox is not None
            if self.is_manager:
                await self.sandbox.manager_says(chat.key, text)
            elif chat.is_bot and text.split(maxsplit=1)[0] == "/start":
                payload = text.split(maxsplit=1)[1] if " " in text else None
                await self.sandbox.contact_starts(chat.key, payload)
            else:
                await self.sandbox.contact_says(chat.key, text)
            await self._refresh()

    async def send_start(self) -> None:
        await self.send("/start")

    async def press(self, value: str) -> None:
        """Press an inline button (callback data), a URL button or a keyboard button."""
        if value.startswith(("http://", "https://")):
            await self.open_link(value)
            return
        chat = self._need_chat()
        async with self._lock:
            assert self.sandbox is not None
            await self.sandbox.press(chat.key, value)
            await self._refresh()

    async def open_link(self, url: str) -> None:
        """A t.me bot link opens that bot's chat with /start; other links are only named."""
        if self.sandbox is None:
            return
        host = url.split("://", 1)[-1].split("/", 1)[0]
        if host not in ("t.me", "telegram.me"):
            self.main.statusBar().showMessage(t("web_link", url=url), 5000)
            return
        async with self._lock:
            key = await self.sandbox.open_link(url)
            self.set_manager(False)
            self._fill_chats(key=key)
            chat = self.current_chat()
            self.main.statusBar().showMessage(
                t("link_opened", bot=chat.name if chat else url), 4000
            )
            await self._refresh()

    def custom_delta(self) -> timedelta:
        return timedelta(minutes=self.jump_amount.value() * int(self.jump_unit.currentData()))

    async def advance(self, delta: timedelta) -> None:
        """Jump the virtual clock; timers due meanwhile fire, each at its own moment."""
        if self.sandbox is None:
            return
        async with self._lock:
            before = self.sandbox.now()
            await self.sandbox.advance(delta)
            # Stamped with the time it was made, so it comes before what the jump fired.
            text = t("jumped", delta=_format_delta(delta), when=self._when(self.sandbox.now()))
            self.notes.append((before, text))
            await self._refresh()

    def _need_chat(self) -> ChatInfo:
        chat = self.current_chat()
        if self.sandbox is None or chat is None:
            raise SimulatorError(t("no_robot"))
        return chat

    # --- showing ----------------------------------------------------------------------------

    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.sandbox.spec.timezone if self.sandbox else DEFAULT_TIMEZONE)

    def _when(self, moment: datetime) -> str:
        local = moment.astimezone(self._tz())
        day = weekday_label(local.weekday()) if language() == "ru" else local.strftime("%a")
        return f"{day}, {date_label(local)}, {local:%H:%M}"

    async def _refresh(self) -> None:
        """Read the sandbox: chat, keyboard, time, the contact's state, the badges."""
        if self.sandbox is None:
            return
        self.state = await self.sandbox.contact_state()
        self._show()
        await self.show_badges()

    async def show_badges(self) -> None:
        """The sandbox's counts on the canvas, the test contact's node selected."""
        editor = self.main.editor
        if self.sandbox is None or not self.active or not hasattr(editor, "set_counts"):
            if self.sandbox is not None and not self.active:
                self.info.setText(t("other_robot"))
            return
        editor.set_counts(await self.sandbox.node_counts())
        nodes = self.state.focus_nodes if self.state else []
        if nodes and nodes[-1] != self._followed and hasattr(editor, "select_node"):
            editor.select_node(nodes[-1], center=True)
        self._followed = nodes[-1] if nodes else None

    def _show(self) -> None:
        sandbox = self.sandbox
        chat = self.current_chat()
        if sandbox is None or chat is None:
            return
        items: list[Any] = [*sandbox.transcript(chat.key), *self.notes]
        items.sort(key=lambda i: i.at if not isinstance(i, tuple) else i[0])
        self.chat.show_items(chat.key, items, self._tz())
        self._show_keyboard(sandbox.reply_keyboard(chat.key) if not self.is_manager else [])
        self.start_button.setVisible(chat.is_bot and not self.is_manager)
        self.time_label.setText(t("time", when=self._when(sandbox.now())))
        state = self.state
        if state is None:
            return
        steps = self._focus_titles(state)
        lines = [t("step", steps=", ".join(f"«{s}»" for s in steps)) if steps else t("no_step")]
        lines.append(t("tags", tags=", ".join(state.tags) if state.tags else t("no_tags")))
        self.state_label.setText("\n".join(lines))

    def _focus_titles(self, state: ContactState) -> list[str]:
        editor = self.main.editor
        titles = []
        for node_id in state.focus_nodes:
            node = editor.node(node_id) if hasattr(editor, "node") else None
            titles.append(node.display_title() if node is not None else node_id[:8])
        return titles

    def _show_keyboard(self, rows: list[list[str]]) -> None:
        for button in self.keyboard_buttons:
            self.keyboard_grid.removeWidget(button)
            button.deleteLater()
        self.keyboard_buttons = []
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                button = QPushButton(text)
                button.setStyleSheet(
                    "QPushButton { background: #ffffff; border: 1px solid #c9d3da;"
                    " border-radius: 6px; padding: 7px; }"
                    "QPushButton:hover { background: #eef3f6; }"
                )
                button.clicked.connect(lambda _=False, v=text: self.main.run(self.press(v)))
                self.keyboard_grid.addWidget(button, r, c)
                self.keyboard_buttons.append(button)
        self.keyboard.setVisible(bool(rows))

    def keyboard_texts(self) -> list[str]:
        return [b.text() for b in self.keyboard_buttons]


class SimulatorDock(QDockWidget):
    """The simulator docked right of the editor, toggled by :attr:`toggle_action`."""

    def __init__(self, window: Any) -> None:
        super().__init__(t("title"), window)
        self.main = window
        self.setObjectName("simulator")
        self.panel = SimulatorPanel(window)
        self.setWidget(self.panel)
        self.setMinimumWidth(400)
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.hide()
        self.toggle_action = QAction(t("action"), window, checkable=True)
        self.toggle_action.setToolTip(t("action_tip"))
        self.toggle_action.toggled.connect(self._toggled)
        self.visibilityChanged.connect(self._visibility)
        window.closed.connect(self.panel.discard)

    @property
    def active(self) -> bool:
        return self.isVisible() and self.panel.active

    def open(self) -> SimulatorPanel:
        """Show the simulator and (re)start its sandbox on the open robot."""
        self.toggle_action.setChecked(True)
        return self.panel

    def _toggled(self, on: bool) -> None:
        if on:
            if not self.isVisible():
                self.show()
            tabs = getattr(self.main, "tabs", None)
            if tabs is not None:
                tabs.setCurrentWidget(self.main.editor)
            self.main.run(self.panel.start())
        else:
            if self.isVisible():
                self.hide()
            if self.panel.sandbox is not None:
                self.main.run(self.panel.stop())

    def _visibility(self, visible: bool) -> None:
        if not visible and self.toggle_action.isChecked() and not self.main.isHidden():
            self.toggle_action.setChecked(False)
