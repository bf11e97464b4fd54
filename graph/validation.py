"""Validation of a funnel document: every problem found, each naming node and field.

Errors block publishing; warnings (``NO_TRIGGER``, ``UNREACHABLE_NODE``) are shown only.
"""

from __future__ import annotations

from graph.checks.edges import edge_problems
from graph.checks.nodes import duplicate_ids, node_problems
from graph.checks.refs import reference_problems
from graph.checks.shape import loop_problems, trigger_problems
from graph.document import FunnelDocument
from graph.problems import Problem
from graph.project_catalog import ProjectCatalog


def validate_funnel(doc: FunnelDocument, catalog: ProjectCatalog | None = None) -> list[Problem]:
    """All problems of ``doc``; references to bots, tags, products, funnels and manager
    accounts are checked only when the project's ``catalog`` is given."""
    problems = duplicate_ids(doc)
    for node in doc.nodes:
        problems += node_problems(node)
    problems += edge_problems(doc)
    problems += trigger_problems(doc)
    problems += loop_problems(doc)
    if catalog is not None:
        problems += reference_problems(doc, catalog)
    return problems
