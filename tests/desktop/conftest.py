"""Qt fixtures for the desktop tests: offscreen platform, one editor per test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator

import pytest

from desktop import i18n
from graph.demo import load_demo_funnels
from graph.document import FunnelDocument


@pytest.fixture(scope="session")
def demo_funnels() -> list[FunnelDocument]:
    return load_demo_funnels()


@pytest.fixture
def editor(qtbot: object) -> Iterator[object]:
    from desktop.editor.editor_widget import FunnelEditor

    i18n.set_language("ru")
    widget = FunnelEditor(known_tags=["купил", "получил анализ"])
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    widget.resize(1500, 900)
    widget.show()
    yield widget
    i18n.set_language("ru")
