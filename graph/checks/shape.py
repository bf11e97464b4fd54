"""Checks of the funnel as a whole: it has a trigger, every node can be reached from
one, and no loop can spin without waiting."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from graph.checks.common import problem_at
from graph.document import FunnelDocument, FunnelNode
from graph.problems import Problem, ProblemCode, Severity


def _first_nodes(doc: FunnelDocument) -> dict[UUID, FunnelNode]:
    nodes: dict[UUID, FunnelNode] = {}
    for node in doc.nodes:
        nodes.setdefault(node.id, node)
    return nodes


def trigger_problems(doc: FunnelDocument) -> list[Problem]:
    """No trigger (a warning: such a funnel is entered only by "go to funnel"), and nodes
    no trigger leads to (warnings: they never run)."""
    nodes = _first_nodes(doc)
    triggers = [n.id for n in nodes.values() if n.node_type is not None and n.node_type.is_trigger]
    if not triggers:
        return [
            problem_at(
                None,
                ProblemCode.NO_TRIGGER,
                "nodes",
                "The funnel has no trigger: it starts only from a 'go to funnel' node",
                "В воронке нет триггера: она запустится только из узла «Перейти в воронку»",
                Severity.WARNING,
            )
        ]
    successors: dict[UUID, list[UUID]] = defaultdict(list)
    for edge in doc.edges:
        successors[edge.source].append(edge.target)
    reached = set(triggers)
    stack = list(triggers)
    while stack:
        for nxt in successors[stack.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return [
        problem_at(
            node,
            ProblemCode.UNREACHABLE_NODE,
            None,
            "No trigger leads to this node, so it never runs",
            "Ни один триггер не ведёт к этому узлу, он никогда не выполнится",
            Severity.WARNING,
        )
        for node in nodes.values()
        if node.id not in reached
    ]


def _immediate_successors(
    doc: FunnelDocument, nodes: dict[UUID, FunnelNode]
) -> dict[UUID, list[UUID]]:
    """Edges a run follows at once, without waiting for time or an event."""
    successors: dict[UUID, list[UUID]] = defaultdict(list)
    for edge in doc.edges:
        source = nodes.get(edge.source)
        if source is None or edge.target not in nodes:
            continue
        node_type = source.node_type
        if node_type is not None and node_type.is_deferred_output(edge.source_port):
            continue
        successors[edge.source].append(edge.target)
    return successors


def strongly_connected(nodes: list[UUID], successors: dict[UUID, list[UUID]]) -> list[list[UUID]]:
    """Tarjan's strongly connected components (iterative, so deep graphs are fine)."""
    index: dict[UUID, int] = {}
    low: dict[UUID, int] = {}
    on_stack: set[UUID] = set()
    stack: list[UUID] = []
    components: list[list[UUID]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = successors.get(node, [])
            if child < len(children):
                work.append((node, child + 1))
                nxt = children[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def loop_problems(doc: FunnelDocument) -> list[Problem]:
    """A cycle of edges followed at once would make the engine spin forever.

    Waiting nodes (delay, wait for reply, wait for arrival) break a cycle, and so does a
    message's button output (followed only when the contact presses the button); a
    message's ``next`` does not.
    """
    nodes = _first_nodes(doc)
    successors = _immediate_successors(doc, nodes)
    problems = []
    for component in strongly_connected(list(nodes), successors):
        first = component[0]
        if len(component) == 1 and first not in successors.get(first, []):
            continue
        members = sorted(component, key=str)
        titles = ", ".join(nodes[m].display_title("en") for m in members)
        titles_ru = ", ".join(nodes[m].display_title("ru") for m in members)
        problems.append(
            problem_at(
                nodes[members[0]],
                ProblemCode.LOOP_WITHOUT_WAIT,
                None,
                f"These nodes form a loop with no delay or wait, which would repeat forever: {titles}",
                f"Эти узлы образуют цикл без задержки или ожидания, он будет повторяться бесконечно: {titles_ru}",
            )
        )
    return problems
