"""Auto-layout: layers left → right by BFS distance from the triggers."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

LAYER_GAP = 300.0
ROW_GAP = 40.0


def layered_positions(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    roots: Sequence[str],
    heights: Mapping[str, float],
    *,
    layer_gap: float = LAYER_GAP,
    row_gap: float = ROW_GAP,
) -> dict[str, tuple[float, float]]:
    """Top-left positions: a node's layer is its BFS distance from ``roots`` (triggers);
    nodes not reached from them start new BFS runs from nodes without incoming edges,
    then from whatever is left (cycles). Inside a layer nodes keep BFS order, stacked with
    ``row_gap`` between them; layers are centred on y = 0."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    has_in: set[str] = set()
    for a, b in edges:
        if a in succ and b in succ:
            succ[a].append(b)
            has_in.add(b)
    layer: dict[str, int] = {}
    order: list[str] = []

    def bfs(starts: Sequence[str], base: int) -> None:
        queue = deque()
        for s in starts:
            if s not in layer:
                layer[s] = base
                order.append(s)
                queue.append(s)
        while queue:
            cur = queue.popleft()
            for nxt in succ[cur]:
                if nxt not in layer:
                    layer[nxt] = layer[cur] + 1
                    order.append(nxt)
                    queue.append(nxt)

    bfs([r for r in roots if r in succ], 0)
    bfs([n for n in nodes if n not in has_in], 0)
    for n in nodes:
        if n not in layer:
            bfs([n], 0)

    columns: dict[int, list[str]] = {}
    for n in order:
        columns.setdefault(layer[n], []).append(n)
    positions: dict[str, tuple[float, float]] = {}
    for index, column in columns.items():
        total = sum(heights.get(n, 100.0) for n in column) + row_gap * (len(column) - 1)
        y = -total / 2
        for n in column:
            positions[n] = (index * layer_gap, round(y))
            y += heights.get(n, 100.0) + row_gap
    return positions
