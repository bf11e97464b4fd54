"""Checks of names the funnel refers to against the project's catalog.

Unknown tags and products are errors here; copying a funnel to another project creates
the missing ones instead (see ``graph.copying``)."""

from __future__ import annotations

from uuid import UUID

from graph.checks.common import problem_at
from graph.document import FunnelDocument, FunnelNode
from graph.problems import Problem, ProblemCode
from graph.project_catalog import ProjectCatalog
from graph.references import RefKind, document_references

_CODES = {
    RefKind.BOT: ProblemCode.UNKNOWN_BOT,
    RefKind.TAG: ProblemCode.UNKNOWN_TAG,
    RefKind.PRODUCT: ProblemCode.UNKNOWN_PRODUCT,
    RefKind.FUNNEL: ProblemCode.UNKNOWN_FUNNEL,
    RefKind.MANAGER_ACCOUNT: ProblemCode.UNKNOWN_MANAGER_ACCOUNT,
}

_WHAT = {
    RefKind.BOT: ("bot with role", "бота с ролью"),
    RefKind.TAG: ("tag", "тега"),
    RefKind.PRODUCT: ("product", "продукта"),
    RefKind.FUNNEL: ("funnel", "воронки"),
    RefKind.MANAGER_ACCOUNT: ("manager account", "аккаунта менеджера"),
}


def known_names(catalog: ProjectCatalog, doc: FunnelDocument) -> dict[RefKind, frozenset[str]]:
    return {
        RefKind.BOT: catalog.bot_roles,
        RefKind.TAG: frozenset(catalog.tags),
        RefKind.PRODUCT: frozenset(catalog.products),
        RefKind.FUNNEL: frozenset(catalog.funnels) | {doc.name},
        RefKind.MANAGER_ACCOUNT: frozenset(catalog.manager_accounts),
    }


def reference_problems(doc: FunnelDocument, catalog: ProjectCatalog) -> list[Problem]:
    known = known_names(catalog, doc)
    nodes: dict[UUID, FunnelNode] = {}
    for node in doc.nodes:
        nodes.setdefault(node.id, node)
    problems = []
    for ref in document_references(doc):
        if ref.value in known[ref.kind]:
            continue
        en, ru = _WHAT[ref.kind]
        problems.append(
            problem_at(
                nodes.get(ref.node_id) if ref.node_id else None,
                _CODES[ref.kind],
                ref.field,
                f"The project has no {en} {ref.value!r}",
                f"В проекте нет {ru} «{ref.value}»",
            )
        )
    return problems
