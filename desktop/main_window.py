"""The main window: projects and robots on the left, the robot editor in the centre.

Everything goes through an :class:`desktop.backend.EngineBackend`: the embedded engine
(``WorkspaceService`` in this process) or an engine server over its HTTP API
(:class:`desktop.remote_client.RemoteBackend`, "Connect to server…"). Slow work runs as
asyncio tasks on the qasync loop so the UI never blocks, and failures are shown plainly
through :meth:`MainWindow.show_error` (tests replace it, as they replace :meth:`ask`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QGridLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.backend import (
    EmbeddedBackend,
    EngineBackend,
    FunnelDraft,
    FunnelSummary,
    ProjectInfo,
    as_backend,
)
from desktop.i18n import language, register
from engine.service import WorkspaceService

ROBOT_MIME = "application/x-voronka-robot"

_STRINGS: dict[str, tuple[str, str]] = {
    "title": ("Воронка — {project}", "Voronka — {project}"),
    "projects": ("Проекты", "Projects"),
    "robots": ("Роботы", "Robots"),
    "search": ("Поиск робота…", "Find a robot…"),
    "project": ("Проект:", "Project:"),
    "save": ("Сохранить", "Save"),
    "validate": ("Проверить", "Validate"),
    "publish": ("Опубликовать", "Publish"),
    "new": ("Новый робот", "New robot"),
    "duplicate": ("Дублировать", "Duplicate"),
    "rename": ("Переименовать", "Rename"),
    "rename_prompt": ("Новое название робота:", "New name of the robot:"),
    "name_taken": (
        "В проекте уже есть робот «{name}»",
        "The project already has a robot “{name}”",
    ),
    "delete": ("Удалить", "Delete"),
    "draft": ("черновик", "draft"),
    "version": ("v{n}", "v{n}"),
    "no_folder": ("Без папки", "No folder"),
    "saved": ("Сохранено (ревизия {n})", "Saved (revision {n})"),
    "published": ("Опубликована версия {n}", "Published version {n}"),
    "removed_nodes": (
        "{n} контакт(ов) стоят на удалённых шагах: они закончат путь по прежней версии.",
        "{n} contact(s) sit on removed steps: they finish on the previous version.",
    ),
    "error": ("Ошибка", "Error"),
    "copy_title": ("Копировать робота", "Copy robot"),
    "copy_question": (
        "Скопировать «{robot}» в проект «{project}»?\n\n{plan}",
        "Copy “{robot}” to project “{project}”?\n\n{plan}",
    ),
    "copy_done": ("Робот скопирован в «{project}»", "Robot copied to “{project}”"),
    "copy_refused": ("Копирование невозможно:\n{problems}", "The copy cannot be made:\n{problems}"),
    "bot_map": ("Бот «{role}»: {source} → {target}", "Bot “{role}”: {source} → {target}"),
    "tag_new": ("Будет создан тег «{tag}»", "Tag “{tag}” will be created"),
    "product_new": ("Будет создан продукт «{p}»", "Product “{p}” will be created"),
    "nothing_to_map": ("Переназначать нечего.", "Nothing to remap."),
    "new_name": ("Название нового робота:", "Name of the new robot:"),
    "status": (
        "Движок: встроенный · данные: {where}",
        "Engine: embedded · data: {where}",
    ),
    "status_remote": (
        "Движок: сервер {url} · {who} · данные: {where}",
        "Engine: server {url} · {who} · data: {where}",
    ),
    "connect": ("Подключиться к серверу…", "Connect to server…"),
    "local": ("Локальные данные", "Local data"),
    "connected": ("Подключено к {url}", "Connected to {url}"),
    "history": ("История версий", "Version history"),
    "no_url": ("Укажите адрес сервера", "Enter the server address"),
    "no_credentials": (
        "Укажите логин и пароль или токен",
        "Enter a login and password, or a token",
    ),
    "problems_found": ("Найдено проблем: {n}", "Problems found: {n}"),
    "no_problems": ("Проблем нет", "No problems"),
    "tab_editor": ("Редактор", "Editor"),
    "tab_contacts": ("Контакты", "Contacts"),
    "tab_notifications": ("Уведомления", "Notifications"),
    "tab_notifications_n": ("Уведомления ({n})", "Notifications ({n})"),
    "tab_purchases": ("Покупки", "Purchases"),
    "tab_reports": ("Отчёты", "Reports"),
    "tab_broadcasts": ("Рассылки", "Broadcasts"),
    "tab_channels": ("Каналы", "Channels"),
    "save_file": ("Сохранить файл", "Save file"),
}


t = register("main", _STRINGS)


class RobotTree(QTreeWidget):
    """Robots of the current project, grouped by folder; items drag out as robot names."""

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)

    def mimeData(self, items: Any) -> QMimeData:
        data = QMimeData()
        names = [i.data(0, Qt.ItemDataRole.UserRole + 1) for i in items]
        names = [n for n in names if n]
        if names:
            data.setData(ROBOT_MIME, names[0].encode("utf-8"))
            data.setText(names[0])
        return data


class ProjectList(QListWidget):
    """Projects; dropping a robot on another project copies it there (R14)."""

    robotDropped = Signal(str, str)  # robot name, target project

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(ROBOT_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasFormat(ROBOT_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if not event.mimeData().hasFormat(ROBOT_MIME):
            return super().dropEvent(event)
        item = self.itemAt(event.position().toPoint())
        if item is None:
            return None
        robot = bytes(event.mimeData().data(ROBOT_MIME).data()).decode("utf-8")
        event.acceptProposedAction()
        self.robotDropped.emit(robot, item.text())
        return None


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, engine: EngineBackend | WorkspaceService, token_store: Any = None) -> None:
        super().__init__()
        self.backend: EngineBackend = as_backend(engine)
        self.embedded = self.backend if isinstance(self.backend, EmbeddedBackend) else None
        self.token_store = token_store
        """Where server tokens are kept (a desktop.token_store.TokenStore; made on demand)."""
        self.remote_transport: Any = None
        """An httpx transport for remote connections (tests: httpx.ASGITransport)."""
        self.project: str | None = None
        self.projects: dict[str, ProjectInfo] = {}
        self.draft: FunnelDraft | None = None
        self.funnels: list[FunnelSummary] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.contacts_dialog: Any = None
        self.history_dialog: Any = None
        self.version_windows: list[Any] = []
        self.resize(1400, 860)
        self._build()

    @property
    def service(self) -> Any:
        """The embedded ``WorkspaceService`` (or the remote backend when connected)."""
        if isinstance(self.backend, EmbeddedBackend):
            return self.backend.service
        return self.backend

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        toolbar = QToolBar()
        toolbar.setMovable(False)
        toolbar.setObjectName("main")
        self.addToolBar(toolbar)
        self.save_action = QAction(t("save"), self, shortcut=QKeySequence.StandardKey.Save)
        self.save_action.triggered.connect(lambda: self.run(self.save()))
        self.validate_action = QAction(t("validate"), self)
        self.validate_action.triggered.connect(lambda: self.run(self.validate()))
        self.publish_action = QAction(t("publish"), self)
        self.publish_action.triggered.connect(lambda: self.run(self.publish()))
        self.history_action = QAction(t("history"), self)
        self.history_action.triggered.connect(lambda: self.run(self.show_history()))
        for action in (
            self.save_action, self.validate_action, self.publish_action, self.history_action
        ):  # fmt: skip
            toolbar.addAction(action)
        from desktop.simulator import SimulatorDock

        self.simulator = SimulatorDock(self)  # the chat simulator (a sandbox, issue 8.6)
        toolbar.addAction(self.simulator.toggle_action)
        toolbar.addSeparator()
        self.version_label = QLabel()
        toolbar.addWidget(self.version_label)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(QLabel(t("project") + " "))
        self.project_combo = QComboBox()
        self.project_combo.setMinimumWidth(180)
        self.project_combo.currentTextChanged.connect(self._project_chosen)
        toolbar.addWidget(self.project_combo)
        self.connect_action = QAction(t("connect"), self)
        self.connect_action.triggered.connect(self.open_connect_dialog)
        toolbar.addAction(self.connect_action)
        self.local_action = QAction(t("local"), self)
        self.local_action.triggered.connect(lambda: self.run(self.use_local()))
        self.local_action.setVisible(False)
        toolbar.addAction(self.local_action)

        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(QLabel(f"<b>{t('projects')}</b>"))
        self.project_list = ProjectList()
        self.project_list.setMaximumHeight(140)
        self.project_list.itemClicked.connect(
            lambda item: self.project_combo.setCurrentText(item.text())
        )
        self.project_list.robotDropped.connect(
            lambda robot, target: self.run(self.copy_robot(robot, target))
        )
        layout.addWidget(self.project_list)
        layout.addWidget(QLabel(f"<b>{t('robots')}</b>"))
        self.search = QLineEdit(placeholderText=t("search"))
        self.search.textChanged.connect(self._fill_robots)
        layout.addWidget(self.search)
        self.robot_tree = RobotTree()
        self.robot_tree.itemActivated.connect(self._robot_chosen)
        self.robot_tree.itemClicked.connect(self._robot_chosen)
        layout.addWidget(self.robot_tree)
        robot_bar = QGridLayout()  # two rows: four actions do not fit one narrow toolbar
        for index, (key, handler) in enumerate(
            (
                ("new", self.new_robot),
                ("rename", self.rename_robot),
                ("duplicate", self.duplicate_robot),
                ("delete", self.delete_robot),
            )
        ):
            button = QPushButton(t(key))
            button.clicked.connect(lambda _=False, h=handler: self.run(h()))
            robot_bar.addWidget(button, index // 2, index % 2)
        layout.addLayout(robot_bar)
        side.setMaximumWidth(290)
        dock = QDockWidget(t("robots"))
        dock.setObjectName("robots")
        dock.setWidget(side)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.editor = _make_editor()
        self.panels: dict[str, Any] = {}
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.editor, t("tab_editor"))
        self._add_panels()
        self.tabs.currentChanged.connect(lambda _: self.refresh_current_panel())
        self.setCentralWidget(self.tabs)
        if hasattr(self.editor, "badgeClicked"):
            self.editor.badgeClicked.connect(
                lambda node_id: self.run(self.show_node_contacts(node_id))
            )
        self.status = QLabel()
        self.statusBar().addWidget(self.status)
        self.refresh_timer = QTimer(self, interval=1000)
        self.refresh_timer.timeout.connect(lambda: self.run(self.refresh_counts(), quiet=True))

    # --- staff panels (desktop/panels/) ----------------------------------------------------

    def _add_panels(self) -> None:
        from desktop.panels.broadcasts import BroadcastsPanel
        from desktop.panels.channels import ChannelsPanel
        from desktop.panels.contacts import ContactsPanel
        from desktop.panels.notifications import NotificationsPanel
        from desktop.panels.purchases import PurchasesPanel
        from desktop.panels.reports import ReportsPanel

        for key, panel_class in (
            ("contacts", ContactsPanel),
            ("notifications", NotificationsPanel),
            ("reports", ReportsPanel),
            ("purchases", PurchasesPanel),
            ("broadcasts", BroadcastsPanel),
            ("channels", ChannelsPanel),
        ):
            panel = panel_class(self)
            self.panels[key] = panel
            self.tabs.addTab(panel, t(f"tab_{key}"))

    def show_panel(self, key: str) -> Any:
        """Bring the panel ``key`` ("contacts", …) to the front and return it."""
        panel = self.panels[key]
        self.tabs.setCurrentWidget(panel)
        return panel

    def refresh_panels(self) -> None:
        """After a project switch: the open panel reloads, the notifications counter too."""
        self.refresh_current_panel()
        if "notifications" in self.panels:
            self.run(self.panels["notifications"].refresh_counter(), quiet=True)

    def refresh_current_panel(self) -> None:
        panel = self.tabs.currentWidget()
        if panel is not self.editor and hasattr(panel, "refresh") and self.project:
            self.run(panel.refresh())

    def set_panel_title(self, panel: Any, title: str) -> None:
        self.tabs.setTabText(self.tabs.indexOf(panel), title)

    def save_path(self, title: str, suggested: str, filters: str) -> str | None:
        """Where to save a file (tests replace it); None if cancelled."""
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, title or t("save_file"), suggested, filters)
        return path or None

    # --- async plumbing -------------------------------------------------------------------

    def run(self, work: Awaitable[Any], quiet: bool = False) -> None:
        """Run ``work`` on the event loop; show its error instead of losing it."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not quiet:
                    self.show_error(str(exc))

        def done(task: asyncio.Task[Any]) -> None:
            self.tasks.discard(task)
            close = getattr(work, "close", None)
            if close is not None:  # a task cancelled before it started: no "never awaited"
                close()

        task = asyncio.ensure_future(guarded())
        self.tasks.add(task)
        task.add_done_callback(done)

    # --- data -----------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Tell the user something failed (tests replace it)."""
        QMessageBox.warning(self, t("error"), message)

    def inform(self, title: str, message: str) -> None:
        """A message the user should not miss (tests replace it)."""
        QMessageBox.information(self, title, message)

    async def load(self) -> None:
        projects = await self.backend.list_projects()
        self.projects = {p.name: p for p in projects}
        self.project = None
        self.draft = None
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        self.project_list.clear()
        for p in projects:
            self.project_combo.addItem(p.name)
            self.project_list.addItem(QListWidgetItem(p.name))
        self.project_combo.blockSignals(False)
        if projects:
            await self.open_project(projects[0].name)

    def _project_chosen(self, name: str) -> None:
        if name and name != self.project:
            self.run(self.open_project(name))

    async def open_project(self, name: str) -> None:
        self.project = name
        self.project_combo.blockSignals(True)
        self.project_combo.setCurrentText(name)
        self.project_combo.blockSignals(False)
        self.setWindowTitle(t("title", project=name))
        where = self.projects[name].location if name in self.projects else "?"
        if isinstance(self.backend, EmbeddedBackend):
            self.status.setText(t("status", where=where))
        else:
            user = getattr(self.backend, "user", None) or {}
            who = str(user.get("login", "?"))
            self.status.setText(
                t("status_remote", url=self.backend.description, who=who, where=where)
            )
        self.refresh_panels()
        await self.reload_robots()
        if self.funnels:
            # The oldest robot first: in the demo project that is the open-bot funnel.
            await self.open_robot(min(f.id for f in self.funnels))

    async def reload_robots(self) -> None:
        assert self.project
        self.funnels = await self.backend.list_funnels(self.project)
        self._fill_robots()

    def _fill_robots(self) -> None:
        needle = self.search.text().strip().casefold()
        self.robot_tree.clear()
        folders: dict[str, QTreeWidgetItem] = {}
        for f in self.funnels:
            if needle and needle not in f.name.casefold():
                continue
            folder = f.folder or t("no_folder")
            if folder not in folders:
                folders[folder] = QTreeWidgetItem([folder])
                self.robot_tree.addTopLevelItem(folders[folder])
                folders[folder].setExpanded(True)
            state = t("version", n=f.published_version) if f.published_version else t("draft")
            item = QTreeWidgetItem([f"{f.name}  ·  {state}"])
            item.setData(0, Qt.ItemDataRole.UserRole, f.id)
            item.setData(0, Qt.ItemDataRole.UserRole + 1, f.name)
            folders[folder].addChild(item)

    def _robot_chosen(self, item: QTreeWidgetItem) -> None:
        funnel_id = item.data(0, Qt.ItemDataRole.UserRole)
        if funnel_id is not None and (self.draft is None or self.draft.id != funnel_id):
            self.run(self.open_robot(int(funnel_id)))

    async def open_robot(self, funnel_id: int) -> None:
        assert self.project
        self.draft = await self.backend.load_draft(self.project, funnel_id)
        catalog = await self.backend.catalog(self.project)
        if hasattr(self.editor, "set_known_tags"):
            self.editor.set_known_tags(sorted(catalog.tags))
        if hasattr(self.editor, "set_known"):  # pickers of the properties panel
            self.editor.set_known(
                products=catalog.products, funnels=catalog.funnels,
                bot_roles=catalog.bot_roles, accounts=catalog.manager_accounts,
            )
            # an engine on a server cannot read this computer's files (media picker)
            self.editor.properties.local_files_reachable = isinstance(self.backend, EmbeddedBackend)
            # picked media files go to the project's media store (engine/media_store.py)
            from desktop.editor.properties.media_editor import backend_previewer, backend_uploader

            self.editor.properties.upload_media = backend_uploader(self.backend, self.project)
            self.editor.properties.fetch_media = backend_previewer(self.backend, self.project)
            self.editor.properties.media_root = (
                await self.backend.media_root(self.project)
                if isinstance(self.backend, EmbeddedBackend) else None
            )
        if hasattr(self.editor, "load"):
            self.editor.load(self.draft.document)
            # Once the window has its final size, show the start of the robot at a
            # readable zoom (a whole 30-node robot fitted in view is too small to read).
            QTimer.singleShot(50, self.show_start)
        self._show_version()
        self.refresh_timer.start()
        await self.validate(quiet=True)

    def show_start(self) -> None:
        if self.draft is None or not hasattr(self.editor, "show_region"):
            return
        # About 180 px per node keeps the titles readable (NodeGraphQt hides text when
        # zoomed out further).
        fits = max(3, self.editor.viewer.width() // 180) if hasattr(self.editor, "viewer") else 5
        leftmost = sorted(self.draft.document.nodes, key=lambda n: (n.ui.x, n.ui.y))[:fits]
        self.editor.show_region([str(n.id) for n in leftmost], max_scale=1.0)

    def _show_version(self) -> None:
        if self.draft is None:
            self.version_label.clear()
            return
        version = self.draft.published_version
        state = t("version", n=version) if version else t("draft")
        self.version_label.setText(f"  {self.draft.document.name} · {state}  ")

    async def save(self) -> None:
        if self.draft is None or self.project is None:
            return
        doc = self.editor.document()
        revision = await self.backend.save_draft(
            self.project, self.draft.id, doc, self.draft.revision, by="desktop"
        )
        self.draft = FunnelDraft(self.draft.id, doc, revision, self.draft.published_version)
        self.statusBar().showMessage(t("saved", n=revision), 4000)
        await self.reload_robots()

    async def validate(self, quiet: bool = False) -> None:
        if self.draft is None or self.project is None:
            return
        doc = self.editor.document() if hasattr(self.editor, "document") else self.draft.document
        problems = await self.backend.validate(self.project, doc)
        if hasattr(self.editor, "set_problems"):
            self.editor.set_problems(problems)
        if not quiet:
            message = t("problems_found", n=len(problems)) if problems else t("no_problems")
            self.statusBar().showMessage(message, 4000)

    async def publish(self) -> None:
        await self.save()
        assert self.draft is not None and self.project is not None
        outcome = await self.backend.publish(self.project, self.draft.id, by="desktop")
        self.draft = FunnelDraft(
            self.draft.id, self.draft.document, self.draft.revision, outcome.version
        )
        self._show_version()
        message = t("published", n=outcome.version)
        if outcome.contacts_on_removed_nodes:
            message += "\n" + t("removed_nodes", n=outcome.contacts_on_removed_nodes)
            self.inform(t("publish"), message)
        self.statusBar().showMessage(message, 6000)
        await self.reload_robots()

    async def refresh_counts(self) -> None:
        if self.draft is None or self.project is None or not hasattr(self.editor, "set_counts"):
            return
        if self.simulator.active:
            return  # the badges show the chat simulator's sandbox
        counts = await self.backend.node_counts(self.project, self.draft.id)
        self.editor.set_counts(counts)

    # --- robot actions --------------------------------------------------------------------

    async def new_robot(self) -> None:
        from uuid import uuid4

        from graph.document import FunnelDocument

        assert self.project
        name = self.prompt_text(t("new"), t("new_name"))
        if not name:
            return
        funnel_id = await self.backend.create_funnel(
            self.project, FunnelDocument(id=uuid4(), name=name.strip()), by="desktop"
        )
        await self.reload_robots()
        await self.open_robot(funnel_id)

    async def rename_robot(self) -> None:
        """Rename the open robot: the name is part of its draft, saved with the usual
        revision check, so a concurrent edit is never overwritten."""
        if self.draft is None or self.project is None:
            return
        name = self.prompt_text(t("rename"), t("rename_prompt"), self.draft.document.name)
        if not name or name == self.draft.document.name:
            return
        if any(f.name.casefold() == name.casefold() for f in self.funnels):
            self.show_error(t("name_taken", name=name))
            return
        doc = self.editor.document().model_copy(update={"name": name})
        revision = await self.backend.save_draft(
            self.project, self.draft.id, doc, self.draft.revision, by="desktop"
        )
        self.draft = FunnelDraft(self.draft.id, doc, revision, self.draft.published_version)
        self.editor.set_funnel_name(name)
        self._show_version()
        await self.reload_robots()

    def prompt_text(self, title: str, label: str, value: str = "") -> str | None:
        """One line of text from the user, stripped; None if cancelled (tests replace it)."""
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text.strip() or None if ok else None

    async def duplicate_robot(self) -> None:
        if self.draft is None or self.project is None:
            return
        funnel_id = await self.backend.duplicate_funnel(
            self.project, self.draft.document.name, by="desktop"
        )
        await self.reload_robots()
        await self.open_robot(funnel_id)

    async def delete_robot(self) -> None:
        if self.draft is None or self.project is None:
            return
        if not self.ask(t("delete"), f"{t('delete')} «{self.draft.document.name}»?"):
            return
        await self.backend.delete_funnel(self.project, self.draft.id)
        self.draft = None
        await self.reload_robots()

    def ask(self, title: str, question: str) -> bool:
        """A yes/no question to the user (tests replace it)."""
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    async def copy_robot(self, robot: str, target: str) -> bool:
        """Copy ``robot`` of the current project to ``target``, showing the remap first."""
        assert self.project
        if target == self.project:
            await self.backend.duplicate_funnel(self.project, robot, by="desktop")
            await self.reload_robots()
            return True
        plan = await self.backend.plan_copy(self.project, robot, target)
        errors = [p for p in plan.problems if p.is_error]
        if errors:
            lines = "\n".join(p.message_ru if language() == "ru" else p.message for p in errors)
            self.show_error(t("copy_refused", problems=lines))
            return False
        summary = describe_plan(plan)
        question = t("copy_question", robot=robot, project=target, plan=summary)
        if not self.ask(t("copy_title"), question):
            return False
        await self.backend.copy_funnel(self.project, robot, target, by="desktop")
        self.statusBar().showMessage(t("copy_done", project=target), 5000)
        return True

    # --- contacts on a node, versions ----------------------------------------------------

    async def show_node_contacts(self, node_id: str) -> None:
        """The contacts on ``node_id`` now (a click on its badge)."""
        if self.draft is None or self.project is None:
            return
        from desktop.dialogs import NodeContactsDialog

        contacts = await self.backend.contacts_on_node(self.project, self.draft.id, node_id)
        node = self.editor.node(node_id) if hasattr(self.editor, "node") else None
        title = node.display_title() if node is not None else node_id[:8]
        if self.contacts_dialog is None:
            self.contacts_dialog = NodeContactsDialog(self)
        self.contacts_dialog.show_contacts(node_id, title, contacts)
        self.contacts_dialog.show()
        self.contacts_dialog.raise_()

    async def show_history(self) -> None:
        """Published versions of the open robot, each can be opened read-only."""
        if self.draft is None or self.project is None:
            return
        from desktop.dialogs import VersionHistoryDialog

        versions = await self.backend.funnel_versions(self.project, self.draft.id)
        if self.history_dialog is None:
            self.history_dialog = VersionHistoryDialog(self)
            self.history_dialog.openRequested.connect(
                lambda version: self.run(self.open_version(version))
            )
        self.history_dialog.show_versions(self.draft.document.name, versions)
        self.history_dialog.show()
        self.history_dialog.raise_()

    async def open_version(self, version: int) -> Any:
        """Open a published version of the current robot in a read-only window."""
        if self.draft is None or self.project is None:
            return None
        from desktop.dialogs import VersionWindow

        versions = await self.backend.funnel_versions(self.project, self.draft.id)
        info = next(v for v in versions if v.version == version)
        doc = await self.backend.version_document(self.project, self.draft.id, version)
        for closed in [w for w in self.version_windows if not w.isVisible()]:
            self.version_windows.remove(closed)
            closed.deleteLater()
        window = VersionWindow(doc, info, self)
        self.version_windows.append(window)
        window.show()
        QTimer.singleShot(50, window.show_start)
        return window

    # --- connecting to a server -------------------------------------------------------------

    def tokens(self) -> Any:
        if self.token_store is None:
            from desktop.token_store import TokenStore

            self.token_store = TokenStore()
        return self.token_store

    def open_connect_dialog(self, url: str = "") -> Any:
        """Ask for a server and credentials (non-modal; connects when accepted)."""
        from desktop.dialogs import ConnectDialog

        dialog = ConnectDialog(self, url=url or getattr(self.backend, "base_url", ""))
        dialog.accepted.connect(lambda: self.run(self.connect_to_server(dialog.request())))
        dialog.open()
        return dialog

    async def connect_to_server(self, request: Any) -> None:
        """Switch to the engine at ``request.url`` (login + password, a token, or the
        token stored for that server); the token is remembered for next time."""
        from desktop.remote_client import RemoteBackend

        url = request.url.strip().rstrip("/")
        if not url:
            raise ValueError(t("no_url"))
        token = request.token or (None if request.login else self.tokens().get(url))
        if not token and not request.login:
            raise ValueError(t("no_credentials"))
        remote = RemoteBackend(url, token, transport=self.remote_transport)
        try:
            if request.login:
                token = await remote.login(request.login, request.password)
            else:
                await remote.check()
        except BaseException:
            await remote.close()
            raise
        assert token is not None
        self.tokens().set(url, token)
        await self.use_backend(remote)
        self.statusBar().showMessage(t("connected", url=url), 5000)

    async def use_local(self) -> None:
        """Back to the embedded engine (the server's token stays stored)."""
        if self.embedded is not None:
            await self.use_backend(self.embedded)

    async def reconnect(self, url: str) -> None:
        """Connect with the token stored for ``url``; ask for credentials if there is none
        or it no longer works."""
        from desktop.dialogs import ConnectRequest
        from desktop.remote_client import AuthError

        if self.tokens().get(url) is None:
            self.open_connect_dialog(url)
            return
        try:
            await self.connect_to_server(ConnectRequest(url))
        except AuthError:
            self.tokens().delete(url)
            self.open_connect_dialog(url)

    async def use_backend(self, backend: EngineBackend) -> None:
        """Work with ``backend`` from now on (a previous remote one is closed; the
        embedded engine belongs to the app and stays open)."""
        previous = self.backend
        self.refresh_timer.stop()
        self.backend = backend
        self.local_action.setVisible(
            self.embedded is not None and not isinstance(backend, EmbeddedBackend)
        )
        if previous is not backend and not isinstance(previous, EmbeddedBackend):
            await previous.close()
        await self.load()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.refresh_timer.stop()
        for task in list(self.tasks):
            task.cancel()
        super().closeEvent(event)
        self.closed.emit()


def describe_plan(plan: Any) -> str:
    lines = [
        t("bot_map", role=b.role, source=b.source_bot or "—", target=b.target_bot or "—")
        for b in plan.bots
    ]
    lines += [t("tag_new", tag=tag) for tag in plan.tags_to_create]
    lines += [t("product_new", p=p) for p in plan.products_to_create]
    return "\n".join(lines) or t("nothing_to_map")


def _make_editor() -> QWidget:
    """The robot editor, or a plain placeholder if it cannot be built."""
    with contextlib.suppress(ImportError):
        from desktop.editor.editor_widget import FunnelEditor

        return FunnelEditor()
    placeholder = QLabel("…")
    placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return placeholder
