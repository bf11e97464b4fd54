"""The main window: projects and robots on the left, the robot editor in the centre.

Everything goes through ``WorkspaceService`` (the embedded engine); slow work runs as
asyncio tasks on the qasync loop so the UI never blocks, and failures are shown plainly.
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
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import language
from engine.service import FunnelDraft, FunnelSummary, WorkspaceService

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
    "problems_found": ("Найдено проблем: {n}", "Problems found: {n}"),
    "no_problems": ("Проблем нет", "No problems"),
}


def t(key: str, **kwargs: object) -> str:
    ru, en = _STRINGS[key]
    return (ru if language() == "ru" else en).format(**kwargs)


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

    def __init__(self, service: WorkspaceService) -> None:
        super().__init__()
        self.service = service
        self.project: str | None = None
        self.draft: FunnelDraft | None = None
        self.funnels: list[FunnelSummary] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.resize(1400, 860)
        self._build()

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
        for action in (self.save_action, self.validate_action, self.publish_action):
            toolbar.addAction(action)
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
        robot_bar = QToolBar()
        for key, handler in (
            ("new", self.new_robot),
            ("duplicate", self.duplicate_robot),
            ("delete", self.delete_robot),
        ):
            action = QAction(t(key), self)
            action.triggered.connect(lambda _=False, h=handler: self.run(h()))
            robot_bar.addAction(action)
        layout.addWidget(robot_bar)
        side.setMaximumWidth(290)
        dock = QDockWidget(t("robots"))
        dock.setObjectName("robots")
        dock.setWidget(side)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.editor = _make_editor()
        self.setCentralWidget(self.editor)
        self.status = QLabel()
        self.statusBar().addWidget(self.status)
        self.refresh_timer = QTimer(self, interval=1000)
        self.refresh_timer.timeout.connect(lambda: self.run(self.refresh_counts(), quiet=True))

    # --- async plumbing -------------------------------------------------------------------

    def run(self, work: Awaitable[Any], quiet: bool = False) -> None:
        """Run ``work`` on the event loop; show its error instead of losing it."""

        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                if not quiet:
                    QMessageBox.warning(self, t("error"), str(exc))

        task = asyncio.ensure_future(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- data -----------------------------------------------------------------------------

    async def load(self) -> None:
        projects = await self.service.list_projects()
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
        project = await self.service.workspace.get_project(name)
        self.status.setText(t("status", where=project.display_location))
        await self.reload_robots()
        if self.funnels:
            # The oldest robot first: in the demo project that is the open-bot funnel.
            await self.open_robot(min(f.id for f in self.funnels))

    async def reload_robots(self) -> None:
        assert self.project
        self.funnels = await self.service.list_funnels(self.project)
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
        self.draft = await self.service.load_draft(self.project, funnel_id)
        catalog = await self.service.catalog(self.project)
        if hasattr(self.editor, "set_known_tags"):
            self.editor.set_known_tags(sorted(catalog.tags))
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
        revision = await self.service.save_draft(
            self.project, self.draft.id, doc, self.draft.revision, by="desktop"
        )
        self.draft = FunnelDraft(self.draft.id, doc, revision, self.draft.published_version)
        self.statusBar().showMessage(t("saved", n=revision), 4000)
        await self.reload_robots()

    async def validate(self, quiet: bool = False) -> None:
        if self.draft is None or self.project is None:
            return
        doc = self.editor.document() if hasattr(self.editor, "document") else self.draft.document
        problems = await self.service.validate(self.project, doc)
        if hasattr(self.editor, "set_problems"):
            self.editor.set_problems(problems)
        if not quiet:
            message = t("problems_found", n=len(problems)) if problems else t("no_problems")
            self.statusBar().showMessage(message, 4000)

    async def publish(self) -> None:
        await self.save()
        assert self.draft is not None and self.project is not None
        outcome = await self.service.publish(self.project, self.draft.id, by="desktop")
        self.draft = FunnelDraft(
            self.draft.id, self.draft.document, self.draft.revision, outcome.version
        )
        self._show_version()
        message = t("published", n=outcome.version)
        if outcome.contacts_on_removed_nodes:
            message += "\n" + t("removed_nodes", n=outcome.contacts_on_removed_nodes)
            QMessageBox.information(self, t("publish"), message)
        self.statusBar().showMessage(message, 6000)
        await self.reload_robots()

    async def refresh_counts(self) -> None:
        if self.draft is None or self.project is None or not hasattr(self.editor, "set_counts"):
            return
        counts = await self.service.node_counts(self.project, self.draft.id)
        self.editor.set_counts(counts)

    # --- robot actions --------------------------------------------------------------------

    async def new_robot(self) -> None:
        from graph.document import FunnelDocument

        assert self.project
        name, ok = QInputDialog.getText(self, t("new"), t("new_name"))
        if not ok or not name.strip():
            return
        funnel_id = await self.service.create_funnel(
            self.project, FunnelDocument(name=name.strip()), by="desktop"
        )
        await self.reload_robots()
        await self.open_robot(funnel_id)

    async def duplicate_robot(self) -> None:
        if self.draft is None or self.project is None:
            return
        funnel_id = await self.service.duplicate_funnel(
            self.project, self.draft.document.name, by="desktop"
        )
        await self.reload_robots()
        await self.open_robot(funnel_id)

    async def delete_robot(self) -> None:
        if self.draft is None or self.project is None:
            return
        if not self.ask(t("delete"), f"{t('delete')} «{self.draft.document.name}»?"):
            return
        await self.service.delete_funnel(self.project, self.draft.id)
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
            await self.service.duplicate_funnel(self.project, robot, by="desktop")
            await self.reload_robots()
            return True
        plan = await self.service.plan_copy(self.project, robot, target)
        errors = [p for p in plan.problems if p.is_error]
        if errors:
            lines = "\n".join(p.message_ru if language() == "ru" else p.message for p in errors)
            QMessageBox.warning(self, t("copy_title"), t("copy_refused", problems=lines))
            return False
        summary = describe_plan(plan)
        question = t("copy_question", robot=robot, project=target, plan=summary)
        if not self.ask(t("copy_title"), question):
            return False
        await self.service.copy_funnel(self.project, robot, target, by="desktop")
        self.statusBar().showMessage(t("copy_done", project=target), 5000)
        return True

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
