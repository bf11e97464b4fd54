"""Published funnel versions prepared for execution: nodes, edges and triggers by kind.

A :class:`CompiledFunnel` is built once per ``funnel_versions`` row (versions are
immutable, so the cache never goes stale); :class:`FunnelIndex` holds the live version of
every enabled funnel and indexes their trigger nodes by event kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from engine.matching import CompiledMatcher, compile_matcher
from graph.document import FunnelDocument, FunnelNode, FunnelSettings
from graph.loading import load_funnel
from graph.nodes.base import NodeProps
from graph.nodes.triggers import (
    BotArrivalProps,
    ContactKeywordProps,
    ManagerPhraseProps,
    PersonalLinkArrivalProps,
    StartProps,
    TagAddedProps,
)
from graph.ports import NEXT


class FunnelDefinitionError(RuntimeError):
    """A published version cannot be executed (a node with invalid properties)."""


@dataclass(frozen=True)
class TriggerNode:
    funnel: CompiledFunnel
    node_id: str
    props: NodeProps
    matcher: CompiledMatcher | None = None

    @property
    def entry(self) -> str | None:
        """The node a run starts at when this trigger fires (the target of ``next``)."""
        return self.funnel.target(self.node_id, NEXT)


@dataclass
class CompiledFunnel:
    version_id: int
    funnel_id: int
    doc: FunnelDocument
    nodes: dict[str, FunnelNode] = field(default_factory=dict)
    props: dict[str, NodeProps] = field(default_factory=dict)
    edges: dict[tuple[str, str], str] = field(default_factory=dict)
    triggers: list[TriggerNode] = field(default_factory=list)
    matchers: dict[str, CompiledMatcher] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def settings(self) -> FunnelSettings:
        return self.doc.settings

    @classmethod
    def build(cls, version_id: int, funnel_id: int, document_json: str) -> CompiledFunnel:
        doc = load_funnel(document_json)
        cf = cls(version_id=version_id, funnel_id=funnel_id, doc=doc)
        for node in doc.nodes:
            key = str(node.id)
            cf.nodes[key] = node
            props = node.parsed_props()
            if props is not None:
                cf.props[key] = props
        for edge in doc.edges:
            cf.edges[(str(edge.source), edge.source_port)] = str(edge.target)
        for key, node in cf.nodes.items():
            node_type = node.node_type
            if node_type is None or not node_type.is_trigger or key not in cf.props:
                continue
            props = cf.props[key]
            matcher = None
            if isinstance(props, ManagerPhraseProps | ContactKeywordProps):
                matcher = compile_matcher(props.phrases, props.match)
            cf.triggers.append(TriggerNode(cf, key, props, matcher))
        return cf

    def node(self, node_id: str) -> FunnelNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise FunnelDefinitionError(
                f"funnel {self.name!r} v{self.version_id} has no node {node_id}"
            ) from None

    def props_of(self, node_id: str) -> NodeProps:
        try:
            return self.props[node_id]
        except KeyError:
            node = self.node(node_id)
            raise FunnelDefinitionError(
                f"node {node.display_title('en')!r} ({node_id}) of funnel {self.name!r} has "
                "invalid properties"
            ) from None

    def target(self, node_id: str, port: str) -> str | None:
        return self.edges.get((node_id, port))

    def title(self, node_id: str) -> str:
        node = self.nodes.get(node_id)
        return node.display_title() if node is not None else node_id

    def find_node(self, ref: str) -> str | None:
        """A node id by id, id prefix or title."""
        if ref in self.nodes:
            return ref
        try:
            return str(UUID(ref)) if str(UUID(ref)) in self.nodes else None
        except ValueError:
            pass
        for key, node in self.nodes.items():
            if node.title == ref or key.startswith(ref):
                return key
        return None

    def matcher(self, node_id: str, phrases: list[str], spec: object) -> CompiledMatcher:
        found = self.matchers.get(node_id)
        if found is None:
            found = compile_matcher(phrases, spec)  # type: ignore[arg-type]
            self.matchers[node_id] = found
        return found


@dataclass
class FunnelIndex:
    """Live versions (one per enabled funnel) and their triggers grouped by type."""

    funnels: dict[int, CompiledFunnel] = field(default_factory=dict)  # by funnel id
    by_type: dict[type[NodeProps], list[TriggerNode]] = field(default_factory=dict)

    @classmethod
    def build(cls, live: list[CompiledFunnel]) -> FunnelIndex:
        index = cls()
        for cf in sorted(live, key=lambda f: f.funnel_id):
            index.funnels[cf.funnel_id] = cf
            for trigger in cf.triggers:
                index.by_type.setdefault(type(trigger.props), []).append(trigger)
        return index

    def triggers(self, props_type: type[NodeProps]) -> list[TriggerNode]:
        return self.by_type.get(props_type, [])

    def by_name(self, name: str) -> CompiledFunnel | None:
        return next((f for f in self.funnels.values() if f.name == name), None)


TRIGGER_TYPES = (
    ManagerPhraseProps,
    ContactKeywordProps,
    StartProps,
    PersonalLinkArrivalProps,
    BotArrivalProps,
    TagAddedProps,
)
