"""Contacts: search (Telegram id, @username, name, tag) and the contact card — tags,
variables, runs with stop / restart / roll back (with a preview), history, purchases."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import register
from desktop.panels import cells, fill, person, selected_key, table, when

t = register(
    "contacts",
    {
        "search": ("Поиск: id, @username, имя…", "Search: id, @username, name…"),
        "any_tag": ("Любой тег", "Any tag"),
        "found": ("Найдено: {n}", "Found: {n}"),
        "pick": ("Выберите контакт слева", "Choose a contact on the left"),
        "tags": ("Теги:", "Tags:"),
        "add_tag": ("Добавить тег", "Add tag"),
        "remove_tag": ("Снять тег", "Remove tag"),
        "runs": ("Запуски", "Runs"),
        "history": ("История", "History"),
        "variables": ("Переменные", "Variables"),
        "purchases": ("Покупки", "Purchases"),
        "stop": ("Остановить", "Stop"),
        "restart": ("Перезапустить", "Restart"),
        "rollback": ("Откатить…", "Roll back…"),
        "funnel": ("Робот", "Robot"),
        "node": ("Шаг", "Step"),
        "status": ("Статус", "Status"),
        "started": ("Начат", "Started"),
        "at": ("Когда", "When"),
        "kind": ("Событие", "Event"),
        "actor": ("Кто", "By"),
        "details": ("Подробности", "Details"),
        "name": ("Имя", "Name"),
        "value": ("Значение", "Value"),
        "updated": ("Изменено", "Updated"),
        "product": ("Продукт", "Product"),
        "amount": ("Сумма", "Amount"),
        "date": ("Дата", "Date"),
        "no_run": ("Выберите запуск в таблице", "Choose a run in the table"),
        "stop_q": ("Остановить запуск №{id} робота «{funnel}»?", "Stop run #{id} of “{funnel}”?"),
        "restart_q": (
            "Остановить запуск №{id} и запустить робота «{funnel}» заново?",
            "Stop run #{id} and start “{funnel}” again?",
        ),
        "rollback_q": (
            "Откатить запуск №{id} робота «{funnel}»?\n\n{changes}",
            "Roll back run #{id} of “{funnel}”?\n\n{changes}",
        ),
        "rb_stop": ("Запуск будет остановлен", "The run will be stopped"),
        "rb_resume": (
            "Продолжится «{funnel}» с шага «{node}»",
            "“{funnel}” resumes at “{node}”",
        ),
        "rb_tag": ("Будет снят тег «{tag}»", "Tag “{tag}” will be removed"),
        "rb_link": ("Будет отозвана персональная ссылка №{id}", "Personal link #{id} revoked"),
        "rb_nothing": ("Ничего не изменится", "Nothing will change"),
        "done": ("Готово", "Done"),
        "links": ("Персональные ссылки", "Personal links"),
        "link_bot": ("В бота", "To bot"),
        "link_state": ("Состояние", "State"),
        "created": ("Создана", "Created"),
        "expires": ("Действует до", "Expires"),
        "link_used": ("использована {at}", "used {at}"),
        "link_revoked": ("отозвана {at}", "revoked {at}"),
        "link_expired": ("истекла", "expired"),
        "link_open": ("ждёт перехода", "waiting"),
        "show_on_canvas": ("Показать на холсте", "Show on canvas"),
        "move": ("Переместить на узел…", "Move to a node…"),
        "move_title": ("Переместить на узел", "Move to a node"),
        "move_banner": (
            "Куда переместить {who} («{funnel}»)? Выберите узел на холсте… Esc — отмена",
            "Where should {who} go in “{funnel}”? Pick a node on the canvas… Esc cancels",
        ),
        "move_q": (
            "Переместить {who} на шаг «{node}» робота «{funnel}»?\n"
            "Запуск №{id} продолжится с этого шага.",
            "Move {who} to the step “{node}” of “{funnel}”?\nRun #{id} continues from that step.",
        ),
        "moved": ("{who}: перемещён на шаг «{node}»", "{who}: moved to “{node}”"),
        "not_published": (
            "Шага «{node}» нет в версии v{version} робота «{funnel}», по которой идёт запуск "
            "(он добавлен после публикации). Опубликуйте робота или выберите другой шаг.",
            "The step “{node}” is not in version v{version} of “{funnel}” that the run follows "
            "(it was added after publishing). Publish the robot or pick another step.",
        ),
        "unsaved_q": (
            "В роботе «{name}» есть несохранённые правки. Сохранить их и открыть «{funnel}»?",
            "The robot “{name}” has unsaved edits. Save them and open “{funnel}”?",
        ),
        "id_line": (
            "Telegram ID {tid} · контакт №{id} · с {since}",
            "Telegram ID {tid} · contact #{id} · since {since}",
        ),
    },
)

HISTORY_KINDS: dict[str, tuple[str, str]] = {
    "message.queued": ("сообщение в очереди", "message queued"),
    "message.sent": ("получил сообщение", "got a message"),
    "message.failed": ("сообщение НЕ доставлено", "message NOT delivered"),
    "message.uncertain": ("доставка не подтверждена", "delivery unconfirmed"),
    "node.entered": ("вошёл на шаг", "entered a step"),
    "run.started": ("запуск начат", "run started"),
    "run.waiting": ("ждёт", "waiting"),
    "run.resumed": ("запуск продолжен", "run resumed"),
    "run.finished": ("запуск завершён", "run finished"),
    "run.stopped": ("запуск остановлен", "run stopped"),
    "run.failed": ("ошибка запуска", "run failed"),
    "run.rolled_back": ("запуск откатан", "run rolled back"),
    "staff.move": ("перемещён сотрудником", "moved by staff"),
    "tag.added": ("тег добавлен", "tag added"),
    "tag.removed": ("тег снят", "tag removed"),
    "variable.set": ("переменная записана", "variable set"),
    "variable.cleared": ("переменная очищена", "variable cleared"),
    "variable.invalid": ("неверное значение", "invalid value"),
    "contact.start": ("нажал «Старт»", "pressed Start"),
    "contact.message": ("написал", "wrote"),
    "contact.button": ("нажал кнопку", "pressed a button"),
    "contact.subscribed": ("подписался", "subscribed"),
    "contact.status": ("статус в боте изменился", "status in the bot changed"),
    "manager.message": ("написал менеджер", "the manager wrote"),
    "purchase.recorded": ("покупка", "purchase"),
    "link.created": ("выдана персональная ссылка", "personal link issued"),
    "link.arrived": ("перешёл по ссылке", "followed the link"),
    "link.revoked": ("ссылка отозвана", "link revoked"),
    "link.foreign": ("чужая ссылка", "someone else's link"),
    "link.invalid": ("неверная ссылка", "invalid link"),
    "funnels.stopped": ("выбит из роботов", "stopped in robots"),
    "condition.checked": ("проверено условие", "condition checked"),
    "randomizer.picked": ("выбрана ветка", "branch picked"),
    "trigger.refused": ("триггер не сработал", "trigger refused"),
    "notification": ("уведомление сотрудникам", "staff notified"),
}
MISSED = {"message.failed": "#c62828", "message.uncertain": "#b26a00", "run.failed": "#c62828"}


def kind_text(kind: str) -> str:
    """A history event's kind in words (unknown kinds as they are)."""
    from desktop.i18n import language

    pair = HISTORY_KINDS.get(kind)
    return (pair[0] if language() == "ru" else pair[1]) if pair else kind


