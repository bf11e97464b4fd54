"""The media picker of a message node: files, URLs and Telegram file_ids.

A media item in the document is ``{"kind", "source"}`` (graph/nodes/message.py). The
source is read the way the Telegram connector reads it (connectors/telegram_bot.py,
``_input_file``): an ``http(s)://`` address is a URL, anything with a slash, backslash or
dot is a file path (relative ones are looked up in the project's media folder), the rest
is a Telegram file_id.

A picked local file is uploaded to the project's media store when the field has an
``upload`` function (the main window gives it one for either backend: the embedded one
copies the file into the workspace, a server receives it over ``POST
/projects/{p}/media``); the document then keeps the store's relative source
``media/<sha256>/<name>`` (engine/media_store.py), which works on any machine and
travels with copies of the robot to other projects. While the upload runs the row shows
its progress and keeps the absolute path (so nothing is lost if it fails; the row then
says why). Without ``upload`` the absolute path is stored and the engine reads the file
when it sends. The picker checks that local files exist and names the missing ones
plainly; an engine on another machine cannot read this computer's files, so the panel can
be told (``local_files_reachable = False``) to say so beside every local path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from desktop.editor.properties.fields import FieldEditor
from desktop.editor.properties.row_list import RowList
from desktop.i18n import choice_label, language, register
from engine.media_store import is_stored_source

t = register(
    "media",
    {
        "pick": ("Выбрать файл…", "Choose a file…"),
        "paste_placeholder": (
            "или вставьте ссылку или file_id Telegram",
            "or paste a URL or a Telegram file_id",
        ),
        "add": ("Добавить", "Add"),
        "empty": ("Медиа нет", "No media"),
        "dialog_title": ("Выберите файлы для сообщения", "Choose files for the message"),
        "dialog_filter": (
            "Медиа (*.jpg *.jpeg *.png *.webp *.gif *.mp4 *.mov *.webm *.ogg *.oga *.opus *.mp3 "
            "*.m4a *.pdf *.doc *.docx *.xls *.xlsx *.zip);;Все файлы (*)",
            "Media (*.jpg *.jpeg *.png *.webp *.gif *.mp4 *.mov *.webm *.ogg *.oga *.opus *.mp3 "
            "*.m4a *.pdf *.doc *.docx *.xls *.xlsx *.zip);;All files (*)",
        ),
        "origin_url": ("ссылка", "URL"),
        "origin_file_id": ("file_id Telegram", "Telegram file_id"),
        "origin_file": ("файл", "file"),
        "missing": ("Файл не найден: {path}", "File not found: {path}"),
        "not_a_file": ("Это папка, а не файл: {path}", "This is a folder, not a file: {path}"),
        "relative": (
            "путь относительно папки медиа проекта",
            "path relative to the project's media folder",
        ),
        "remote": (
            "Движок на сервере не видит файлы этого компьютера: укажите ссылку или file_id",
            "The engine on the server cannot read this computer's files: use a URL or file_id",
        ),
        "uploading": ("Загрузка… {percent}%", "Uploading… {percent}%"),
        "upload_failed": (
            "Не удалось загрузить файл: {error}",
            "Could not upload the file: {error}",
        ),
        "stored": ("в медиа проекта", "in the project's media"),
        "stored_remote": ("хранится на сервере", "stored on the server"),
        "kind": ("Вид", "Kind"),
        "up": ("Выше", "Up"),
        "down": ("Ниже", "Down"),
        "remove": ("Убрать", "Remove"),
        "field.kind": ("вид", "kind"),
        "field.source": ("источник", "source"),
    },
)

KINDS: tuple[str, ...] = ("photo", "video", "document", "voice", "audio", "animation")
THUMB = 56
ChooseFiles = Callable[[QtWidgets.QWidget], Sequence[str]]
"""Asks the user for files (the panel's ``choose_media_files``; tests replace it)."""
Progress = Callable[[int, int], None]
UploadMedia = Callable[[Path, Progress], Awaitable[str]]
"""Stores a local file in the project's media (reporting ``progress(sent, total)``) and
returns its source for the document; raises with a message for the user."""
FetchMedia = Callable[[str], Awaitable[bytes]]
"""The bytes of a stored ``media/…`` file on the server (for its preview)."""
_PREVIEWS: dict[str, QtGui.QPixmap] = {}
"""Previews of stored files fetched from a server, by source (named by content, so a
source always means the same picture)."""

_VOICE_EXT = {".ogg", ".oga", ".opus"}


def backend_uploader(backend: Any, project: str) -> UploadMedia | None:
    """The ``upload`` of a media field for ``project`` on a window's backend (embedded or
    remote: both have ``upload_media``), or None if the backend cannot store media."""
    upload = getattr(backend, "upload_media", None)
    if upload is None:
        return None

    async def run(path: Path, progress: Progress) -> str:
        return str(await upload(project, path, progress))

    return run


def backend_previewer(backend: Any, project: str) -> FetchMedia | None:
    """Fetches stored media of ``project`` from a server backend for previews (None for a
    backend without ``fetch_media``: the embedded one reads its media folder directly)."""
    fetch = getattr(backend, "fetch_media", None)
    if fetch is None:
        return None

    async def run(source: str) -> bytes:
        return bytes(await fetch(project, source))

    return run


def choose_files_dialog(parent: QtWidgets.QWidget) -> list[str]:
    """The standard "open files" dialog."""
    paths, _filter = QtWidgets.QFileDialog.getOpenFileNames(
        parent, t("dialog_title"), "", t("dialog_filter")
    )
    return list(paths)


def guess_kind(name: str) -> str:
    """The media kind a file name (or URL path) suggests; ``document`` when unsure.
    GIFs are animations, Ogg/Opus voice messages (what Telegram records)."""
    suffix = Path(name.split("?", 1)[0]).suffix.lower()
    if suffix in _VOICE_EXT:
        return "voice"
    mime, _enc = mimetypes.guess_type("x" + suffix) if suffix else (None, None)
    if mime == "image/gif":
        return "animation"
    if mime and mime.startswith("image/"):
        return "photo"
    if mime and mime.startswith("video/"):
        return "video"
    if mime and mime.startswith("audio/"):
        return "audio"
    return "document"


_FILE_ID_KINDS = {
    2: "photo",
    3: "voice",
    4: "video",
    5: "document",
    9: "audio",
    10: "animation",
    13: "video",
}


def file_id_kind(file_id: str) -> str | None:
    """The kind a Bot API file_id was issued for, or None when it cannot be read.

    A file_id is base64url of run-length-encoded bytes (a zero byte is followed by how
    many zeros it stands for) that start with the little-endian file type, flags in the
    high byte (Telegram's own format, also decoded by aiogram-like tools)."""
    try:
        raw = base64.urlsafe_b64decode(file_id + "=" * (-len(file_id) % 4))
    except (ValueError, binascii.Error):
        return None
    data = bytearray()
    i = 0
    while i < len(raw) and len(data) < 4:
        if raw[i] == 0 and i + 1 < len(raw):
            data.extend(b"\0" * raw[i + 1])
            i += 2
        else:
            data.append(raw[i])
            i += 1
    if len(data) < 4:
        return None
    return _FILE_ID_KINDS.get(int.from_bytes(data[:4], "little") & 0xFFFFFF)


def source_origin(source: str) -> str:
    """ "url", "file" or "file_id", as the Telegram connector tells them apart."""
    if source.startswith(("http://", "https://")):
        return "url"
    if any(c in source for c in "/\\.") or source.startswith("file:"):
        return "file"
    return "file_id"


def resolve_path(source: str, media_root: Path | None) -> Path:
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.is_absolute() and media_root is not None:
        path = media_root / path
    return path


def human_size(size: int) -> str:
    """1536 → "1,5 КБ" (Russian) / "1.5 KB" (English)."""
    units = ("Б", "КБ", "МБ", "ГБ") if language() == "ru" else ("B", "KB", "MB", "GB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            text = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
            return f"{text.replace('.', ',') if language() == 'ru' else text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def thumbnail_from_bytes(data: bytes, size: int = THUMB) -> QtGui.QPixmap | None:
    image = QtGui.QImage.fromData(data)
    if image.isNull():
        return None
    if image.width() > size or image.height() > size:
        image = image.scaled(
            size,
            size,
            QtCore.Qt.AspectRatioMode.KeepAspectRatio,
            QtCore.Qt.TransformationMode.SmoothTransformation,
        )
    return QtGui.QPixmap.fromImage(image)


def thumbnail(path: Path, size: int = THUMB) -> QtGui.QPixmap | None:
    """A small preview of an image file (scaled while reading), or None."""
    reader = QtGui.QImageReader(str(path))
    if not reader.canRead():
        return None
    full = reader.size()
    if full.isValid() and (full.width() > size or full.height() > size):
        reader.setScaledSize(full.scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else QtGui.QPixmap.fromImage(image)


_KIND_ICONS: dict[str, QtWidgets.QStyle.StandardPixmap] = {
    "photo": QtWidgets.QStyle.StandardPixmap.SP_FileDialogContentsView,
    "video": QtWidgets.QStyle.StandardPixmap.SP_MediaPlay,
    "animation": QtWidgets.QStyle.StandardPixmap.SP_MediaPlay,
    "voice": QtWidgets.QStyle.StandardPixmap.SP_MediaVolume,
    "audio": QtWidgets.QStyle.StandardPixmap.SP_MediaVolume,
    "document": QtWidgets.QStyle.StandardPixmap.SP_FileIcon,
}


class MediaRow(QtWidgets.QFrame):
    """One media item: preview, kind, name, size or origin, a problem; reorder/remove."""

    changed = QtCore.Signal()
    moveRequested = QtCore.Signal(object, int)
    removeRequested = QtCore.Signal(object)

    def __init__(self, data: dict[str, Any], media_root: Path | None, local_ok: bool) -> None:
        super().__init__()
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setObjectName("mediaRow")
        self.data = dict(data)
        self.media_root = media_root
        self.local_ok = local_ok
        self.local_file: Path | None = None  # the picked original of an uploaded file
        self.status = ""  # upload progress
        self._details_base = ""
        self.upload_error = ""
        self.problem_text = ""
        self.item_errors: list[str] = []
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        self.thumb = QtWidgets.QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: #eef1f5; border-radius: 4px;")
        row.addWidget(self.thumb)

        middle = QtWidgets.QVBoxLayout()
        middle.setSpacing(1)
        top = QtWidgets.QHBoxLayout()
        self.kind = QtWidgets.QComboBox()
        self.kind.setToolTip(t("kind"))
        for kind in KINDS:
            self.kind.addItem(choice_label(kind), kind)
        top.addWidget(self.kind)
        top.addStretch(1)
        self.up_button = self._tool("↑", t("up"))
        self.down_button = self._tool("↓", t("down"))
        self.remove_button = self._tool("✕", t("remove"))
        for button in (self.up_button, self.down_button, self.remove_button):
            top.addWidget(button)
        middle.addLayout(top)
        self.name = QtWidgets.QLabel()
        self.name.setStyleSheet("font-weight: bold;")
        self.name.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QtWidgets.QLabel()
        self.details.setStyleSheet("color: gray; font-size: 11px;")
        self.problem = QtWidgets.QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d03030; font-size: 11px;")
        for label in (self.name, self.details):
            label.setMinimumWidth(40)
            label.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
            )
        middle.addWidget(self.name)
        middle.addWidget(self.details)
        middle.addWidget(self.problem)
        row.addLayout(middle, 1)

        self.up_button.clicked.connect(lambda: self.moveRequested.emit(self, -1))
        self.down_button.clicked.connect(lambda: self.moveRequested.emit(self, 1))
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))
        self._refresh()
        self.kind.currentIndexChanged.connect(self._on_kind)

    def _tool(self, text: str, tip: str) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    def _on_kind(self, _index: int) -> None:
        self.data["kind"] = self.kind.currentData()
        self._refresh()
        self.changed.emit()

    def source(self) -> str:
        value = self.data.get("source")
        return value if isinstance(value, str) else ""

    def _refresh(self) -> None:
        kind = self.data.get("kind")
        self.kind.blockSignals(True)
        index = self.kind.findData(kind)
        if index < 0 and kind is not None:  # a kind this app does not know: keep it
            self.kind.addItem(str(kind), kind)
            index = self.kind.count() - 1
        self.kind.setCurrentIndex(max(index, 0))
        self.kind.blockSignals(False)

        source = self.source().strip()
        origin = source_origin(source) if source else "file_id"
        preview: QtGui.QPixmap | None = None
        problem = ""
        stored = is_stored_source(source)
        local = (
            self.local_file if stored and self.local_file and self.local_file.is_file() else None
        )
        if origin == "file" and stored and local is None and self.media_root is None:
            # uploaded to a server: the file is there, not on this computer
            self.name.setText(source.rsplit("/", 1)[-1])
            self.name.setToolTip(source)
            self.details.setText(" · ".join((t("origin_file"), t("stored_remote"))))
            preview = _PREVIEWS.get(source)
        elif origin == "file":
            path = local or resolve_path(source, self.media_root)
            self.name.setText(path.name or source)
            self.name.setToolTip(str(path))
            parts = [t("origin_file")]
            if stored:
                parts.append(t("stored"))
            elif not Path(source).is_absolute() and self.media_root is None:
                parts.append(t("relative"))
            if path.is_file():
                parts.append(human_size(path.stat().st_size))
                mime, _enc = mimetypes.guess_type(path.name)
                if mime:
                    parts.append(mime)
                if mime and mime.startswith("image/"):
                    preview = thumbnail(path)
            elif path.exists():
                problem = t("not_a_file", path=path)
            else:
                problem = t("missing", path=path)
            if not self.local_ok and not stored and not self.status:
                problem = "\n".join(p for p in (problem, t("remote")) if p)
            if self.upload_error:
                problem = "\n".join(p for p in (self.upload_error, problem) if p)
            self._details_base = " · ".join(parts)
            self.set_status(self.status)
        else:
            shown = source if len(source) <= 44 else source[:30] + "…" + source[-10:]
            self.name.setText(shown)
            self.name.setToolTip(source)
            self.details.setText(t("origin_url") if origin == "url" else t("origin_file_id"))
        self.problem_text = problem
        self._show_problem()
        self.has_thumbnail = preview is not None
        if preview is None:
            icon = self.style().standardIcon(_KIND_ICONS.get(str(kind), _KIND_ICONS["document"]))
            preview = icon.pixmap(28, 28)
        self.thumb.setPixmap(preview)

    def set_status(self, status: str) -> None:
        """Show the upload's progress after the file's details ("" when none)."""
        self.status = status
        self.details.setText(" · ".join(p for p in (self._details_base, status) if p))

    def set_item_errors(self, errors: list[str]) -> None:
        self.item_errors = errors
        self._show_problem()

    def _show_problem(self) -> None:
        text = "\n".join(p for p in (self.problem_text, *self.item_errors) if p)
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def value(self) -> dict[str, Any]:
        return dict(self.data)


