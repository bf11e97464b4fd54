"""Broadcasts (R17): compose (text with the message node's formatting buttons and
preview, media with the message node's picker, URL buttons, bot, tags included / excluded) with a live count of recipients, send
now or schedule, follow the progress, cancel."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.editor.properties.fields import TextField
from desktop.editor.properties.media_editor import (
    MediaField,
    backend_previewer,
    backend_uploader,
)
from desktop.i18n import language, register
from desktop.panels import fill, selected_key, table, when

t = register(
    "broadcasts",
    {
        "title": ("Название", "Title"),
        "text": ("Текст (HTML Telegram)", "Text (Telegram HTML)"),
        "media": ("Медиа", "Media"),
        "media_problem": ("Медиа: {problem}", "Media: {problem}"),
        "bot": ("Бот", "Bot"),
        "include": ("С тегами", "With tags"),
        "exclude": ("Без тегов", "Without tags"),
        "mode": ("Совпадение", "Match"),
        "any": ("любой из тегов", "any of the tags"),
        "all": ("все теги", "all the tags"),
        "count": ("Получат: {n}", "Recipients: {n}"),
        "count_error": ("Получат: — ({error})", "Recipients: — ({error})"),
        "send_now": ("Отправить сейчас", "Send now"),
        "schedule": ("Запланировать на", "Schedule for"),
        "cancel": ("Отменить рассылку", "Cancel broadcast"),
        "send_q": (
            "Отправить рассылку {n} контактам через «{bot}»?",
            "Send to {n} contacts through “{bot}”?",
        ),
        "schedule_q": (
            "Запланировать рассылку {n} контактам на {at}?",
            "Schedule for {n} contacts at {at}?",
        ),
        "cancel_q": (
            "Отменить рассылку №{id}? Неотправленные сообщения не уйдут.",
            "Cancel broadcast #{id}? Unsent messages will not go.",
        ),
        "no_text": ("Напишите текст рассылки", "Write the text of the broadcast"),
        "no_bot": ("Выберите бота", "Choose a bot"),
        "pick": ("Выберите рассылку в списке", "Choose a broadcast in the list"),
        "status": ("Статус", "Status"),
        "created": ("Создана", "Created"),
        "progress": ("Отправлено", "Sent"),
        "compose": ("Новая рассылка", "New broadcast"),
        "history": ("Рассылки", "Broadcasts"),
        "buttons": ("Кнопки-ссылки", "URL buttons"),
        "button_text": ("Текст кнопки", "Button text"),
        "button_url": ("Ссылка (https://, http://, tg://)", "Link (https://, http://, tg://)"),
        "add_button": ("Добавить кнопку", "Add button"),
        "remove_button": ("Убрать кнопку", "Remove button"),
        "bad_button_text": (
            "Кнопка {n}: текст от 1 до 64 символов",
            "Button {n}: the text must be 1 to 64 characters",
        ),
        "bad_button_url": (
            "Кнопка {n} («{text}»): ссылка «{url}» должна начинаться с https://, http:// или "
            "tg:// и вести куда-то",
            "Button {n} (“{text}”): the link “{url}” must start with https://, http:// or "
            "tg:// and lead somewhere",
        ),
    },
)

STATUS = {
    "draft": ("черновик", "draft"),
    "scheduled": ("запланирована", "scheduled"),
    "sending": ("отправляется", "sending"),
    "done": ("завершена", "done"),
    "cancelled": ("отменена", "cancelled"),
}


def status_text(status: str) -> str:
    pair = STATUS.get(status)
    return (pair[0] if language() == "ru" else pair[1]) if pair else status


def _tag_list() -> QListWidget:
    widget = QListWidget()
    widget.setMaximumHeight(110)
    return widget


def _checked(widget: QListWidget) -> list[str]:
    return [
        widget.item(i).text()
        for i in range(widget.count())
        if widget.item(i).checkState() == Qt.CheckState.Checked
    ]


class BroadcastsPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.broadcasts: list[dict[str, Any]] = []
        self.count: int | None = None
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._count_later)
        self.poll = QTimer(self, interval=2000)
        self.poll.timeout.connect(self._poll)

        compose = QWidget()
        form = QFormLayout(compose)
        form.addRow(QLabel(f"<b>{t('compose')}</b>"))
        self.title = QLineEdit()
        form.addRow(t("title"), self.title)
        self.text_field = TextField(preview=True)  # the message node's text editor
        self.text: QPlainTextEdit = self.text_field.edit
        self.text.setMaximumHeight(120)
        self.text.textChanged.connect(self._show_buttons_preview)
        form.addRow(t("text"), self.text_field)
        # the message node's media picker; refresh() gives it the project's upload
        self.media = MediaField()
        form.addRow(t("media"), self.media)
        self.buttons = QTableWidget(0, 2)
        self.buttons.setHorizontalHeaderLabels([t("button_text"), t("button_url")])
        self.buttons.verticalHeader().setVisible(False)
        self.buttons.horizontalHeader().setStretchLastSection(True)
        self.buttons.setColumnWidth(0, 170)
        self.buttons.setMaximumHeight(110)
        self.buttons.itemChanged.connect(lambda _: self._show_buttons_preview())
        button_row = QHBoxLayout()
        self.add_button = QPushButton(t("add_button"))
        self.add_button.clicked.connect(lambda: self.add_url_button())
        self.remove_button = QPushButton(t("remove_button"))
        self.remove_button.clicked.connect(self.remove_url_button)
        button_row.addWidget(self.add_button)
        button_row.addWidget(self.remove_button)
        button_row.addStretch(1)
        buttons_box = QWidget()
        bv = QVBoxLayout(buttons_box)
        bv.setContentsMargins(0, 0, 0, 0)
        bv.addWidget(self.buttons)
        bv.addLayout(button_row)
        self.buttons_preview = QLabel()
        self.buttons_preview.setTextFormat(Qt.TextFormat.RichText)
        self.buttons_preview.setVisible(False)
        preview_layout = self.text_field.layout()
        assert preview_layout is not None
        preview_layout.addWidget(self.buttons_preview)  # under the text preview, as in Telegram
        form.addRow(t("buttons"), buttons_box)
        self.bot = QComboBox()
        self.bot.currentIndexChanged.connect(lambda _: self._debounce.start())
        form.addRow(t("bot"), self.bot)
        self.include = _tag_list()
        self.include.itemChanged.connect(lambda _: self._debounce.start())
        form.addRow(t("include"), self.include)
        self.mode = QComboBox()
        self.mode.addItem(t("any"), "any")
        self.mode.addItem(t("all"), "all")
        self.mode.currentIndexChanged.connect(lambda _: self._debounce.start())
        form.addRow(t("mode"), self.mode)
        self.exclude = _tag_list()
        self.exclude.itemChanged.connect(lambda _: self._debounce.start())
        form.addRow(t("exclude"), self.exclude)
        self.count_label = QLabel()
        bold = self.count_label.font()
        bold.setBold(True)
        self.count_label.setFont(bold)
        form.addRow(self.count_label)
        actions = QHBoxLayout()
        self.send_button = QPushButton(t("send_now"))
        self.send_button.clicked.connect(lambda: self.host.run(self.submit(send_now=True)))
        self.schedule_button = QPushButton(t("schedule"))
        self.schedule_button.clicked.connect(lambda: self.host.run(self.submit(send_now=False)))
        self.when = QDateTimeEdit(QDateTime.currentDateTime().addSecs(3600), calendarPopup=True)
        self.when.setDisplayFormat("dd.MM.yyyy HH:mm")
        actions.addWidget(self.send_button)
        actions.addStretch(1)
        actions.addWidget(self.schedule_button)
        actions.addWidget(self.when)
        form.addRow(actions)

        history = QWidget()
        hv = QVBoxLayout(history)
        hv.addWidget(QLabel(f"<b>{t('history')}</b>"))
        self.table = table(["№", t("title"), t("status"), t("progress"), t("created")])
        self.table.itemSelectionChanged.connect(self._show_progress)
        hv.addWidget(self.table)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        hv.addWidget(self.progress)
        self.cancel_button = QPushButton(t("cancel"))
        self.cancel_button.clicked.connect(lambda: self.host.run(self.cancel()))
        hv.addWidget(self.cancel_button)

        scroll = QScrollArea()  # the composer grows with the preview and buttons
        scroll.setWidgetResizable(True)
        scroll.setWidget(compose)
        splitter = QSplitter()
        splitter.addWidget(scroll)
        splitter.addWidget(history)
        splitter.setSizes([660, 520])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # --- URL buttons ------------------------------------------------------------------

    def add_url_button(self, text: str = "", url: str = "https://") -> None:
        r = self.buttons.rowCount()
        self.buttons.insertRow(r)
        self.buttons.setItem(r, 0, QTableWidgetItem(text))
        self.buttons.setItem(r, 1, QTableWidgetItem(url))
        self.buttons.setCurrentCell(r, 0)
        self._show_buttons_preview()

    def remove_url_button(self) -> None:
        r = self.buttons.currentRow()
        if r < 0:
            r = self.buttons.rowCount() - 1
        if r >= 0:
            self.buttons.removeRow(r)
        self._show_buttons_preview()

    def url_buttons(self) -> list[tuple[str, str]]:
        """(text, url) of each button row, stripped (rows left empty are skipped)."""
        out: list[tuple[str, str]] = []
        for r in range(self.buttons.rowCount()):
            cells = [self.buttons.item(r, c) for c in (0, 1)]
            text, url = (c.text().strip() if c is not None else "" for c in cells)
            if text or url not in ("", "https://"):
                out.append((text, url))
        return out

    def button_rows(self) -> list[list[dict[str, str]]]:
        """The buttons as the engine takes them (one button per row); ValueError naming the
        first bad button."""
        rows: list[list[dict[str, str]]] = []
        for n, (text, url) in enumerate(self.url_buttons(), start=1):
            if not 1 <= len(text) <= 64:
                raise ValueError(t("bad_button_text", n=n))
            if not valid_url(url):
                raise ValueError(t("bad_button_url", n=n, text=text, url=url))
            rows.append([{"text": text, "url": url}])
        return rows

    def _show_buttons_preview(self) -> None:
        """The buttons under the text preview, as Telegram shows them."""
        buttons = self.url_buttons()
        self.buttons_preview.setVisible(bool(buttons))
        cells = "".join(
            "<tr><td align='center' style='background:#d6e6f7; color:#1c5fa8; padding:4px 10px;'>"
            f"{_escape(text or '…')} ↗</td></tr>"
            for text, _url in buttons
        )
        self.buttons_preview.setText(
            f"<table width='100%' cellspacing='3' cellpadding='0'>{cells}</table>"
        )

    # --- data -------------------------------------------------------------------------

    def segment(self) -> dict[str, Any]:
        return {
            "channel_id": self.bot.currentData(),
            "tags_included": _checked(self.include),
            "tags_excluded": _checked(self.exclude),
            "include_mode": self.mode.currentData(),
        }

    async def refresh(self) -> None:
        if not self.host.project:
            return
        project = self.host.project
        backend = self.host.backend
        # picked files go to the project's media store, as in the properties panel
        # (MainWindow.open_robot); only the embedded engine reads this computer's files
        media_root = getattr(backend, "media_root", None)
        self.media.upload = backend_uploader(backend, project)
        self.media.fetch = backend_previewer(backend, project)
        self.media.media_root = await media_root(project) if media_root is not None else None
        self.media.local_ok = media_root is not None
        bots = await self.host.backend.list_bots(project)
        catalog = await self.host.backend.catalog(project)
        current = self.bot.currentData()
        self.bot.blockSignals(True)
        self.bot.clear()
        for b in bots:
            label = b["name"] + (f" (@{b['username']})" if b.get("username") else "")
            self.bot.addItem(label, b["id"])
        if current is not None and self.bot.findData(current) >= 0:
            self.bot.setCurrentIndex(self.bot.findData(current))
        self.bot.blockSignals(False)
        for widget in (self.include, self.exclude):
            keep = set(_checked(widget))
            widget.blockSignals(True)
            widget.clear()
            for tag in sorted(catalog.tags):
                item = QListWidgetItem(tag)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    Qt.CheckState.Checked if tag in keep else Qt.CheckState.Unchecked
                )
                widget.addItem(item)
            widget.blockSignals(False)
        await self.update_count()
        await self.reload()

    def set_tags(self, included: list[str] = (), excluded: list[str] = ()) -> None:  # type: ignore[assignment]
        for widget, names in ((self.include, included), (self.exclude, excluded)):
            for i in range(widget.count()):
                item = widget.item(i)
                item.setCheckState(
                    Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked
                )

    def _count_later(self) -> None:
        if self.window().isVisible():
            self.host.run(self.update_count(), quiet=True)

    async def update_count(self) -> int | None:
        """The live recipients count of the segment being composed."""
        self._debounce.stop()
        if not self.host.project or self.bot.currentData() is None:
            self.count = None
            self.count_label.setText(t("count", n="—"))
            return None
        try:
            self.count = await self.host.backend.preview_broadcast(
                self.host.project, self.segment()
            )
        except Exception as exc:  # a tag removed meanwhile etc.: say it next to the count
            self.count = None
            self.count_label.setText(t("count_error", error=str(exc)))
            return None
        self.count_label.setText(t("count", n=self.count))
        return self.count

    async def reload(self) -> list[dict[str, Any]]:
        chosen = selected_key(self.table)
        self.broadcasts = await self.host.backend.list_broadcasts(self.host.project)
        fill(
            self.table,
            [
                [
                    b["id"],
                    b["title"] or b["text"][:40],
                    status_text(b["status"]),
                    f"{b['sent']} / {b['total']}"
                    + (f" (ошибок {b['failed']})" if b["failed"] else ""),
                    when(b["created_at"]),
                ]
                for b in self.broadcasts
            ],
            [b["id"] for b in self.broadcasts],
        )
        ids = [b["id"] for b in self.broadcasts]
        if self.broadcasts:
            self.table.selectRow(ids.index(chosen) if chosen in ids else 0)
        self._show_progress()
        sending = any(b["status"] in ("sending", "scheduled") for b in self.broadcasts)
        if sending and not self.poll.isActive():
            self.poll.start()
        elif not sending:
            self.poll.stop()
        return self.broadcasts

    def _poll(self) -> None:
        if self.window().isVisible() and self.host.project:
            self.host.run(self.reload(), quiet=True)
        else:
            self.poll.stop()

    def selected(self) -> dict[str, Any] | None:
        key = selected_key(self.table)
        return next((b for b in self.broadcasts if b["id"] == key), None)

    def _show_progress(self) -> None:
        b = self.selected()
        if b is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.cancel_button.setEnabled(False)
            return
        self.progress.setRange(0, max(1, b["total"]))
        self.progress.setValue(b["sent"] + b["failed"])
        self.progress.setFormat("%v / %m" if b["total"] else status_text(b["status"]))
        self.cancel_button.setEnabled(b["status"] in ("draft", "scheduled", "sending"))

    # --- actions ----------------------------------------------------------------------

    async def submit(self, send_now: bool) -> dict[str, Any] | None:
        text = self.text.toPlainText().strip()
        await self.media.wait_uploads()  # send the stored copies, not this computer's paths
        media = self.media.value()
        if not text and not media:
            self.host.show_error(t("no_text"))
            return None
        if self.media.problems():
            self.host.show_error(t("media_problem", problem=self.media.problems()[0]))
            return None
        if self.bot.currentData() is None:
            self.host.show_error(t("no_bot"))
            return None
        try:
            buttons = self.button_rows()
        except ValueError as exc:
            self.host.show_error(str(exc))
            return None
        count = await self.update_count()
        data: dict[str, Any] = {
            **self.segment(),
            "title": self.title.text().strip(),
            "text": text,
            "media": media,
            "buttons": buttons,
        }
        if send_now:
            question = t("send_q", n=count, bot=self.bot.currentText())
            data["send_now"] = True
        else:
            at = self.when.dateTime().toPython().astimezone(UTC)
            question = t(
                "schedule_q", n=count, at=self.when.dateTime().toString("dd.MM.yyyy HH:mm")
            )
            data["scheduled_at"] = at
        if not self.host.ask(t("send_now") if send_now else t("schedule"), question):
            return None
        created = await self.host.backend.create_broadcast(self.host.project, data, "desktop")
        self.text.clear()
        self.title.clear()
        self.buttons.setRowCount(0)
        self.media.set_value([])
        self._show_buttons_preview()
        await self.reload()
        self.table.selectRow(0)
        return created

    async def cancel(self) -> dict[str, Any] | None:
        b = self.selected()
        if b is None:
            self.host.show_error(t("pick"))
            return None
        if not self.host.ask(t("cancel"), t("cancel_q", id=b["id"])):
            return None
        out = await self.host.backend.cancel_broadcast(self.host.project, b["id"], "desktop")
        await self.reload()
        return out


def valid_url(url: str) -> bool:
    """An http(s) link with a host, or a tg:// link with something after the scheme."""
    if any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.hostname) and "." in (parts.hostname or "")
    if scheme == "tg":
        return bool(parts.netloc or parts.path.strip("/"))
    return False


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
