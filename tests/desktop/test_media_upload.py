"""The media picker stores picked files in the project's media store: over the HTTP API
(RemoteBackend → POST /projects/{p}/media on the real app) and in the embedded workspace;
failures are shown in the file's row and keep the local path. Also: the project's time
zone reaches the chat simulator (both backends report it)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from db.registry import ProjectRecord
from desktop import i18n
from desktop.backend import EmbeddedBackend
from desktop.editor.properties.media_editor import (
    MediaField,
    backend_previewer,
    backend_uploader,
)
from desktop.remote_client import RemoteBackend
from engine.media_store import project_root
from tests.api.conftest import PASSWORD, Api
from tests.desktop import panel_fixtures, test_remote
from tests.desktop.panel_fixtures import settle

loop = panel_fixtures.loop
window = panel_fixtures.window
server = test_remote.server
_isolated_environment = test_remote._isolated_environment  # fixtures



def _png() -> bytes:
    from PySide6 import QtCore, QtGui

    image = QtGui.QImage(64, 48, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("#3070d0"))
    data = QtCore.QByteArray()
    buffer = QtCore.QBuffer(data)
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    return bytes(data.data())


PICTURE = _png()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "here" / "Прайс.png"
    path.parent.mkdir()
    path.write_bytes(PICTURE)
    return path


@pytest.fixture
def remote(loop: asyncio.AbstractEventLoop, server: Api) -> Iterator[RemoteBackend]:
    backend = RemoteBackend(test_remote.URL, transport=httpx.ASGITransport(app=server.app))
    loop.run_until_complete(backend.login("editor", PASSWORD))
    loop.run_until_complete(backend.list_projects())
    yield backend
    loop.run_until_complete(backend.close())


def _field(qtbot: Any, upload: Any, files: list[Path], **kw: Any) -> MediaField:
    i18n.set_language("ru")
    field = MediaField(lambda parent: [str(f) for f in files], upload=upload, **kw)
    qtbot.addWidget(field)
    field.show()
    return field


def test_picked_file_is_uploaded_to_the_server(
    qtbot: Any, loop: asyncio.AbstractEventLoop, server: Api, remote: RemoteBackend,
    picture: Path,
) -> None:  # fmt: skip
    seen: list[str] = []
    upload = backend_uploader(remote, "Демо")
    assert upload is not None

    async def watched(path: Path, progress: Any) -> str:
        def report(sent: int, total: int) -> None:
            progress(sent, total)
            seen.append(field.rows[0].details.text())

        return await upload(path, report)

    field = _field(qtbot, watched, [picture], local_files_reachable=False)
    edits: list[Any] = []
    field.edited.connect(lambda: edits.append(field.value()))
    assert field.pick_files() == [str(picture)]
    row = field.rows[0]
    assert "Загрузка… 0%" in row.details.text() and row.problem_text == ""
    assert field.value() == [{"kind": "photo", "source": str(picture)}]  # until uploaded
    loop.run_until_complete(field.wait_uploads())

    sha = hashlib.sha256(PICTURE).hexdigest()
    source = f"media/{sha}/Прайс.png"
    assert field.value() == [{"kind": "photo", "source": source}]
    assert any("Загрузка… 100%" in text for text in seen)
    assert edits[-1] == [{"kind": "photo", "source": source}]  # the document gets it
    assert "в медиа проекта" in row.details.text() and "Загрузка" not in row.details.text()
    assert row.problem_text == "" and field.problems() == []
    assert row.has_thumbnail  # previewed from the picked original
    stored = project_root(server.service.workspace.directory, server.demo.slug) / source
    assert stored.read_bytes() == PICTURE

    # The same document opened elsewhere (no local copy): known to be on the server.
    other = _field(qtbot, None, [], local_files_reachable=False)
    other.set_value([{"kind": "photo", "source": source}])
    assert other.rows[0].problem_text == ""
    assert "хранится на сервере" in other.rows[0].details.text()
    assert other.rows[0].name.text() == "Прайс.png"
    assert not other.rows[0].has_thumbnail
    # … and with the server at hand its preview is downloaded (GET /projects/{p}/media/…).
    fetching = MediaField(fetch=backend_previewer(remote, "Демо"), local_files_reachable=False)
    qtbot.addWidget(fetching)
    fetching.set_value([{"kind": "photo", "source": source}])
    loop.run_until_complete(fetching.wait_uploads())
    assert fetching.rows[0].has_thumbnail and fetching.problems() == []


def test_upload_failures_are_shown_in_the_row(
    qtbot: Any, loop: asyncio.AbstractEventLoop, server: Api, remote: RemoteBackend,
    picture: Path,
) -> None:  # fmt: skip
    server.app.state.media_max_bytes = 100
    field = _field(qtbot, backend_uploader(remote, "Демо"), [picture])
    field.pick_files()
    loop.run_until_complete(field.wait_uploads())
    assert field.value() == [{"kind": "photo", "source": str(picture)}]  # nothing lost
    [problem] = field.problems()
    assert problem.startswith("Не удалось загрузить файл:") and "limit of 100 bytes" in problem
    assert not field.rows[0].problem.isHidden() and "100 bytes" in field.rows[0].problem.text()

    viewer = RemoteBackend(test_remote.URL, transport=httpx.ASGITransport(app=server.app))
    loop.run_until_complete(viewer.login("viewer", PASSWORD))
    try:
        field = _field(qtbot, backend_uploader(viewer, "Демо"), [picture])
        field.pick_files()
        loop.run_until_complete(field.wait_uploads())
        assert field.value() == [{"kind": "photo", "source": str(picture)}]
        assert "Недостаточно прав" in field.problems()[0]
    finally:
        loop.run_until_complete(viewer.close())


def test_embedded_backend_copies_into_the_project_store(
    qtbot: Any, loop: asyncio.AbstractEventLoop, server: Api, picture: Path
) -> None:
    backend = EmbeddedBackend(server.service)  # the service is closed by its fixture
    root = loop.run_until_complete(backend.media_root("Демо"))
    assert root == project_root(server.service.workspace.directory, server.demo.slug)
    field = _field(qtbot, backend_uploader(backend, "Демо"), [picture], media_root=root)
    field.add_source(str(picture))  # a pasted local path is stored too
    loop.run_until_complete(field.wait_uploads())
    [item] = field.value()
    assert item["source"].startswith("media/") and (root / item["source"]).read_bytes() == PICTURE
    picture.unlink()  # the original may go: the project has its copy
    field.set_value(field.value())
    assert field.problems() == [] and field.rows[0].has_thumbnail


def test_window_wires_the_upload_and_the_simulator_gets_the_project_time_zone(
    window: Any, loop: asyncio.AbstractEventLoop, picture: Path
) -> None:
    service = window.service

    async def set_zone() -> None:
        async with service.workspace.registry_engine.begin() as connection:
            await connection.execute(
                update(ProjectRecord)
                .where(ProjectRecord.name == "Демо")
                .values(timezone="Asia/Yekaterinburg")
            )

    loop.run_until_complete(set_zone())
    loop.run_until_complete(window.load())
    settle(loop, window)
    assert window.projects["Демо"].timezone == "Asia/Yekaterinburg"

    properties = window.editor.properties
    assert properties.media_root == project_root(service.workspace.directory, "demo")
    assert properties.upload_media is not None
    assert properties.fetch_media is None  # embedded: previews read from the media folder
    source = loop.run_until_complete(properties.upload_media(picture, lambda s, t: None))
    assert (properties.media_root / source).read_bytes() == PICTURE

    panel = window.simulator.panel
    panel.start_time = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    window.simulator.open()
    settle(loop, window)
    assert panel.sandbox is not None and panel.sandbox.spec.timezone == "Asia/Yekaterinburg"
    assert panel.sandbox.harness.engine.tz.key == "Asia/Yekaterinburg"
    assert panel._when(panel.sandbox.now()).endswith("11:30")  # UTC+5, not Moscow's 09:30
    window.simulator.toggle_action.setChecked(False)
    settle(loop, window)


def test_remote_backend_reports_the_project_time_zone(
    loop: asyncio.AbstractEventLoop, server: Api, remote: RemoteBackend
) -> None:
    infos = {p.name: p for p in loop.run_until_complete(remote.list_projects())}
    assert infos["Демо"].timezone == server.demo.timezone == "Europe/Moscow"
