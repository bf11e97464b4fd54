"""Checks of single nodes: ids, types and properties."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from graph.checks.common import problem_at
from graph.document import FunnelDocument, FunnelNode
from graph.problems import Problem, ProblemCode


def duplicate_ids(doc: FunnelDocument) -> list[Problem]:
    counts = Counter(node.id for node in doc.nodes)
    reported: set[Any] = set()
    problems = []
    for node in doc.nodes:
        if counts[node.id] > 1 and node.id not in reported:
            reported.add(node.id)
            problems.append(
                problem_at(
                    node,
                    ProblemCode.DUPLICATE_NODE_ID,
                    "id",
                    f"{counts[node.id]} nodes share the id {node.id}",
                    f"У {counts[node.id]} узлов одинаковый id {node.id}",
                )
            )
    return problems


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _property_problem(node: FunnelNode, err: ErrorDetails) -> Problem:
    field = ".".join(["props", *(str(p) for p in err["loc"])])
    missing = err["type"] == "missing" or (
        err["type"] in ("too_short", "string_too_short") and _is_empty(err.get("input"))
    )
    if missing:
        return problem_at(
            node,
            ProblemCode.MISSING_PROPERTY,
            field,
            f"{field} is required",
            f"Заполните поле {field}",
        )
    if err["type"] == "extra_forbidden":
        return problem_at(
            node,
            ProblemCode.INVALID_PROPERTY,
            field,
            f"{field}: this node type has no such property",
            f"{field}: у этого типа узла нет такого свойства",
        )
    return problem_at(
        node,
        ProblemCode.INVALID_PROPERTY,
        field,
        f"{field}: {err['msg']}",
        f"{field}: неверное значение ({err['msg']})",
    )


def node_problems(node: FunnelNode) -> list[Problem]:
    """Unknown type, or missing / invalid properties of a known type."""
    node_type = node.node_type
    if node_type is None:
        return [
            problem_at(
                node,
                ProblemCode.UNKNOWN_NODE_TYPE,
                "type",
                f"Unknown node type {node.type!r} (made by a newer app or a removed type)",
                f"Неизвестный тип узла {node.type!r} (из новой версии приложения или удалён)",
            )
        ]
    try:
        props = node_type.parse_props(node.props)
    except ValidationError as exc:
        return [_property_problem(node, err) for err in exc.errors(include_url=False)]
    code_of = {True: ProblemCode.MISSING_PROPERTY, False: ProblemCode.INVALID_PROPERTY}
    return [
        problem_at(
            node,
            code_of[_is_empty(_value_at(node.props, issue.field))],
            f"props.{issue.field}",
            issue.message,
            issue.message_ru,
        )
        for issue in props.issues()
    ]


def _value_at(props: dict[str, Any], dotted: str) -> Any:
    value: Any = props
    for part in dotted.split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return value