STATUS = {
    "active": ("выполняется", "running"),
    "waiting": ("ждёт", "waiting"),
    "finished": ("завершён", "finished"),
    "stopped": ("остановлен", "stopped"),
    "failed": ("ошибка", "failed"),
}


def status_text(status: str) -> str:
    from desktop.i18n import language

    pair = STATUS.get(status.split(".")[-1].lower())
    return (pair[0] if language() == "ru" else pair[1]) if pair else status


def describe_rollback(plan: dict[str, Any]) -> str:
    """What rolling a run back changes, one line each."""
    lines = [t("rb_stop")] if plan.get("stop_self") else []
    lines += [
        t("rb_resume", funnel=r["funnel"], node=r["node"]) for r in plan.get("resume_runs", [])
    ]
    lines += [t("rb_tag", tag=tag) for tag in plan.get("remove_tags", [])]
    lines += [t("rb_link", id=link) for link in plan.get("revoke_links", [])]
    return "\n".join(lines) or t("rb_nothing")


class ContactsPanel(QWidget):
    """Search on the left, the chosen contact's card on the right."""

    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.card: dict[str, Any] | None = None
        self.results: list[dict[str, Any]] = []
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._search_later)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.query = QLineEdit(placeholderText=t("search"))
        self.query.setClearButtonEnabled(True)
        self.query.textChanged.connect(lambda _: self._debounce.start())
        self.tag_filter = QComboBox()
        self.tag_filter.currentIndexChanged.connect(lambda _: self._debounce.start())
        self.found = QLabel()
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._chosen)
        for w in (self.query, self.tag_filter, self.found, self.list):
            lv.addWidget(w)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 0, 0, 0)
        self.header = QLabel(t("pick"))
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.header)
        tag_row = QHBoxLayout()
        tag_row.addWidget(QLabel(t("tags")))
        self.tags = QListWidget()
        self.tags.setFlow(QListWidget.Flow.LeftToRight)
        self.tags.setWrapping(True)
        self.tags.setSpacing(2)
        self.tags.setMaximumHeight(52)
        self.tags.setStyleSheet(
            "QListWidget::item { background: #e3edf7; border-radius: 4px; padding: 1px 6px; }"
            "QListWidget::item:selected { background: #3d7cc9; color: white; }"
        )
        tag_row.addWidget(self.tags, 1)
        self.new_tag = QComboBox(editable=True)
        self.new_tag.setMinimumWidth(160)
        tag_row.addWidget(self.new_tag)
        self.add_tag_button = QPushButton(t("add_tag"))
        self.add_tag_button.clicked.connect(lambda: self.host.run(self.add_tag()))
        self.remove_tag_button = QPushButton(t("remove_tag"))
        self.remove_tag_button.clicked.connect(lambda: self.host.run(self.remove_tag()))
        tag_row.addWidget(self.add_tag_button)
        tag_row.addWidget(self.remove_tag_button)
        rv.addLayout(tag_row)

        self.tabs = QTabWidget()
        runs_page = QWidget()
        runs_layout = QVBoxLayout(runs_page)
        self.runs = table(["№", t("funnel"), t("node"), t("status"), t("started")])
        runs_layout.addWidget(self.runs)
        buttons = QHBoxLayout()
        self.stop_button = QPushButton(t("stop"))
        self.stop_button.clicked.connect(lambda: self.host.run(self.stop_run()))
        self.restart_button = QPushButton(t("restart"))
        self.restart_button.clicked.connect(lambda: self.host.run(self.restart_run()))
        self.rollback_button = QPushButton(t("rollback"))
        self.rollback_button.clicked.connect(lambda: self.host.run(self.rollback_run()))
        self.canvas_button = QPushButton(t("show_on_canvas"))
        self.canvas_button.clicked.connect(lambda: self.host.run(self.show_run_on_canvas()))
        self.move_button = QPushButton(t("move"))
        self.move_button.setToolTip(t("move_title"))
        self.move_button.clicked.connect(lambda: self.host.run(self.pick_node_for_run()))
        for b in (
            self.stop_button,
            self.restart_button,
            self.rollback_button,
            self.canvas_button,
            self.move_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        runs_layout.addLayout(buttons)
        self.tabs.addTab(runs_page, t("runs"))
        self.history = table([t("at"), t("kind"), t("actor"), t("details")])
        self.tabs.addTab(self.history, t("history"))
        self.variables = table([t("name"), t("value"), t("updated")])
        self.tabs.addTab(self.variables, t("variables"))
        self.purchases = table([t("date"), t("product"), t("amount")])
        self.tabs.addTab(self.purchases, t("purchases"))
        self.links = table(
            ["№", t("product"), t("link_bot"), t("created"), t("expires"), t("link_state")]
        )
        self.tabs.addTab(self.links, t("links"))
        rv.addWidget(self.tabs, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.add_tag_button, self.remove_tag_button, self.new_tag, self.tabs):
            w.setEnabled(on)

    # --- data -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload tag lists and the search (after switching projects)."""
        if not self.host.project:
            return
        catalog = await self.host.backend.catalog(self.host.project)
        current = self.tag_filter.currentText()
        self.tag_filter.blockSignals(True)
        self.tag_filter.clear()
        self.tag_filter.addItem(t("any_tag"), None)
        for tag in sorted(catalog.tags):
            self.tag_filter.addItem(tag, tag)
        index = self.tag_filter.findText(current)
        self.tag_filter.setCurrentIndex(max(0, index))
        self.tag_filter.blockSignals(False)
        self.new_tag.clear()
        self.new_tag.addItems(sorted(catalog.tags))
        self.new_tag.setCurrentText("")
        await self.search()

    def _search_later(self) -> None:
        if self.window().isVisible():  # not after the window closed
            self.host.run(self.search())

    async def search(self) -> list[dict[str, Any]]:
        self._debounce.stop()
        if not self.host.project:
            return []
        tag = self.tag_filter.currentData()
        self.results = await self.host.backend.search_contacts(
            self.host.project, self.query.text(), tag
        )
        chosen = self.card["id"] if self.card else None
        self.list.blockSignals(True)
        self.list.clear()
        for row in self.results:
            item = QListWidgetItem(
                person(row) + (f"\n  {', '.join(row['tags'])}" if row["tags"] else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            self.list.addItem(item)
            if row["id"] == chosen:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.found.setText(t("found", n=len(self.results)))
        return self.results

    def _chosen(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        if item is not None:
            self.host.run(self.open_contact(int(item.data(Qt.ItemDataRole.UserRole))))

    async def open_contact(self, contact_id: int) -> dict[str, Any]:
        """Show the card of ``contact_id`` (also used by other panels to jump here)."""
        assert self.host.project
        card = await self.host.backend.contact_card(self.host.project, contact_id)
        self.show_card(card)
        return card

    def show_card(self, card: dict[str, Any]) -> None:
        self.card = card
        self.header.setText(
            f"<h3 style='margin:0'>{person(card)}</h3>"
            + t(
                "id_line",
                tid=card["telegram_user_id"],
                id=card["id"],
                since=when(card.get("created_at")),
            )
        )
        self.tags.clear()
        self.tags.addItems(card.get("tags", []))
        fill(
            self.runs,
            [
                [
                    r["id"],
                    r.get("funnel", ""),
                    r.get("node", ""),
                    status_text(r["status"]),
                    when(r.get("started_at")),
                ]
                for r in card.get("runs", [])
            ],
            [r["id"] for r in card.get("runs", [])],
        )
        if self.runs.rowCount():
            self.runs.selectRow(0)
        history = card.get("history", [])
        fill(
            self.history,
            [
                [
                    when(h["at"]),
                    kind_text(h["kind"]),
                    h.get("actor") or "",
                    _details(h.get("details")),
                ]
                for h in history
            ],
        )
        for r, h in enumerate(history):  # what did not reach them stands out
            colour = MISSED.get(h["kind"])
            for c in range(self.history.columnCount()):
                item = self.history.item(r, c)
                if item is None:
                    continue
                item.setToolTip(h["kind"])
                if colour:
                    item.setForeground(QColor(colour))
        fill(
            self.variables,
            [
                [v["name"], v.get("value"), when(v.get("updated_at"))]
                for v in card.get("variables", [])
            ],
        )
        fill(
            self.purchases,
            [
                [
                    when(p.get("recorded_at")),
                    p["product"],
                    " ".join(x for x in (p.get("amount"), p.get("currency")) if x),
                ]
                for p in card.get("purchases", [])
            ],
        )
        fill(
            self.links,
            [
                [
                    link["id"],
                    link.get("product") or link.get("product_id") or "",
                    link.get("target_channel") or link.get("target_channel_id") or "",
                    when(link.get("created_at")),
                    when(link.get("expires_at")),
                    _link_state(link),
                ]
                for link in card.get("links", [])
            ],
        )
        self._set_enabled(True)

    def tag_names(self) -> list[str]:
        return [self.tags.item(i).text() for i in range(self.tags.count())]

    def run_rows(self) -> list[list[str]]:
        return cells(self.runs)

    # --- actions ----------------------------------------------------------------------

    async def _reload(self) -> None:
        if self.card is not None:
            await self.open_contact(self.card["id"])
        await self.search()

    async def add_tag(self, tag: str | None = None) -> None:
        tag = (tag or self.new_tag.currentText()).strip()
        if self.card is None or not tag:
            return
        await self.host.backend.add_contact_tag(self.host.project, self.card["id"], tag, "desktop")
        self.new_tag.setCurrentText("")
        await self._reload()

    async def remove_tag(self, tag: str | None = None) -> None:
        if tag is None:
            item = self.tags.currentItem()
            tag = item.text() if item is not None else None
        if self.card is None or not tag:
            return
        await self.host.backend.remove_contact_tag(
            self.host.project, self.card["id"], tag, "desktop"
        )
        await self._reload()

    def _run(self) -> dict[str, Any] | None:
        run_id = selected_key(self.runs)
        run = next((r for r in (self.card or {}).get("runs", []) if r["id"] == run_id), None)
        if run is None:
            self.host.show_error(t("no_run"))
        return run

    async def stop_run(self) -> None:
        run = self._run()
        if run is None or not self.host.ask(
            t("stop"), t("stop_q", id=run["id"], funnel=run.get("funnel", ""))
        ):
            return
        await self.host.backend.stop_run(self.host.project, run["id"], "desktop")
        await self._reload()

    async def restart_run(self) -> None:
        run = self._run()
        if run is None or not self.host.ask(
            t("restart"), t("restart_q", id=run["id"], funnel=run.get("funnel", ""))
        ):
            return
        await self.host.backend.restart_run(self.host.project, run["id"], "desktop")
        await self._reload()

    async def rollback_run(self) -> dict[str, Any] | None:
        """Show what a rollback changes; apply it if the user agrees. Returns the plan."""
        run = self._run()
        if run is None:
            return None
        plan = await self.host.backend.rollback_preview(self.host.project, run["id"])
        question = t(
            "rollback_q",
            id=run["id"],
            funnel=plan.get("funnel") or run.get("funnel", ""),
            changes=describe_rollback(plan),
        )
        self.last_rollback_question = question
        if not self.host.ask(t("rollback"), question):
            return plan
        plan = await self.host.backend.rollback_apply(self.host.project, run["id"], "desktop")
        await self._reload()
        return plan

    # --- the run on its robot's canvas, move it to a node picked there ---------------------

    async def _open_run_robot(self, run: dict[str, Any]) -> bool:
        """The run's robot in the editor tab (asking to save unsaved edits of another)."""
        host = self.host
        editor: Any = host.editor
        funnel_id = int(run["funnel_id"])
        if host.draft is None or host.draft.id != funnel_id:
            if host.draft is not None and editor.is_dirty():
                name, funnel = host.draft.document.name, run.get("funnel", "")
                if not host.ask(t("move_title"), t("unsaved_q", name=name, funnel=funnel)):
                    return False
                await host.save()
            await host.open_robot(funnel_id)
        host.tabs.setCurrentWidget(editor)
        return True

    async def show_run_on_canvas(self) -> bool:
        """Open the run's robot with the run's current step selected and centred."""
        run = self._run()
        if run is None or not hasattr(getattr(self.host, "editor", None), "select_node"):
            return False
        if not await self._open_run_robot(run):
            return False
        node_id = run.get("node_id")
        return bool(node_id) and bool(self.host.editor.select_node(str(node_id)))

    async def pick_node_for_run(self) -> bool:
        """Open the run's robot in the editor and let the user pick the node on the canvas;
        the move itself happens in :meth:`move_run_to` after a confirmation. False if the
        pick could not start."""
        run = self._run()
        host = self.host
        editor: Any = getattr(host, "editor", None)
        if run is None or self.card is None or not hasattr(editor, "begin_pick_node"):
            return False
        funnel = run.get("funnel", "")
        if not await self._open_run_robot(run):
            return False
        card = self.card
        who = person(card)
        node_id = str(run.get("node_id") or "")
        if editor.node(node_id) is not None:  # show where they are now, once the window
            # has placed a freshly opened robot (MainWindow.show_start runs after 50 ms)
            def show_current() -> None:
                if editor.is_picking():
                    editor.show_region([node_id], max_scale=1.0)

            show_current_later = QTimer(self, singleShot=True, interval=120)
            show_current_later.timeout.connect(show_current)
            show_current_later.timeout.connect(show_current_later.deleteLater)
            show_current_later.start()
        if hasattr(host, "refresh_counts"):
            await host.refresh_counts()
        self._connect_tab_guard()
        editor.begin_pick_node(
            lambda node_id: host.run(self.move_run_to(card, run, node_id)),
            lambda: host.show_panel("contacts"),
            t("move_banner", who=who, funnel=funnel),
        )
        return True

    def _connect_tab_guard(self) -> None:
        """Leaving the editor tab while picking cancels the pick (once per panel)."""
        if getattr(self, "_tab_guard", False):
            return
        self._tab_guard = True
        host = self.host

        def changed(_index: int) -> None:
            editor = host.editor
            if host.tabs.currentWidget() is not editor and editor.is_picking():
                editor.cancel_pick()

        host.tabs.currentChanged.connect(changed)

    async def move_run_to(self, card: dict[str, Any], run: dict[str, Any], node_id: str) -> bool:
        """Ask, then put ``run`` on ``node_id``; back to the card either way. True if moved."""
        host = self.host
        node = host.editor.node(node_id)
        title = node.display_title() if node is not None else node_id[:8]
        who, funnel = person(card), run.get("funnel", "")
        version = run.get("version")
        if version is not None:
            doc = await host.backend.version_document(host.project, int(run["funnel_id"]), version)
            if all(str(n.id) != node_id for n in doc.nodes):
                host.show_panel("contacts")
                host.show_error(t("not_published", node=title, version=version, funnel=funnel))
                return False
        question = t("move_q", who=who, node=title, funnel=funnel, id=run["id"])
        self.last_move_question = question
        if not host.ask(t("move_title"), question):
            host.show_panel("contacts")
            return False
        await host.backend.move_run(host.project, int(run["id"]), node_id, "desktop")
        host.show_panel("contacts")
        if self.card is not None and self.card["id"] == card["id"]:
            await self._reload()
        else:
            await self.open_contact(card["id"])
        host.statusBar().showMessage(t("moved", who=who, node=title), 5000)
        return True


def _link_state(link: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    if link.get("used_at"):
        return t("link_used", at=when(link["used_at"]))
    if link.get("revoked_at"):
        return t("link_revoked", at=when(link["revoked_at"]))
    expires = link.get("expires_at")
    if expires and datetime.fromisoformat(expires) < datetime.now(UTC):
        return t("link_expired")
    return t("link_open")


def _details(details: Any) -> str:
    if not details:
        return ""
    if isinstance(details, dict):
        return ", ".join(f"{k}: {v}" for k, v in details.items() if v not in (None, "", [], {}))
    return json.dumps(details, ensure_ascii=False)
