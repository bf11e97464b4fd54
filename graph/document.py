"""The funnel document: our own versioned JSON model of one funnel.

Nodes and edges are kept sorted (nodes by id, edges by endpoints) and properties of
known types are stored normalised (defaults filled, legacy type ids replaced), so a
document survives document → JSON → document unchanged and dumps diff cleanly.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graph.node_type import NodeType
from graph.node_types import find_type, get_type
from graph.nodes.base import BotRole, NodeProps, NonEmptyStr
from graph.ports import IN

SCHEMA_VERSION = 1


class Reentry(StrEnum):
    """Whether a contact may start the funnel again."""

    ALWAYS = "always"
    ONCE = "once"
    NOT_WHILE_ACTIVE = "not_while_active"


class FunnelSettings(BaseModel):
    """- ``notify_already_fired``: tell admins when a trigger fires for a contact whose
    re-entry is refused (a manager typed the same code phrase twice, R9).
    - ``bot_role``: the bot the funnel belongs to (its "contact's bot" by default)."""

    model_config = ConfigDict(extra="forbid")

    reentry: Reentry = Reentry.NOT_WHILE_ACTIVE
    notify_already_fired: bool = True
    bot_role: BotRole = "open"


class NodeUi(BaseModel):
    """Where the node is drawn; the engine ignores it."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(default=0.0, allow_inf_nan=False)
    y: float = Field(default=0.0, allow_inf_nan=False)
    collapsed: bool = False


def _is_plain_json(value: Any) -> bool:
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value)
    except (TypeError, ValueError, RecursionError):
        return False


class FunnelNode(BaseModel):
    """One node instance. ``props`` is a plain JSON object so that unknown types and
    invalid properties still load (validation reports them)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    type: NonEmptyStr
    title: str | None = None
    props: dict[str, Any] = Field(default_factory=dict)
    ui: NodeUi = Field(default_factory=NodeUi)

    @field_validator("title")
    @classmethod
    def _blank_title_is_none(cls, title: str | None) -> str | None:
        return title.strip() or None if title is not None else None

    @field_validator("props")
    @classmethod
    def _props_are_json(cls, props: dict[str, Any]) -> dict[str, Any]:
        if not _is_plain_json(props):
            raise ValueError("props must be plain JSON (objects, arrays, strings, finite numbers)")
        return props

    @model_validator(mode="after")
    def _normalise(self) -> FunnelNode:
        node_type = find_type(self.type)
        if node_type is not None:
            self.type = node_type.id
            self.props = normalise_props(node_type, self.props)
        return self

    @classmethod
    def create(cls, type_id: str, x: float = 0.0, y: float = 0.0) -> FunnelNode:
        """A new node of a known type with a fresh id and default properties."""
        node_type = get_type(type_id)
        return cls(
            id=uuid4(), type=node_type.id, props=node_type.default_props(), ui=NodeUi(x=x, y=y)
        )

    @property
    def node_type(self) -> NodeType | None:
        return find_type(self.type)

    def parsed_props(self) -> NodeProps | None:
        """Typed properties, or None for an unknown type or invalid properties."""
        node_type = self.node_type
        if node_type is None:
            return None
        try:
            return node_type.parse_props(self.props)
        except ValidationError:
            return None

    def display_title(self, lang: str = "ru") -> str:
        """The title override, else the type's title, else the raw type id."""
        if self.title:
            return self.title
        node_type = self.node_type
        return node_type.title.get(lang) if node_type else self.type


def normalise_props(node_type: NodeType, props: dict[str, Any]) -> dict[str, Any]:
    """Valid props → their canonical dump; invalid ones keep their values, missing keys
    filled with defaults (so the next load gives the same dict)."""
    try:
        return node_type.parse_props(props).model_dump(mode="json")
    except ValidationError:
        return {**node_type.default_props(), **props}


class FunnelEdge(BaseModel):
    """A connection from an output port of ``source`` to an input port of ``target``."""

    model_config = ConfigDict(extra="forbid")

    source: UUID
    source_port: NonEmptyStr
    target: UUID
    target_port: NonEmptyStr = IN

    def sort_key(self) -> tuple[str, str, str, str]:
        return (str(self.source), self.source_port, str(self.target), self.target_port)


class FunnelDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    id: UUID
    name: NonEmptyStr
    folder: NonEmptyStr | None = None
    description: str = ""
    settings: FunnelSettings = Field(default_factory=FunnelSettings)
    nodes: list[FunnelNode] = Field(default_factory=list)
    edges: list[FunnelEdge] = Field(default_factory=list)

    @model_validator(mode="after")
    def _canonical_order(self) -> FunnelDocument:
        self.nodes = sorted(self.nodes, key=lambda n: str(n.id))
        self.edges = sorted(self.edges, key=FunnelEdge.sort_key)
        return self

    def node(self, node_id: UUID) -> FunnelNode | None:
        """The first node with this id."""
        return next((n for n in self.nodes if n.id == node_id), None)
