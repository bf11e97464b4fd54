"""Editor load speed: our adapter vs NodeGraphQt's own ``deserialize_session``.

Loads a generated 300- and 1,000-node robot into a fresh graph both ways (the same nodes,
ports and connections: NodeGraphQt's session is serialised from our loaded graph), best
of N runs, and times one refresh of 300 live badges.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_editor_load.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_editor_common import generated_robot
from NodeGraphQt import NodeGraph
from PySide6 import QtWidgets

from desktop.editor.adapter import configure_graph, load_document


def _fresh_graph() -> NodeGraph:
    graph = NodeGraph()
    configure_graph(graph)
    return graph


def _time(fn: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return times


def bench_load(n: int, runs: int) -> None:
    doc = generated_robot(n)
    graphs: list[NodeGraph] = []

    ours_times = []
    for _ in range(runs):
        graph = _fresh_graph()
        graphs.append(graph)
        t0 = time.perf_counter()
        load_document(graph, doc)
        ours_times.append(time.perf_counter() - t0)
    session = graphs[0].serialize_session()
    theirs_times = []
    for _ in range(runs):
        graph = _fresh_graph()
        graphs.append(graph)
        t0 = time.perf_counter()
        graph.deserialize_session(session)
        theirs_times.append(time.perf_counter() - t0)
    edges = len(doc.edges)
    print(
        f"{n:>5} nodes, {edges} edges: adapter best {min(ours_times):.3f} s "
        f"(median {statistics.median(ours_times):.3f}) | NodeGraphQt deserialize_session "
        f"best {min(theirs_times):.3f} s (median {statistics.median(theirs_times):.3f}) | "
        f"×{min(theirs_times) / min(ours_times):.1f}"
    )


def bench_badges(runs: int) -> None:
    from desktop.editor.editor_widget import FunnelEditor

    doc = generated_robot(300)
    editor = FunnelEditor()
    editor.resize(1400, 900)
    editor.show()
    editor.load(doc)
    ids = [str(n.id) for n in doc.nodes]
    editor.set_counts({i: (0, 0, 0) for i in ids})  # badges exist after the first call
    app = QtWidgets.QApplication.instance()
    assert app is not None
    app.processEvents()
    times = []
    for r in range(1, runs * 10 + 1):
        counts = {i: (r + k % 7, 10 * r + k, 9 * r + k) for k, i in enumerate(ids)}
        t0 = time.perf_counter()
        editor.set_counts(counts)
        times.append(time.perf_counter() - t0)
    print(
        f"  300 badges refresh: best {min(times) * 1000:.1f} ms, "
        f"median {statistics.median(times) * 1000:.1f} ms (set_counts, no repaint)"
    )
    t0 = time.perf_counter()
    editor.set_counts({i: (5, 6, 7) for i in ids})
    app.processEvents()
    print(f"  300 badges refresh + one full repaint of the 300-node canvas (all visible): "
          f"{(time.perf_counter() - t0) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    for n in (300, 1000):
        bench_load(n, args.runs)
    bench_badges(args.runs)
    del _app


if __name__ == "__main__":
    main()
