"""What a node type is: a description kept apart from the node instances of a funnel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from graph.localtext import LocalText
from graph.nodes.base import NodeProps
from graph.ports import IN, NEXT


class NodeCategory(StrEnum):
    TRIGGER = "trigger"
    MESSAGE = "message"
    FLOW = "flow"
    DATA = "data"
    ACTION = "action"


@dataclass(frozen=True)
class NodeType:
    """A node type: stable id, titles, docs (incl. engine semantics), ports, properties.

    - ``outputs``: static output ports; ``dynamic_prefixes``: prefixes of outputs derived
      from properties (see ``NodeProps.dynamic_outputs``).
    - ``is_waiting``: a run can stop here until time passes or an event comes; every
      output is followed only after that wait.
    - ``deferred_prefixes``: outputs that are followed only after an event even though the
      node itself does not always wait (message buttons).
    - ``legacy_ids``: former ids, still accepted when loading so renames keep old files.
    """

    id: str
    category: NodeCategory
    title: LocalText
    docs: LocalText
    props_model: type[NodeProps]
    outputs: tuple[str, ...] = (NEXT,)
    dynamic_prefixes: tuple[str, ...] = ()
    deferred_prefixes: tuple[str, ...] = ()
    is_trigger: bool = False
    is_waiting: bool = False
    legacy_ids: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        return () if self.is_trigger else (IN,)

    def parse_props(self, raw: Any) -> NodeProps:
        """Validate raw properties; raises ``pydantic.ValidationError``."""
        return self.props_model.model_validate(raw)

    def default_props(self) -> dict[str, Any]:
        """Properties of a freshly placed node (required fields left empty)."""
        return self.props_model.model_construct().model_dump(mode="json")

    def output_ports(self, props: NodeProps | None = None) -> tuple[str, ...]:
        """All outputs; dynamic ones only when valid ``props`` are given."""
        dynamic = tuple(props.dynamic_outputs()) if props is not None else ()
        return self.outputs + dynamic

    def may_have_output(self, port: str) -> bool:
        """Whether ``port`` is a static output or has one of the dynamic prefixes."""
        return port in self.outputs or any(port.startswith(p) for p in self.dynamic_prefixes)

    def is_deferred_output(self, port: str) -> bool:
        """Whether a run leaves through ``port`` only after waiting (used by the loop check)."""
        return self.is_waiting or any(port.startswith(p) for p in self.deferred_prefixes)
