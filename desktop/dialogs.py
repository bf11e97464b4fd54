"""Small windows of the main window: connecting to a server, the contacts on a node, the
version history of a robot and a published version opened read-only.

They are plain widgets filled by the caller (no engine calls here), shown non-modally so
the event loop keeps running and tests can look inside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.backend import NodeContact, VersionInfo
from desktop.i18n import language, register
from graph.document import FunnelDocument

_STRINGS: dict[str, tuple[str, str]] = {
    "connect_title": ("Подключиться к серверу", "Connect to server"),
    "url": ("Адрес сервера:", "Server URL:"),
    "login": ("Логин:", "Login:"),
    "password": ("Пароль:", "Password:"),
    "token": ("Токен API:", "API token:"),
    "by_password": ("Логин и пароль", "Login and password"),
    "by_token": ("Токен", "Token"),
    "connect": ("Подключиться", "Connect"),
    "connect_hint": (
        "Адрес движка, например https://voronka.example.org:8765. Токен сохраняется в "
        "хранилище паролей системы (или в зашифрованном файле).",
        "The engine's address, e.g. https://voronka.example.org:8765. The token is kept in "
        "the system keyring (or an encrypted file).",
    ),
    "contacts_title": ("Контакты на шаге «{node}»", "Contacts on “{node}”"),
    "contacts_count": ("Сейчас на шаге: {n}", "On this step now: {n}"),
    "contacts_none": ("На этом шаге сейчас никого нет.", "Nobody is on this step now."),
    "col_name": ("Имя", "Name"),
    "col_username": ("@username", "@username"),
    "col_tg": ("Telegram id", "Telegram id"),
    "col_since": ("На шаге с", "Here since"),
    "col_state": ("Состояние", "State"),
    "waiting": ("ждёт", "waiting"),
    "active": ("в работе", "active"),
    "history_title": ("История версий «{robot}»", "Versions of “{robot}”"),
    "col_version": ("Версия", "Version"),
    "col_when": ("Опубликована", "Published"),
    "col_who": ("Кто", "By"),
    "open_ro": ("Открыть только для чтения", "Open read-only"),
    "no_versions": ("Робот ещё не опубликован.", "The robot has not been published yet."),
    "close": ("Закрыть", "Close"),
    "ro_title": ("{robot} — версия {n} (только чтение)", "{robot} — version {n} (read-only)"),
    "ro_banner": (
        "Версия {n}, опубликована {when}{who}. Только просмотр: изменения вносятся в черновик.",
        "Version {n}, published {when}{who}. View only: changes go into the draft.",
    ),
}


t = register("dialogs", _STRINGS)


def fmt_time(value: datetime) -> str:
    """Local time, to the minute."""
    return value.astimezone().strftime("%d.%m.%Y %H:%M")


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))


# --- connecting -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectRequest:
    url: str
    login: str = ""
    password: str = ""
    token: str = ""


class ConnectDialog(QDialog):
    """Server URL and either login + password or an API token."""

    def __init__(self, parent: QWidget | None = None, url: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(t("connect_title"))
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        hint = QLabel(t("connect_hint"))
        hint.setWordWrap(True)
        layout.addWidget(hint)
        form = QFormLayout()
        self.url = QLineEdit(url, placeholderText="https://…:8765")
        form.addRow(t("url"), self.url)
        layout.addLayout(form)
        self.tabs = QTabWidget()
        by_password = QWidget()
        pf = QFormLayout(by_password)
        self.login = QLineEdit()
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        pf.addRow(t("login"), self.login)
        pf.addRow(t("password"), self.password)
        by_token = QWidget()
        tf = QFormLayout(by_token)
        self.token = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        tf.addRow(t("token"), self.token)
        self.tabs.addTab(by_password, t("by_password"))
        self.tabs.addTab(by_token, t("by_token"))
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(t("connect"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(
            "Отмена" if language() == "ru" else "Cancel"
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def request(self) -> ConnectRequest:
        if self.tabs.currentIndex() == 1:
            return ConnectRequest(self.url.text().strip(), token=self.token.text().strip())
        return ConnectRequest(
            self.url.text().strip(), login=self.login.text().strip(), password=self.password.text()
        )


# --- contacts on a node -----------------------------------------------------------------


class NodeContactsDialog(QDialog):
    """Who is on one node now: name, @username, Telegram id, since when."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(680, 420)
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        layout.addWidget(self.summary)
        self.table = _table(
            [t("col_name"), t("col_username"), t("col_tg"), t("col_since"), t("col_state")]
        )
        layout.addWidget(self.table)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.button(QDialogButtonBox.StandardButton.Close).setText(t("close"))
        close.rejected.connect(self.close)
        layout.addWidget(close)
        self.node_id: str | None = None

    def show_contacts(self, node_id: str, node_title: str, contacts: list[NodeContact]) -> None:
        self.node_id = node_id
        self.setWindowTitle(t("contacts_title", node=node_title))
        self.summary.setText(
            t("contacts_count", n=len(contacts)) if contacts else t("contacts_none")
        )
        _fill(
            self.table,
            [
                [
                    c.name or "—",
                    f"@{c.username}" if c.username else "—",
                    str(c.telegram_user_id),
                    fmt_time(c.since),
                    t(c.status) if c.status in ("waiting", "active") else c.status,
                ]
                for c in contacts
            ],
        )
        self.table.clearSelection()
        self.table.setCurrentCell(-1, -1)

    def rows(self) -> list[list[str]]:
        rows = []
        for r in range(self.table.rowCount()):
            items = [self.table.item(r, c) for c in range(self.table.columnCount())]
            rows.append([item.text() if item is not None else "" for item in items])
        return rows


