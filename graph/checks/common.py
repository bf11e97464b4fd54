"""Helpers shared by the checks."""

from __future__ import annotations

from graph.document import FunnelNode
from graph.problems import Problem, ProblemCode, Severity


def problem_at(
    node: FunnelNode | None,
    code: ProblemCode,
    field: str | None,
    message: str,
    message_ru: str,
    severity: Severity = Severity.ERROR,
) -> Problem:
    """A problem pointing at ``node`` (its id and the title shown on the canvas)."""
    return Problem(
        code=code,
        message=message,
        message_ru=message_ru,
        node_id=node.id if node else None,
        node_title=node.display_title() if node else None,
        field=field,
        severity=severity,
    )
