"""Checks of edges: both ends exist, ports exist and point the right way, no duplicates,
and an output leads to one place only (a run follows a single edge)."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from graph.checks.common import problem_at
from graph.document import FunnelDocument, FunnelEdge, FunnelNode
from graph.problems import Problem, ProblemCode


def _first_nodes(doc: FunnelDocument) -> dict[UUID, FunnelNode]:
    nodes: dict[UUID, FunnelNode] = {}
    for node in doc.nodes:
        nodes.setdefault(node.id, node)
    return nodes


def _has_output(node: FunnelNode, port: str) -> bool:
    node_type = node.node_type
    assert node_type is not None
    props = node.parsed_props()
    if props is None:  # the property problem is reported; do not also flag its ports
        return node_type.may_have_output(port)
    return port in node_type.output_ports(props)


def _port_problems(
    i: int, edge: FunnelEdge, source: FunnelNode, target: FunnelNode
) -> list[Problem]:
    problems = []
    source_type, target_type = source.node_type, target.node_type
    if source_type is not None and not _has_output(source, edge.source_port):
        if edge.source_port in source_type.inputs:
            en = f"An edge starts at {edge.source_port!r}, an input; edges go from an output to an input"
            ru = f"Связь начинается во входе {edge.source_port!r}; связь идёт из выхода во вход"
        else:
            outputs = ", ".join(source_type.output_ports(source.parsed_props())) or "none"
            en = f"{source_type.title.en} has no output {edge.source_port!r} (outputs: {outputs})"
            ru = f"У узла «{source_type.title.ru}» нет выхода {edge.source_port!r} (выходы: {outputs})"
        problems.append(
            problem_at(source, ProblemCode.PORT_MISMATCH, f"edges.{i}.source_port", en, ru)
        )
    if target_type is not None and edge.target_port not in target_type.inputs:
        if target_type.is_trigger:
            en, ru = "A trigger has no input; nothing can lead into it", "У триггера нет входа"
        else:
            en = f"{target_type.title.en} has no input {edge.target_port!r} (its input is 'in')"
            ru = f"У узла «{target_type.title.ru}» нет входа {edge.target_port!r} (вход — 'in')"
        problems.append(
            problem_at(target, ProblemCode.PORT_MISMATCH, f"edges.{i}.target_port", en, ru)
        )
    return problems


def edge_problems(doc: FunnelDocument) -> list[Problem]:
    nodes = _first_nodes(doc)
    problems: list[Problem] = []
    seen: set[tuple[str, str, str, str]] = set()
    targets_of_output: dict[tuple[UUID, str], set[UUID]] = defaultdict(set)
    for i, edge in enumerate(doc.edges):
        source, target = nodes.get(edge.source), nodes.get(edge.target)
        if source is None or target is None:
            end, missing_id = ("source", edge.source) if source is None else ("target", edge.target)
            problems.append(
                problem_at(
                    source or target,
                    ProblemCode.DANGLING_EDGE,
                    f"edges.{i}.{end}",
                    f"An edge leads {'from' if end == 'source' else 'to'} node {missing_id}, which is not in the funnel",
                    f"Связь {'из' if end == 'source' else 'в'} узел {missing_id}, которого нет в воронке",
                )
            )
            continue
        if edge.sort_key() in seen:
            problems.append(
                problem_at(
                    source,
                    ProblemCode.DUPLICATE_EDGE,
                    f"edges.{i}",
                    "The same edge is drawn twice",
                    "Одна и та же связь нарисована дважды",
                )
            )
            continue
        seen.add(edge.sort_key())
        problems += _port_problems(i, edge, source, target)
        targets_of_output[(edge.source, edge.source_port)].add(edge.target)
    for (source_id, port), targets in targets_of_output.items():
        if len(targets) > 1:
            problems.append(
                problem_at(
                    nodes[source_id],
                    ProblemCode.OUTPUT_FANOUT,
                    f"outputs.{port}",
                    f"The output {port!r} leads to {len(targets)} nodes; a run can follow only one (use a randomizer or a condition)",
                    f"Выход {port!r} ведёт в {len(targets)} узла; контакт может пойти только по одной связи (используйте рандомайзер или условие)",
                )
            )
    return problems
