"""FunnelDocument ⇄ NodeGraphQt graph: lossless round trips, fast bulk load."""

from __future__ import annotations

import uuid

from NodeGraphQt import NodeGraph

from desktop.editor.adapter import configure_graph, funnel_nodes, graph_to_document, load_document
from desktop.editor.nodes import NODE_CLASSES, FunnelNodeItem, UnknownNode
from graph.document import FunnelDocument
from graph.node_types import ALL_TYPES


def _graph() -> NodeGraph:
    graph = NodeGraph()
    configure_graph(graph)
    return graph


def test_every_node_type_has_a_class() -> None:
    assert set(NODE_CLASSES) == {t.id for t in ALL_TYPES}


def test_demo_funnels_round_trip(qtbot: object, demo_funnels: list[FunnelDocument]) -> None:
    graph = _graph()
    for doc in demo_funnels:
        load_document(graph, doc)
        assert len(funnel_nodes(graph)) == len(doc.nodes)
        assert graph_to_document(graph, doc) == doc
        assert graph.undo_stack().count() == 0


def test_moving_nodes_changes_only_positions(qtbot: object, demo_funnels: list[FunnelDocument]) -> None:
    graph = _graph()
    doc = demo_funnels[0]
    load_document(graph, doc)
    node = funnel_nodes(graph)[0]
    node.set_pos(12.5, -40.0)
    back = graph_to_document(graph, doc)
    moved = back.node(uuid.UUID(node.funnel_uuid))
    assert moved is not None and (moved.ui.x, moved.ui.y) == (12.5, -40.0)
    strip = {"nodes": {"__all__": {"ui"}}}
    assert back.model_dump(exclude=strip) == doc.model_dump(exclude=strip)


def test_odd_documents_survive(qtbot: object) -> None:
    """Unknown types, invalid props, edges to ports the props do not explain, fan-out."""
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    doc = FunnelDocument.model_validate({
        "id": str(uuid.uuid4()), "name": "странный",
        "nodes": [
            {"id": a, "type": "trigger.start", "props": {}, "ui": {"x": 1.5, "y": 2.25}},
            {"id": b, "type": "message", "title": "Без кнопок",
             "props": {"text": "<b>привет", "buttons": [{"id": "x y", "text": ""}]}},
            {"id": c, "type": "from.the.future", "props": {"weird": [1, {"a": None}]},
             "ui": {"collapsed": True}},
            {"id": d, "type": "end"},
        ],
        "edges": [
            {"source": a, "source_port": "next", "target": b},
            {"source": a, "source_port": "next", "target": d},
            {"source": b, "source_port": "button:ghost", "target": c},
            {"source": c, "source_port": "whatever", "target": d, "target_port": "side"},
        ],
    })
    graph = _graph()
    load_document(graph, doc)
    assert graph_to_document(graph, doc) == doc
    unknown = [n for n in funnel_nodes(graph) if isinstance(n, UnknownNode)]
    assert len(unknown) == 1 and unknown[0].type_id == "from.the.future"


def test_node_shows_title_summary_and_port_labels(qtbot: object, demo_funnels: list[FunnelDocument]) -> None:
    graph = _graph()
    doc = demo_funnels[0]
    load_document(graph, doc)
    delays = [n for n in funnel_nodes(graph) if n.type_id == "wait_reply"]
    view = delays[0].view
    assert isinstance(view, FunnelNodeItem)
    assert view.summary_text.startswith("ждать ")
    labels = [view.get_output_text_item(p.view).toPlainText() for p in delays[0].output_ports()]
    assert labels == ["совпал ответ", "другой ответ", "время вышло"]


def test_load_1000_nodes_in_bulk(qtbot: object) -> None:
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_editor_common import generated_robot

    doc = generated_robot(1000)
    graph = _graph()
    t0 = time.perf_counter()
    load_document(graph, doc)
    elapsed = time.perf_counter() - t0
    assert graph_to_document(graph, doc) == doc
    assert elapsed < 10  # generous: CI machines are shared; see bench/bench_editor_load.py
