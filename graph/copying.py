"""Copying funnels within a project and to another project (R14).

A copy gets a new funnel id and new node ids; positions, properties and edges are kept.
Copying to another project remaps what belongs to a project: bots by role, manager
accounts by name, tags and products by name (missing ones are listed to be created).
Documents hold no contacts and no secrets, so nothing of the kind is ever copied.
"""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from graph.checks.common import problem_at
from graph.document import FunnelDocument
from graph.problems import Problem, ProblemCode, Severity
from graph.project_catalog import ProjectCatalog
from graph.references import RefKind, referenced_names, rename_references

COPY_SUFFIX = " (копия)"


def free_name(name: str, taken: AbstractSet[str]) -> str:
    """``name`` if free, else "name (копия)", "name (копия 2)", …"""
    if name not in taken:
        return name
    candidate, n = name + COPY_SUFFIX, 2
    while candidate in taken:
        candidate, n = f"{name} (копия {n})", n + 1
    return candidate


def copy_within_project(doc: FunnelDocument, new_name: str | None = None) -> FunnelDocument:
    """A copy with a new funnel id and new node ids (edges remapped, positions kept),
    named ``new_name`` or "<name> (копия)".

    A "go to funnel" node that jumps inside this same funnel jumps inside the copy.
    """
    return copy_with_id_map(doc, new_name)[0]


def copy_with_id_map(
    doc: FunnelDocument, new_name: str | None = None
) -> tuple[FunnelDocument, dict[UUID, UUID]]:
    """:func:`copy_within_project`, plus the old → new node id map."""
    name = new_name or doc.name + COPY_SUFFIX
    new_ids: dict[str, str] = {str(n.id): str(uuid.uuid4()) for n in doc.nodes}
    data: dict[str, Any] = doc.model_dump(mode="json")
    data["id"] = str(uuid.uuid4())
    data["name"] = name
    for node in data["nodes"]:
        node["id"] = new_ids[node["id"]]
        props = node["props"]
        if node["type"] == "goto_funnel" and props.get("funnel") == doc.name:
            props["funnel"] = name
            props["node"] = new_ids.get(str(props.get("node")), props.get("node"))
    for edge in data["edges"]:
        edge["source"] = new_ids.get(edge["source"], edge["source"])
        edge["target"] = new_ids.get(edge["target"], edge["target"])
    id_map = {UUID(old): UUID(new) for old, new in new_ids.items()}
    return FunnelDocument.model_validate(data), id_map


class BotMapping(BaseModel):
    """How a bot role used by the funnel maps into the target project."""

    role: str
    source_bot: str | None
    target_role: str | None
    """Same role when the target has it; None = no bot (a problem). Staff may change it."""
    target_bot: str | None


class CopyPlan(BaseModel):
    """What copying a funnel to another project will do; staff can review and adjust the
    mappings before :func:`apply_copy_plan`."""

    funnel_name: str
    bots: list[BotMapping] = Field(default_factory=list)
    manager_accounts: dict[str, str | None] = Field(default_factory=dict)
    """Source account → target account; None = "any account of the project"."""
    tags_existing: list[str] = Field(default_factory=list)
    tags_to_create: list[str] = Field(default_factory=list)
    products_existing: list[str] = Field(default_factory=list)
    products_to_create: list[str] = Field(default_factory=list)
    missing_funnels: list[str] = Field(default_factory=list)
    """Funnels referenced by name (go to / except) that the target project lacks."""
    problems: list[Problem] = Field(default_factory=list)

    def target_catalog_after(self, target: ProjectCatalog) -> ProjectCatalog:
        """The target's catalog once the tags, products and this funnel are created."""
        return target.with_created(
            tags=self.tags_to_create, products=self.products_to_create, funnels=[self.funnel_name]
        )


def plan_copy_to_project(
    doc: FunnelDocument, source: ProjectCatalog, target: ProjectCatalog
) -> CopyPlan:
    """Plan copying ``doc`` from the ``source`` project into the ``target`` project."""
    plan = CopyPlan(funnel_name=free_name(doc.name, target.funnels))
    for role in referenced_names(doc, RefKind.BOT):
        mapped = role if role in target.bot_roles else None
        plan.bots.append(
            BotMapping(
                role=role,
                source_bot=source.bot_name(role),
                target_role=mapped,
                target_bot=target.bot_name(role) if mapped else None,
            )
        )
        if mapped is None:
            plan.problems.append(
                problem_at(
                    None,
                    ProblemCode.UNKNOWN_BOT,
                    f"bots.{role}",
                    f"The target project has no bot with role {role!r}; choose one or add the bot",
                    f"В целевом проекте нет бота с ролью «{role}»; выберите бота или добавьте его",
                )
            )
    for account in referenced_names(doc, RefKind.MANAGER_ACCOUNT):
        present = account in target.manager_accounts
        plan.manager_accounts[account] = account if present else None
        if not present:
            plan.problems.append(
                problem_at(
                    None,
                    ProblemCode.UNKNOWN_MANAGER_ACCOUNT,
                    f"manager_accounts.{account}",
                    f"The target project has no manager account {account!r}; the trigger will listen to any account",
                    f"В целевом проекте нет аккаунта менеджера «{account}»; триггер будет слушать любой аккаунт",
                    Severity.WARNING,
                )
            )
    tags, products = referenced_names(doc, RefKind.TAG), referenced_names(doc, RefKind.PRODUCT)
    plan.tags_existing = [t for t in tags if t in target.tags]
    plan.tags_to_create = [t for t in tags if t not in target.tags]
    plan.products_existing = [p for p in products if p in target.products]
    plan.products_to_create = [p for p in products if p not in target.products]
    for funnel in referenced_names(doc, RefKind.FUNNEL):
        if funnel != doc.name and funnel not in target.funnels:
            plan.missing_funnels.append(funnel)
            plan.problems.append(
                problem_at(
                    None,
                    ProblemCode.UNKNOWN_FUNNEL,
                    f"funnels.{funnel}",
                    f"The target project has no funnel {funnel!r}; copy it too or change the reference",
                    f"В целевом проекте нет воронки «{funnel}»; скопируйте её тоже или измените ссылку",
                )
            )
    return plan


def apply_copy_plan(doc: FunnelDocument, plan: CopyPlan) -> FunnelDocument:
    """The copy for the target project: new ids, the plan's name and mappings applied.

    Unmapped bot roles are left as they are, so validating the copy against the target
    catalog reports them. Tags and products keep their names; creating the missing ones
    (``plan.tags_to_create`` / ``plan.products_to_create``) is the caller's job.
    """
    copied = copy_within_project(doc, plan.funnel_name)
    bots: dict[str, str | None] = {b.role: b.target_role for b in plan.bots if b.target_role}
    return rename_references(
        copied, {RefKind.BOT: bots, RefKind.MANAGER_ACCOUNT: plan.manager_accounts}
    )
