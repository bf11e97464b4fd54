"""The catalogue of node types: lookup by id (legacy ids included) and listing."""

from __future__ import annotations

from graph.node_type import NodeCategory, NodeType
from graph.nodes.actions import ACTION_TYPES
from graph.nodes.data import DATA_TYPES
from graph.nodes.flow import FLOW_TYPES
from graph.nodes.message import MESSAGE
from graph.nodes.triggers import TRIGGER_TYPES

ALL_TYPES: tuple[NodeType, ...] = (*TRIGGER_TYPES, MESSAGE, *FLOW_TYPES, *DATA_TYPES, *ACTION_TYPES)


class UnknownNodeTypeError(KeyError):
    """No node type has this id or legacy id."""


def _index(types: tuple[NodeType, ...]) -> dict[str, NodeType]:
    index: dict[str, NodeType] = {}
    for node_type in types:
        for key in (node_type.id, *node_type.legacy_ids):
            if key in index:
                raise ValueError(f"node type id {key!r} is defined twice")
            index[key] = node_type
    return index


_BY_ID = _index(ALL_TYPES)


def find_type(type_id: str) -> NodeType | None:
    """The type with this id or legacy id, or None."""
    return _BY_ID.get(type_id)


def get_type(type_id: str) -> NodeType:
    """The type with this id or legacy id; raises :class:`UnknownNodeTypeError`."""
    node_type = _BY_ID.get(type_id)
    if node_type is None:
        raise UnknownNodeTypeError(type_id)
    return node_type


def list_types(category: NodeCategory | None = None) -> list[NodeType]:
    """All types in palette order, or those of one category."""
    return [t for t in ALL_TYPES if category is None or t.category == category]