# --- versions ---------------------------------------------------------------------------


class VersionHistoryDialog(QDialog):
    """Published versions of a robot (number, when, who); one can be opened read-only."""

    openRequested = Signal(int)  # version

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(560, 380)
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        layout.addWidget(self.summary)
        self.table = _table([t("col_version"), t("col_when"), t("col_who")])
        self.table.itemDoubleClicked.connect(lambda _item: self._open())
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setText(t("close"))
        self.open_button = QPushButton(t("open_ro"))
        self.open_button.clicked.connect(self._open)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.versions: list[VersionInfo] = []

    def show_versions(self, robot: str, versions: Iterable[VersionInfo]) -> None:
        self.versions = list(versions)
        self.setWindowTitle(t("history_title", robot=robot))
        self.summary.setText("" if self.versions else t("no_versions"))
        self.summary.setVisible(not self.versions)
        _fill(
            self.table,
            [
                [f"v{v.version}", fmt_time(v.published_at), v.published_by or "—"]
                for v in self.versions
            ],
        )
        self.open_button.setEnabled(bool(self.versions))
        if self.versions:
            self.table.selectRow(0)

    def selected_version(self) -> int | None:
        row = self.table.currentRow()
        return self.versions[row].version if 0 <= row < len(self.versions) else None

    def _open(self) -> None:
        version = self.selected_version()
        if version is not None:
            self.openRequested.emit(version)


class VersionWindow(QMainWindow):
    """One published version in a read-only editor, beside the draft."""

    def __init__(
        self, doc: FunnelDocument, info: VersionInfo, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        from desktop.editor.editor_widget import FunnelEditor

        self.setWindowTitle(t("ro_title", robot=doc.name, n=info.version))
        self.resize(1200, 800)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        who = f" · {info.published_by}" if info.published_by else ""
        self.banner = QLabel(
            t("ro_banner", n=info.version, when=fmt_time(info.published_at), who=who)
        )
        self.banner.setStyleSheet(
            "QLabel { background: #fff4d6; color: #6b4e00; padding: 6px 10px; "
            "border-bottom: 1px solid #e6cf8f; }"
        )
        layout.addWidget(self.banner)
        self.editor = FunnelEditor()
        self.editor.load(doc)
        self.editor.set_read_only(True)
        layout.addWidget(self.editor, 1)
        self.setCentralWidget(body)
        self.version = info.version
        self.document = doc

    def show_start(self) -> None:
        """The start of the robot at a readable zoom (about 180 px per node)."""
        fits = max(3, self.editor.viewer.width() // 180)
        leftmost = sorted(self.document.nodes, key=lambda n: (n.ui.x, n.ui.y))[:fits]
        self.editor.show_region([str(n.id) for n in leftmost], max_scale=1.0)
