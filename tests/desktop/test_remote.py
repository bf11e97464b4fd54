"""The main window against an engine server over its HTTP API (the real FastAPI app over a
temp workspace with the demo project, reached through httpx's ASGI transport): connecting,
listing the robots, saving through the API, a stale save, counts and contacts of a node,
versions; the token is remembered (encrypted file when there is no keyring)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.models import BotRole, Channel, ChannelKind
from db.secrets import SECRET_KEY_ENV
from db.workspace import WORKSPACE_ENV
from desktop.backend import DraftConflictError, EmbeddedBackend
from desktop.dialogs import ConnectRequest
from desktop.remote_client import AuthError, RemoteBackend
from desktop.token_store import TokenStore
from engine.service import WorkspaceService
from tests.api.conftest import PASSWORD, Api, build_api
from tests.desktop.traffic import PEOPLE, start_open_bot

URL = "http://engine.test:8765"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def server(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Api]:
    api, service = loop.run_until_complete(build_api(tmp_path / "server"))
    yield api
    loop.run_until_complete(api.client.aclose())
    loop.run_until_complete(service.close())


@pytest.fixture
def window(
    qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path, server: Api
) -> Iterator[Any]:
    """A window on an empty local workspace, able to reach the server."""
    from desktop.main_window import MainWindow

    local = loop.run_until_complete(WorkspaceService.open(str(tmp_path / "local")))
    main = MainWindow(local, token_store=TokenStore(tmp_path / "config", use_keyring=False))
    main.remote_transport = httpx.ASGITransport(app=server.app)
    main.local = local
    main.errors = []
    main.show_error = main.errors.append
    main.inform = lambda title, message: main.errors.append(f"{title}: {message}")
    main.ask = lambda title, question: False
    qtbot.addWidget(main)
    main.show()
    loop.run_until_complete(main.load())
    yield main
    main.refresh_timer.stop()
    if not isinstance(main.backend, EmbeddedBackend):
        loop.run_until_complete(main.backend.close())
    loop.run_until_complete(local.close())


def settle(loop: asyncio.AbstractEventLoop, window: Any) -> None:
    while window.tasks:
        loop.run_until_complete(asyncio.gather(*window.tasks))


def connect(window: Any, loop: asyncio.AbstractEventLoop, **credentials: str) -> None:
    loop.run_until_complete(window.connect_to_server(ConnectRequest(URL, **credentials)))


def test_connects_lists_robots_and_saves_through_the_api(
    window: Any, loop: asyncio.AbstractEventLoop, server: Api
) -> None:
    assert window.project is None  # the local workspace is empty
    connect(window, loop, login="admin", password=PASSWORD)

    assert isinstance(window.backend, RemoteBackend)
    assert window.project == "Демо"
    assert [window.project_combo.itemText(i) for i in range(window.project_combo.count())] == [
        "Демо", "Второй",
    ]  # fmt: skip
    names = {f.name for f in window.funnels}
    assert "Разбор по дате рождения" in names and len(names) == 3
    assert window.draft.document.name == "Разбор по дате рождения"
    assert URL in window.status.text() and "admin" in window.status.text()
    assert window.tokens().get(URL) == window.backend.token
    key = window.tokens().key_file
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert window.backend.token not in window.tokens().tokens_file.read_text("latin-1")

    new_node = window.editor.add_node("tag_add")
    window.editor.set_node_props(new_node, {"tags": ["новый тег"]})
    loop.run_until_complete(window.save())
    saved = loop.run_until_complete(server.service.load_draft("Демо", window.draft.id))
    assert saved.revision == 2 == window.draft.revision
    assert any(str(n.id) == new_node for n in saved.document.nodes)
    saved_by = loop.run_until_complete(window.backend.list_funnels("Демо"))
    assert next(f for f in saved_by if f.id == window.draft.id).draft_revision == 2

    loop.run_until_complete(window.validate())
    assert new_node in window.editor.problem_nodes()  # the unknown tag, found by the server

    # Someone else saves meanwhile: the window says so and keeps the edit.
    other = loop.run_until_complete(server.service.load_draft("Демо", window.draft.id))
    loop.run_until_complete(
        server.service.save_draft("Демо", other.id, other.document, other.revision, by="colleague")
    )
    with pytest.raises(DraftConflictError):
        loop.run_until_complete(window.save())
    window.run(window.save())
    settle(loop, window)
    assert len(window.errors) == 1
    assert "изменил кто-то другой" in window.errors[0] and "ревизия 3" in window.errors[0]
    assert new_node in window.editor.node_uuids()


def test_counts_contacts_and_versions_over_the_api(
    window: Any, loop: asyncio.AbstractEventLoop, server: Api
) -> None:
    loop.run_until_complete(start_open_bot(server.service.workspace, "Демо"))
    connect(window, loop, token=server.tokens["viewer"])

    loop.run_until_complete(window.refresh_counts())
    counts = loop.run_until_complete(window.backend.node_counts("Демо", window.draft.id))
    [node] = [n for n, (now, _, _) in counts.items() if now]
    assert window.editor.badge_text(node) == str(len(PEOPLE))
    window.editor.badgeClicked.emit(node)
    settle(loop, window)
    rows = window.contacts_dialog.rows()
    assert sorted(r[2] for r in rows) == sorted(str(p.user_id) for p in PEOPLE)
    assert "@boris" in {r[1] for r in rows}

    loop.run_until_complete(window.show_history())
    assert [v.version for v in window.history_dialog.versions] == [1]
    version_window = loop.run_until_complete(window.open_version(1))
    assert version_window.editor.is_read_only()
    assert len(version_window.editor.node_uuids()) == len(window.draft.document.nodes)
    version_window.close()

    # A viewer may look but not save.
    window.run(window.save())
    settle(loop, window)
    assert len(window.errors) == 1 and "forbidden" in window.errors[0]


def test_copy_plan_and_duplicate_over_the_api(
    window: Any, loop: asyncio.AbstractEventLoop, server: Api
) -> None:
    async def add_bots() -> None:
        database = await server.service.database(server.other)
        async with database.sessions() as session, session.begin():
            for role in (BotRole.OPEN, BotRole.PAID, BotRole.FREE):
                session.add(Channel(kind=ChannelKind.BOT, name=f"N {role}", role=role))

    loop.run_until_complete(add_bots())
    connect(window, loop, login="admin", password=PASSWORD)
    questions: list[str] = []
    window.ask = lambda title, question: questions.append(question) or True
    assert loop.run_until_complete(window.copy_robot("Разбор по дате рождения", "Второй"))
    assert "Будет создан тег «купил»" in questions[0] and "N open" in questions[0]
    copied = loop.run_until_complete(window.backend.list_funnels("Второй"))
    assert [f.name for f in copied] == ["Разбор по дате рождения"]

    loop.run_until_complete(window.duplicate_robot())
    assert window.draft.document.name == "Разбор по дате рождения (копия)"
    assert window.errors == []


def test_the_stored_token_reconnects_and_a_bad_one_is_refused(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    connect(window, loop, login="admin", password=PASSWORD)
    token = window.backend.token
    assert window.local_action.isVisible()
    loop.run_until_complete(window.use_local())
    assert isinstance(window.backend, EmbeddedBackend) and window.project is None
    assert not window.local_action.isVisible()
    loop.run_until_complete(window.reconnect(URL))  # no dialog: the stored token works
    assert isinstance(window.backend, RemoteBackend) and window.backend.token == token

    with pytest.raises(AuthError):
        connect(window, loop, token="not-a-token")
    with pytest.raises(AuthError):
        connect(window, loop, login="admin", password="wrong password")
    assert window.tokens().get(URL) == token


def test_the_connect_dialog_connects_with_a_token(
    window: Any, loop: asyncio.AbstractEventLoop, server: Api
) -> None:
    dialog = window.open_connect_dialog(URL)
    assert dialog.isVisible() and dialog.url.text() == URL
    dialog.tabs.setCurrentIndex(1)
    dialog.token.setText(server.tokens["editor"])
    dialog.accept()
    settle(loop, window)
    assert window.errors == []
    assert isinstance(window.backend, RemoteBackend) and window.project == "Демо"
    assert window.tokens().get(URL + "/") == server.tokens["editor"]
