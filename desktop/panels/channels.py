"""Channels: the project's bots and manager accounts, its settings and its tags.

Staff add a bot by its token, connect a manager account (login wizard), switch channels
on and off, rename them, change a bot's role, log a manager account out and delete
channels without the CLI; the project's time zone, the R15 switch (tags shown to managers
in Telegram) and the tags' colour / manager label / key-stage flag are edited here too.
Everything goes through the backend (embedded service or HTTP API).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QCompleter,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.backend import MANAGER_LABEL_MAX
from desktop.i18n import register
from desktop.panels import cells, selected_key, table
from desktop.panels.channel_dialogs import ROLES, AddBotDialog, ManagerLoginWizard, role_title

t = register(
    "channels",
    {
        "add_bot": ("Добавить бота", "Add a bot"),
        "add_manager": ("Подключить аккаунт менеджера", "Connect a manager account"),
        "toggle_on": ("Включить", "Enable"),
        "toggle_off": ("Выключить", "Disable"),
        "rename": ("Переименовать", "Rename"),
        "change_role": ("Сменить роль", "Change role"),
        "make_main": ("Сделать главным", "Make main"),
        "logout": ("Выйти из аккаунта", "Log out"),
        "relogin": ("Войти заново", "Log in again"),
        "delete": ("Удалить", "Delete"),
        "refresh": ("Обновить", "Refresh"),
        "name": ("Название", "Name"),
        "kind": ("Вид", "Kind"),
        "role": ("Роль", "Role"),
        "username": ("Username", "Username"),
        "enabled": ("Включён", "Enabled"),
        "status": ("Состояние", "Status"),
        "main": ("Главный", "Main"),
        "bot": ("бот", "bot"),
        "manager_account": ("аккаунт менеджера", "manager account"),
        "yes": ("да", "yes"),
        "no": ("нет", "no"),
        "working": ("работает", "working"),
        "needs_login": ("нужен вход", "login needed"),
        "no_token": ("нет токена", "no token"),
        "no_session": ("нет сессии", "no session"),
        "pick": ("Выберите канал в таблице", "Choose a channel in the table"),
        "rename_prompt": ("Новое название канала:", "New name of the channel:"),
        "role_prompt": ("Роль бота «{name}»:", "Role of the bot “{name}”:"),
        "not_manager": (
            "«{name}» — бот; выйти можно только из аккаунта менеджера",
            "“{name}” is a bot: only a manager account can be logged out",
        ),
        "not_bot": (
            "Роль бывает только у бота, «{name}» — аккаунт менеджера",
            "Only bots have a role: “{name}” is a manager account",
        ),
        "logout_question": (
            "Выйти из аккаунта «{name}»? Сессия будет завершена в Telegram; чтобы аккаунт "
            "снова работал, его нужно будет подключить заново.",
            "Log out of “{name}”? The session ends at Telegram; to use the account again it "
            "must be connected anew.",
        ),
        "delete_question": (
            "Удалить {kind} «{name}» из проекта? Его токен или сессия будут стёрты; "
            "история контактов сохранится.",
            "Delete the {kind} “{name}” from the project? Its token or session is erased; "
            "the contacts' history stays.",
        ),
        "logged_out": ("Вышли из аккаунта «{name}»", "Logged out of “{name}”"),
        "deleted": ("«{name}» удалён", "“{name}” deleted"),
        "channels": ("Боты и аккаунты менеджеров", "Bots and manager accounts"),
        "settings": ("Настройки проекта", "Project settings"),
        "timezone": ("Часовой пояс:", "Time zone:"),
        "timezone_hint": (
            "Начните вводить город, например «Moscow»",
            "Start typing a city, e.g. “Moscow”",
        ),
        "labels": (
            "Показывать теги менеджерам в Telegram (R15)",
            "Show tags to managers in Telegram (R15)",
        ),
        "labels_hint": (
            "Подписи тегов добавляются к имени контакта в Telegram менеджера.",
            "Tag labels are added to the contact's name in the manager's Telegram.",
        ),
        "saved": ("Сохранено", "Saved"),
        "unknown_zone": (
            "Нет часового пояса «{zone}» — выберите из списка",
            "No time zone “{zone}”: pick one from the list",
        ),
        "tags": ("Теги", "Tags"),
        "tag": ("Тег", "Tag"),
        "colour": ("Цвет", "Colour"),
        "label": ("Подпись для менеджера", "Label for managers"),
        "key": ("Ключевой этап", "Key stage"),
        "new_tag": ("Новый тег", "New tag"),
        "new_tag_prompt": ("Название тега:", "Tag name:"),
        "pick_colour": ("Цвет…", "Colour…"),
        "edit_label": ("Подпись…", "Label…"),
        "toggle_key": ("Ключевой этап вкл/выкл", "Toggle key stage"),
        "label_prompt": (
            "Подпись тега «{name}» для менеджеров (эмодзи или короткий текст, до {n} "
            "символов; пусто — без подписи):",
            "Label of “{name}” for managers (an emoji or short text, up to {n} characters; "
            "empty: none):",
        ),
        "label_too_long": (
            "Подпись длиннее {n} символов: «{label}»",
            "The label is longer than {n} characters: “{label}”",
        ),
        "pick_tag": ("Выберите тег в таблице", "Choose a tag in the table"),
    },
)

CHANNEL_COLUMNS = ("name", "kind", "role", "username", "enabled", "status", "main")


@cache
def zone_names() -> tuple[str, ...]:
    from zoneinfo import available_timezones

    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def channel_status(channel: dict[str, Any]) -> tuple[str, str]:
    """(«работает» / «нужен вход: причина» / «нет токена», a colour for it)."""
    if channel.get("kind") == "bot" and not channel.get("has_credentials"):
        return t("no_token"), "#b3261e"
    if channel.get("needs_login"):
        reason = channel.get("login_required_reason")
        if not reason and not channel.get("has_credentials"):
            reason = t("no_session")
        text = t("needs_login") + (f": {reason}" if reason else "")
        return text, "#b3261e"
    return t("working"), "#1e7b34"


def _stretch(widget: QTableWidget, column: int) -> None:
    """Let ``column`` take the spare width (not the last one, a narrow flag)."""
    header = widget.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)


def _swatch(colour: str | None) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(colour) if colour else QColor(0, 0, 0, 0))
    return QIcon(pixmap)


class ChannelsPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.channels: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = {}
        self.dialog: AddBotDialog | ManagerLoginWizard | None = None

        bar = QHBoxLayout()
        self.add_bot_button = QPushButton(t("add_bot"))
        self.add_bot_button.clicked.connect(self.open_add_bot)
        self.add_manager_button = QPushButton(t("add_manager"))
        self.add_manager_button.clicked.connect(self.open_manager_login)
        bar.addWidget(self.add_bot_button)
        bar.addWidget(self.add_manager_button)
        bar.addSpacing(16)
        self.toggle_button = QPushButton(t("toggle_off"))
        self.toggle_button.clicked.connect(lambda: self.host.run(self.toggle_enabled()))
        actions: list[tuple[str, Any]] = [
            ("rename", self.rename),
            ("change_role", self.change_role),
            ("make_main", self.make_main),
            ("relogin", self.relogin),
            ("logout", self.logout),
            ("delete", self.delete),
        ]
        bar.addWidget(self.toggle_button)
        self.action_buttons: dict[str, QPushButton] = {"toggle": self.toggle_button}
        for key, handler in actions:
            button = QPushButton(t(key))
            button.clicked.connect(lambda _=False, h=handler: self.host.run(h()))
            self.action_buttons[key] = button
            bar.addWidget(button)
        bar.addStretch(1)
        refresh = QPushButton(t("refresh"))
        refresh.clicked.connect(lambda: self.host.run(self.refresh()))
        bar.addWidget(refresh)

        self.table = table([t(c) for c in CHANNEL_COLUMNS])
        _stretch(self.table, CHANNEL_COLUMNS.index("status"))
        self.table.itemSelectionChanged.connect(self._update_actions)
        self.table.doubleClicked.connect(lambda _: self.host.run(self.rename()))
        channels_box = QGroupBox(t("channels"))
        channels_layout = QVBoxLayout(channels_box)
        channels_layout.addLayout(bar)
        channels_layout.addWidget(self.table)

        settings_box = QGroupBox(t("settings"))
        form = QFormLayout(settings_box)
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(list(zone_names()))
        self.timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        zone_edit = self.timezone.lineEdit()
        assert zone_edit is not None  # an editable combo has one
        zone_edit.setPlaceholderText(t("timezone_hint"))
        self.timezone.setMinimumWidth(240)
        completer = QCompleter(list(zone_names()), self.timezone)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.timezone.setCompleter(completer)
        self.timezone.activated.connect(lambda _: self._timezone_chosen())
        completer.activated.connect(lambda _: self._timezone_chosen())
        zone_edit.editingFinished.connect(self._timezone_chosen)
        form.addRow(t("timezone"), self.timezone)
        self.labels = QCheckBox(t("labels"))
        self.labels.toggled.connect(lambda on: self.host.run(self.set_manager_labels(on)))
        form.addRow(self.labels)
        hint = QLabel(t("labels_hint"))
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666;")
        form.addRow(hint)
        self.settings_state = QLabel()
        self.settings_state.setStyleSheet("color: #666;")
        form.addRow(self.settings_state)

        tags_box = QGroupBox(t("tags"))
        tags_layout = QVBoxLayout(tags_box)
        tag_bar = QHBoxLayout()
        for key, handler in (
            ("new_tag", self.new_tag),
            ("pick_colour", self.edit_colour),
            ("edit_label", self.edit_label),
            ("toggle_key", self.toggle_key),
        ):
            button = QPushButton(t(key))
            button.clicked.connect(lambda _=False, h=handler: self.host.run(h()))
            tag_bar.addWidget(button)
        tag_bar.addStretch(1)
        tags_layout.addLayout(tag_bar)
        self.tag_table = table([t("tag"), t("colour"), t("label"), t("key")])
        self.tag_table.setIconSize(QSize(14, 14))
        _stretch(self.tag_table, 2)
        self.tag_table.doubleClicked.connect(self._tag_double_clicked)
        tags_layout.addWidget(self.tag_table)

        bottom = QSplitter()
        bottom.addWidget(settings_box)
        bottom.addWidget(tags_box)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 3)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(channels_box)
        split.addWidget(bottom)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self._update_actions()

    # --- loading --------------------------------------------------------------------------

    async def refresh(self) -> list[dict[str, Any]]:
        if not self.host.project:
            return []
        backend, project = self.host.backend, self.host.project
        self.channels = await backend.list_channels(project)
        self._fill_channels()
        self.settings = await backend.get_project_settings(project)
        self._show_settings()
        self.tags = await backend.list_tags(project)
        self._fill_tags()
        return self.channels

    def _fill_channels(self) -> None:
        selected = self.selected_id()
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.channels))
        for r, c in enumerate(self.channels):
            status, colour = channel_status(c)
            values = [
                c["name"],
                t(c["kind"]) if c["kind"] in ("bot", "manager_account") else c["kind"],
                role_title(c.get("role")) if c["kind"] == "bot" else "—",
                f"@{c['username']}" if c.get("username") else "",
                t("yes") if c.get("enabled") else t("no"),
                status,
                "★" if c.get("is_main") else "",
            ]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, c["id"])
                if CHANNEL_COLUMNS[col] == "status":
                    item.setForeground(QBrush(QColor(colour)))
                    item.setToolTip(status)
                if not c.get("enabled"):
                    item.setForeground(QBrush(QColor("#888")))
                if CHANNEL_COLUMNS[col] == "main":
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, col, item)
            if c["id"] == selected:
                self.table.selectRow(r)
        self._update_actions()

    def _show_settings(self) -> None:
        self.timezone.blockSignals(True)
        self.timezone.setCurrentText(str(self.settings.get("timezone", "")))
        self.timezone.blockSignals(False)
        self.labels.blockSignals(True)
        self.labels.setChecked(bool(self.settings.get("manager_labels")))
        self.labels.blockSignals(False)

    def _fill_tags(self) -> None:
        selected = selected_key(self.tag_table)
        self.tag_table.setRowCount(0)
        self.tag_table.setRowCount(len(self.tags))
        for r, tag in enumerate(self.tags):
            name = QTableWidgetItem(tag["name"])
            name.setData(Qt.ItemDataRole.UserRole, tag["id"])
            colour = QTableWidgetItem(tag.get("colour") or "")
            colour.setIcon(_swatch(tag.get("colour")))
            label = QTableWidgetItem(tag.get("manager_label") or "")
            key = QTableWidgetItem(t("yes") if tag.get("is_key") else "")
            key.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            for col, item in enumerate((name, colour, label, key)):
                self.tag_table.setItem(r, col, item)
            if tag["id"] == selected:
                self.tag_table.selectRow(r)

    def channel_rows(self) -> list[list[str]]:
        """The channels table's text (tests)."""
        return cells(self.table)

    def tag_rows(self) -> list[list[str]]:
        return cells(self.tag_table)

    # --- channel selection ----------------------------------------------------------------

    def selected_id(self) -> int | None:
        key = selected_key(self.table)
        return int(key) if key is not None else None

    def select(self, name: str) -> dict[str, Any]:
        """Select the channel called ``name`` (tests, and after adding one)."""
        for r, c in enumerate(self.channels):
            if c["name"] == name:
                self.table.selectRow(r)
                return c
        raise KeyError(name)

    def _selected(self) -> dict[str, Any] | None:
        key = self.selected_id()
        row = next((c for c in self.channels if c["id"] == key), None)
        if row is None:
            self.host.show_error(t("pick"))
        return row

    def _update_actions(self) -> None:
        key = self.selected_id()
        row = next((c for c in self.channels if c["id"] == key), None)
        for button in self.action_buttons.values():
            button.setEnabled(row is not None)
        if row is None:
            return
        self.toggle_button.setText(t("toggle_off") if row.get("enabled") else t("toggle_on"))
        is_bot = row["kind"] == "bot"
        self.action_buttons["change_role"].setEnabled(is_bot)
        self.action_buttons["logout"].setEnabled(not is_bot and bool(row.get("has_credentials")))
        self.action_buttons["relogin"].setEnabled(not is_bot)
        self.action_buttons["make_main"].setEnabled(not row.get("is_main"))

    # --- dialogs ----------------------------------------------------------------------------

    def open_add_bot(self) -> AddBotDialog | None:
        if not self.host.project:
            return None
        dialog = AddBotDialog(self.host)
        dialog.added.connect(lambda channel: self._added(channel))
        self.dialog = dialog
        dialog.open()
        return dialog

    def open_manager_login(self) -> ManagerLoginWizard | None:
        if not self.host.project:
            return None
        wizard = ManagerLoginWizard(self.host)
        wizard.connected.connect(lambda channel: self._added(channel))
        self.dialog = wizard
        wizard.open()
        return wizard

    def _added(self, channel: dict[str, Any]) -> None:
        async def reload() -> None:
            await self.refresh()
            if channel.get("name"):
                self.select(channel["name"])

        self.host.run(reload())

    async def relogin(self) -> ManagerLoginWizard | None:
        """The login wizard for the selected manager account (same name: a new session)."""
        row = self._selected()
        if row is None:
            return None
        if row["kind"] != "manager_account":
            self.host.show_error(t("not_manager", name=row["name"]))
            return None
        wizard = self.open_manager_login()
        if wizard is not None:
            wizard.name.setText(row["name"])
            if row.get("api_id"):
                wizard.api_id.setText(str(row["api_id"]))
            wizard.phone.setFocus()
        return wizard

    # --- channel actions --------------------------------------------------------------------

    async def _update(self, row: dict[str, Any], **fields: Any) -> dict[str, Any]:
        channel: dict[str, Any] = await self.host.backend.update_channel(
            self.host.project, row["id"], **fields
        )
        await self.refresh()
        return channel

    async def toggle_enabled(self) -> dict[str, Any] | None:
        row = self._selected()
        if row is None:
            return None
        return await self._update(row, enabled=not row.get("enabled"))

    async def rename(self) -> dict[str, Any] | None:
        row = self._selected()
        if row is None:
            return None
        name = self.host.prompt_text(t("rename"), t("rename_prompt"), row["name"])
        if not name or name == row["name"]:
            return None
        return await self._update(row, name=name)

    def choose(self, title: str, label: str, items: list[str], current: int) -> int | None:
        """The index of the item the user picks; None if cancelled (tests replace it)."""
        text, ok = QInputDialog.getItem(self, title, label, items, current, False)
        return items.index(text) if ok and text in items else None

    async def change_role(self) -> dict[str, Any] | None:
        row = self._selected()
        if row is None:
            return None
        if row["kind"] != "bot":
            self.host.show_error(t("not_bot", name=row["name"]))
            return None
        keys = list(ROLES)
        current = keys.index(row["role"]) if row.get("role") in keys else 0
        index = self.choose(
            t("change_role"), t("role_prompt", name=row["name"]),
            [role_title(k) for k in keys], current,
        )  # fmt: skip
        if index is None or keys[index] == row.get("role"):
            return None
        return await self._update(row, role=keys[index])

    async def make_main(self) -> dict[str, Any] | None:
        row = self._selected()
        if row is None or row.get("is_main"):
            return None
        return await self._update(row, is_main=True)

    async def logout(self) -> bool:
        row = self._selected()
        if row is None:
            return False
        if row["kind"] != "manager_account":
            self.host.show_error(t("not_manager", name=row["name"]))
            return False
        if not self.host.ask(t("logout"), t("logout_question", name=row["name"])):
            return False
        await self.host.backend.logout_manager(self.host.project, row["id"])
        self.host.statusBar().showMessage(t("logged_out", name=row["name"]), 5000)
        await self.refresh()
        return True

    async def delete(self) -> bool:
        row = self._selected()
        if row is None:
            return False
        question = t("delete_question", kind=t(row["kind"]), name=row["name"])
        if not self.host.ask(t("delete"), question):
            return False
        await self.host.backend.delete_channel(self.host.project, row["id"])
        self.host.statusBar().showMessage(t("deleted", name=row["name"]), 5000)
        await self.refresh()
        return True

    # --- project settings ---------------------------------------------------------------------

    def _timezone_chosen(self) -> None:
        zone = self.timezone.currentText().strip()
        if zone == self.settings.get("timezone") or not self.host.project:
            return
        if zone in zone_names():
            self.host.run(self.set_timezone(zone))
        else:  # typed, not picked: keep the saved zone and say why
            self.settings_state.setText(t("unknown_zone", zone=zone))
            self._show_settings()

    async def set_timezone(self, zone: str) -> dict[str, Any]:
        self.settings = await self.host.backend.update_project_settings(
            self.host.project, timezone=zone
        )
        self._show_settings()
        self.settings_state.setText(t("saved"))
        project = self.host.project
        projects = getattr(self.host, "projects", {})
        if project in projects:  # the simulator and reports read the zone from here
            projects[project] = replace(projects[project], timezone=self.settings["timezone"])
        return self.settings

    async def set_manager_labels(self, on: bool) -> dict[str, Any]:
        try:
            self.settings = await self.host.backend.update_project_settings(
                self.host.project, manager_labels=on
            )
        finally:
            self._show_settings()
        self.settings_state.setText(t("saved"))
        return self.settings

    # --- tags --------------------------------------------------------------------------------

    def select_tag(self, name: str) -> dict[str, Any]:
        for r, tag in enumerate(self.tags):
            if tag["name"] == name:
                self.tag_table.selectRow(r)
                return tag
        raise KeyError(name)

    def _selected_tag(self) -> dict[str, Any] | None:
        key = selected_key(self.tag_table)
        tag = next((x for x in self.tags if x["id"] == key), None)
        if tag is None:
            self.host.show_error(t("pick_tag"))
        return tag

    def _tag_double_clicked(self, index: Any) -> None:
        handler = {1: self.edit_colour, 2: self.edit_label, 3: self.toggle_key}.get(index.column())
        if handler is not None:
            self.host.run(handler())

    async def _update_tag(self, tag: dict[str, Any], **fields: Any) -> dict[str, Any]:
        updated: dict[str, Any] = await self.host.backend.update_tag(
            self.host.project, tag["id"], **fields
        )
        self.tags = await self.host.backend.list_tags(self.host.project)
        self._fill_tags()
        return updated

    def pick_colour(self, current: str | None) -> str | None:
        """A colour «#rrggbb» from the colour picker; None if cancelled (tests replace it)."""
        colour = QColorDialog.getColor(QColor(current or "#4a90d9"), self, t("colour"))
        return colour.name() if colour.isValid() else None

    async def edit_colour(self) -> dict[str, Any] | None:
        tag = self._selected_tag()
        if tag is None:
            return None
        colour = self.pick_colour(tag.get("colour"))
        if not colour or colour == tag.get("colour"):
            return None
        return await self._update_tag(tag, colour=colour)

    async def edit_label(self) -> dict[str, Any] | None:
        tag = self._selected_tag()
        if tag is None:
            return None
        prompt = t("label_prompt", name=tag["name"], n=MANAGER_LABEL_MAX)
        label = self.prompt_label(t("label"), prompt, tag.get("manager_label") or "")
        if label is None:
            return None
        if len(label) > MANAGER_LABEL_MAX:
            self.host.show_error(t("label_too_long", n=MANAGER_LABEL_MAX, label=label))
            return None
        value = label or None  # empty: no label
        if value == tag.get("manager_label"):
            return None
        return await self._update_tag(tag, manager_label=value)

    def prompt_label(self, title: str, label: str, value: str) -> str | None:
        """The label text, stripped ("" clears it); None if cancelled (tests replace it)."""
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text.strip() if ok else None

    async def toggle_key(self) -> dict[str, Any] | None:
        tag = self._selected_tag()
        if tag is None:
            return None
        return await self._update_tag(tag, is_key=not tag.get("is_key"))

    async def new_tag(self) -> dict[str, Any] | None:
        name = self.host.prompt_text(t("new_tag"), t("new_tag_prompt"))
        if not name:
            return None
        tag: dict[str, Any] = await self.host.backend.create_tag(self.host.project, name)
        self.tags = await self.host.backend.list_tags(self.host.project)
        self._fill_tags()
        self.select_tag(tag["name"])
        return tag


__all__ = ["ChannelsPanel", "channel_status", "zone_names"]
