"""Screenshots for docs/screenshots (and a look at what the editor draws)."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from desktop.editor.editor_widget import FunnelEditor
from graph.document import FunnelDocument

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _settle() -> None:
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def _open_bot(funnels: list[FunnelDocument]) -> FunnelDocument:
    return next(f for f in funnels if any(n.type == "trigger.start" for n in f.nodes))


def test_editor_screenshot(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = _open_bot(demo_funnels)
    editor.resize(1600, 900)
    editor.load(doc)
    counts = {}
    for i, node in enumerate(sorted(doc.nodes, key=lambda n: (n.ui.x, n.ui.y))):
        entered = max(0, 480 - i * 37)
        counts[str(node.id)] = ((i * 7) % 13 if node.type != "end" else 0, entered, max(0, entered - 30))
    editor.set_counts(counts)
    _settle()
    first = sorted(doc.nodes, key=lambda n: n.ui.x)[:7]
    editor.show_region([str(n.id) for n in first])
    _settle()
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "editor.png"
    assert editor.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_properties_screenshot(editor: FunnelEditor, demo_funnels: list[FunnelDocument]) -> None:
    doc = _open_bot(demo_funnels)
    editor.resize(1600, 900)
    editor.load(doc)
    message = max((n for n in doc.nodes if n.type == "message"),
                  key=lambda n: len(str(n.props.get("text", ""))))
    node_id = str(message.id)
    props = {**message.props, "buttons": [
        {"id": "yes", "text": "Хочу разбор", "kind": "callback", "url": None},
        {"id": "site", "text": "Наш сайт", "kind": "url", "url": "https://example.org"},
    ]}
    editor.set_node_props(node_id, props)
    editor.select_node(node_id)
    _settle()
    editor.show_region([node_id], max_scale=1.0)
    editor.properties_scroll.ensureWidgetVisible(editor.properties.editors["buttons"])
    _settle()
    path = SHOTS / "properties.png"
    assert editor.grab().save(str(path))
    assert path.stat().st_size > 10_000
