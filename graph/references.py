"""What a funnel refers to in its project: bots by role, tags, products, funnels and
manager accounts by name. Used by validation (unknown names) and copy/remap."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from graph.document import FunnelDocument, FunnelNode
from graph.nodes.actions import PersonalLinkProps, StopFunnelsProps
from graph.nodes.base import NodeProps
from graph.nodes.data import RecordPurchaseProps, TagsProps
from graph.nodes.flow import (
    ConditionProps,
    GotoFunnelProps,
    HasTagRule,
    NoTagRule,
    PurchasedRule,
    WaitArrivalProps,
)
from graph.nodes.message import MessageProps
from graph.nodes.triggers import (
    BotArrivalProps,
    ContactKeywordProps,
    ManagerPhraseProps,
    PersonalLinkArrivalProps,
    StartProps,
    TagAddedProps,
)


class RefKind(StrEnum):
    BOT = "bot"
    """A bot role."""
    TAG = "tag"
    PRODUCT = "product"
    FUNNEL = "funnel"
    MANAGER_ACCOUNT = "manager_account"


@dataclass(frozen=True)
class Reference:
    kind: RefKind
    value: str
    node_id: UUID | None
    """None for a reference in the funnel settings."""
    path: tuple[str | int, ...]
    """Where the value sits: inside the node (``("props", "tags", 0)``) or the document."""

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path)


def _props_refs(props: NodeProps) -> Iterator[tuple[RefKind, str, tuple[str | int, ...]]]:
    bot, tag, product = RefKind.BOT, RefKind.TAG, RefKind.PRODUCT
    if isinstance(props, ManagerPhraseProps) and props.account is not None:
        yield RefKind.MANAGER_ACCOUNT, props.account, ("account",)
    if (
        isinstance(props, ContactKeywordProps)
        and props.bot_role is not None
        and props.source != "manager_account"
    ):
        yield bot, props.bot_role, ("bot_role",)
    if isinstance(
        props, StartProps | BotArrivalProps | PersonalLinkArrivalProps | PersonalLinkProps
    ):
        yield bot, props.bot_role, ("bot_role",)
    if isinstance(
        props, PersonalLinkArrivalProps | PersonalLinkProps | WaitArrivalProps | RecordPurchaseProps
    ):
        yield product, props.product, ("product",)
    if isinstance(props, TagAddedProps):
        yield tag, props.tag, ("tag",)
    if isinstance(props, TagsProps):
        for i, name in enumerate(props.tags):
            yield tag, name, ("tags", i)
    if isinstance(props, MessageProps) and props.channel == "bot" and props.bot_role is not None:
        yield bot, props.bot_role, ("bot_role",)
    if isinstance(props, ConditionProps):
        for i, rule in enumerate(props.rules):
            if isinstance(rule, HasTagRule | NoTagRule):
                yield tag, rule.tag, ("rules", i, "tag")
            elif isinstance(rule, PurchasedRule):
                yield product, rule.product, ("rules", i, "product")
    if isinstance(props, StopFunnelsProps):
        if props.scope == "bot":
            yield bot, props.bot_role, ("bot_role",)
        for i, name in enumerate(props.except_funnels):
            yield RefKind.FUNNEL, name, ("except_funnels", i)
    if isinstance(props, GotoFunnelProps):
        yield RefKind.FUNNEL, props.funnel, ("funnel",)


def node_references(node: FunnelNode) -> list[Reference]:
    """References of one node; none when its type is unknown or its props invalid."""
    props = node.parsed_props()
    if props is None:
        return []
    return [
        Reference(kind, value, node.id, ("props", *path))
        for kind, value, path in _props_refs(props)
    ]


def document_references(doc: FunnelDocument) -> list[Reference]:
    """Every reference of the funnel, the settings' bot role first."""
    refs = [Reference(RefKind.BOT, doc.settings.bot_role, None, ("settings", "bot_role"))]
    for node in doc.nodes:
        refs += node_references(node)
    return refs


def referenced_names(doc: FunnelDocument, kind: RefKind) -> list[str]:
    """Distinct referenced names of one kind, sorted."""
    return sorted({r.value for r in document_references(doc) if r.kind == kind})


def _set_at(container: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        container = container[part]
    container[path[-1]] = value


def rename_references(
    doc: FunnelDocument, renames: Mapping[RefKind, Mapping[str, str | None]]
) -> FunnelDocument:
    """A new document with references renamed (``None`` clears an optional one, e.g. a
    manager account becomes "any account")."""
    data = doc.model_dump(mode="json")
    located: list[tuple[dict[str, Any], Reference]] = [
        (data, r) for r in document_references(doc) if r.node_id is None
    ]
    for node_data, node in zip(data["nodes"], doc.nodes, strict=True):
        located += [(node_data, r) for r in node_references(node)]
    for container, ref in located:
        mapping = renames.get(ref.kind, {})
        if ref.value in mapping:
            _set_at(container, ref.path, copy.deepcopy(mapping[ref.value]))
    return FunnelDocument.model_validate(data)