class MediaField(RowList, FieldEditor):
    """The media list of a message: choose files, paste a URL or file_id, reorder."""

    def __init__(
        self,
        choose_files: ChooseFiles | None = None,
        media_root: Path | None = None,
        local_files_reachable: bool = True,
        upload: UploadMedia | None = None,
        fetch: FetchMedia | None = None,
    ) -> None:
        super().__init__()
        self.choose_files: ChooseFiles = choose_files or choose_files_dialog
        self.media_root = media_root
        self.local_ok = local_files_reachable
        self.upload = upload
        self.fetch = fetch
        self.uploads: set[asyncio.Future[None]] = set()  # uploads and preview downloads
        self.rows: list[MediaRow] = []
        self._raw: Any = None  # a value that is not a list: kept until the user edits
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.rows_box = QtWidgets.QVBoxLayout()
        self.rows_box.setSpacing(4)
        self.empty = QtWidgets.QLabel(t("empty"))
        self.empty.setStyleSheet("color: gray;")
        layout.addWidget(self.empty)
        layout.addLayout(self.rows_box)
        self.pick_button = QtWidgets.QPushButton(t("pick"))
        self.pick_button.setIcon(
            self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_DialogOpenButton)
        )
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.pick_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        paste = QtWidgets.QHBoxLayout()
        self.paste_input = QtWidgets.QLineEdit()
        self.paste_input.setPlaceholderText(t("paste_placeholder"))
        self.paste_button = QtWidgets.QPushButton(t("add"))
        paste.addWidget(self.paste_input, 1)
        paste.addWidget(self.paste_button)
        layout.addLayout(paste)
        self.pick_button.clicked.connect(self.pick_files)
        self.paste_button.clicked.connect(self.add_from_input)
        self.paste_input.returnPressed.connect(self.add_from_input)

    # -- adding -----------------------------------------------------------------------------

    def pick_files(self) -> list[str]:
        """Ask for files (the overridable ``choose_files``) and add them (uploading them
        when the field can); their paths."""
        paths = [str(Path(p).resolve()) for p in self.choose_files(self) if p]
        if paths:
            rows = [self._append({"kind": guess_kind(path), "source": path}) for path in paths]
            self._changed()
            for row in rows:
                self._start_upload(row)
        return paths

    def _start_upload(self, row: MediaRow) -> None:
        source = row.source()
        if self.upload is None or not Path(source).is_absolute() or not Path(source).is_file():
            return
        row.status = t("uploading", percent=0)
        row.upload_error = ""
        row._refresh()
        task = asyncio.ensure_future(self._upload(row, Path(source)))
        self.uploads.add(task)
        task.add_done_callback(self.uploads.discard)

    async def _upload(self, row: MediaRow, path: Path) -> None:
        assert self.upload is not None

        def progress(sent: int, total: int) -> None:
            percent = 100 if total <= 0 else min(100, sent * 100 // total)
            row.set_status(t("uploading", percent=percent))

        try:
            source = await self.upload(path, progress)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown in the row; the absolute path stays
            row.status = ""
            row.upload_error = t("upload_failed", error=str(exc) or type(exc).__name__)
            if row in self.rows:
                row._refresh()
                self._emit()  # the panel re-reads the field's problems
            return
        row.status = ""
        if row not in self.rows or row.source() != str(path):
            return  # removed or replaced meanwhile
        row.local_file = path
        row.data["source"] = source
        row._refresh()
        self._changed()

    def _start_preview(self, row: MediaRow) -> None:
        """Download the preview of an image stored on the server (once per source)."""
        source = row.source()
        mime, _enc = mimetypes.guess_type(source)
        if (
            self.fetch is None
            or row.has_thumbnail
            or not is_stored_source(source)
            or not (mime or "").startswith("image/")
        ):
            return
        task = asyncio.ensure_future(self._preview(row, source))
        self.uploads.add(task)
        task.add_done_callback(self.uploads.discard)

    async def _preview(self, row: MediaRow, source: str) -> None:
        assert self.fetch is not None
        try:
            data = await self.fetch(source)
        except Exception:  # a preview is a nicety: the row still names the file
            return
        preview = thumbnail_from_bytes(data)
        if preview is None:
            return
        _PREVIEWS[source] = preview
        if row in self.rows and row.source() == source:
            row._refresh()

    async def wait_uploads(self) -> None:
        """Until the uploads started so far are done (tests, closing the window)."""
        while self.uploads:
            await asyncio.gather(*self.uploads, return_exceptions=True)

    def add_source(self, text: str) -> bool:
        """Add a pasted URL, file_id or path; False when it is empty."""
        source = text.strip()
        if not source:
            return False
        if (
            source_origin(source) == "file"
            and resolve_path(source, self.media_root).is_file()
            and Path(source).is_absolute()
        ):
            source = str(Path(source).resolve())
        origin = source_origin(source)
        kind = guess_kind(source) if origin != "file_id" else file_id_kind(source) or "document"
        row = self._append({"kind": kind, "source": source})
        self._changed()
        self._start_upload(row)
        return True

    def add_from_input(self) -> None:
        if self.add_source(self.paste_input.text()):
            self.paste_input.clear()

    # -- rows -------------------------------------------------------------------------------

    def _append(self, data: dict[str, Any]) -> MediaRow:
        row = MediaRow(data, self.media_root, self.local_ok)
        row.changed.connect(self._changed)
        row.moveRequested.connect(self.move_row)
        row.removeRequested.connect(self.remove_row)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._update_buttons()
        self._start_preview(row)
        return row

    def _update_buttons(self) -> None:
        self.empty.setVisible(not self.rows)
        for i, row in enumerate(self.rows):
            row.up_button.setEnabled(i > 0)
            row.down_button.setEnabled(i < len(self.rows) - 1)

    def _changed(self) -> None:
        self._raw = None
        self._update_buttons()
        self._emit()

    # -- value ------------------------------------------------------------------------------

    def value(self) -> Any:
        if self._raw is not None:
            return self._raw
        return [row.value() for row in self.rows]

    def _show(self, value: Any) -> None:
        self._clear_rows()
        items = value if isinstance(value, list) else []
        plain = all(isinstance(item, dict) for item in items)
        self._raw = value if value is not None and not (isinstance(value, list) and plain) else None
        for item in items if plain else []:
            self._append(item)
        self._update_buttons()

    def problems(self) -> list[str]:
        """Problems with the listed files (missing ones), one per line of a row."""
        return [row.problem_text for row in self.rows if row.problem_text]

    def show_item_errors(self, errors: Sequence[tuple[Sequence[str], str]]) -> list[str]:
        by_row: dict[int, list[str]] = {}
        rest: list[str] = []
        for path, text in errors:
            if path and path[0].isdigit() and int(path[0]) < len(self.rows):
                field = ".".join(path[1:])
                label = t(f"field.{field}") if field in ("kind", "source") else field
                by_row.setdefault(int(path[0]), []).append(f"{label}: {text}" if field else text)
            else:
                rest.append(f"{'.'.join(path)}: {text}" if path else text)
        for i, row in enumerate(self.rows):
            row.set_item_errors(by_row.get(i, []))
        return rest

    def shown_errors(self) -> list[str]:
        return [row.problem.text() for row in self.rows if row.problem.text()]
