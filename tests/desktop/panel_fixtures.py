"""Shared fixtures of the panel tests: the main window on the embedded demo workspace
(no modal dialogs: ``ask`` answers from ``window.answers``, errors are collected)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.demo_setup import ensure_demo_project
from engine.service import WorkspaceService

SCREENSHOTS_ENV = "VORONKA_SCREENSHOTS"
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get(SCREENSHOTS_ENV)
    else Path(tempfile.mkdtemp(prefix="voronka-screenshots-"))
)
"""Where the desktop tests save what they render: docs/screenshots when
``VORONKA_SCREENSHOTS=1`` (to refresh the README's pictures), else a temporary folder —
so an ordinary test run leaves the working tree clean."""


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def window(qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Any]:
    from desktop import i18n
    from desktop.main_window import MainWindow

    i18n.set_language("ru")

    async def open_service() -> WorkspaceService:
        service = await WorkspaceService.open(str(tmp_path / "ws"))
        await ensure_demo_project(service.workspace)
        return service

    service = loop.run_until_complete(open_service())
    main = MainWindow(service)
    main.errors = []
    main.questions = []
    main.answers = []  # what ask() answers, in order (then False)
    main.show_error = main.errors.append
    main.inform = lambda title, message: main.errors.append(f"{title}: {message}")

    def ask(title: str, question: str) -> bool:
        main.questions.append(question)
        return main.answers.pop(0) if main.answers else False

    main.ask = ask
    qtbot.addWidget(main)
    main.show()
    loop.run_until_complete(main.load())
    settle(loop, main)
    yield main
    main.refresh_timer.stop()
    loop.run_until_complete(service.close())


def settle(loop: asyncio.AbstractEventLoop, window: Any) -> None:
    while window.tasks:
        loop.run_until_complete(asyncio.gather(*window.tasks, return_exceptions=True))


def shoot(window: Any, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    status = getattr(window, "status", None)
    if status is not None and "/tmp/" in status.text():  # not the test's temp directory
        shown = status.text().split("/tmp/")[0]
        status.setText(shown + "~/.local/share/voronka/projects/demo.sqlite3")
    if "/tmp/" in window.statusBar().currentMessage():
        window.statusBar().clearMessage()
    QApplication.processEvents()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    window.grab().save(str(path))
    return path
