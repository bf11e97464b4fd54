"""Typed problems found when loading, validating or copying a funnel.

Each problem names the node (id and shown title) and the field, so the desktop can point
at it; the daemon refuses to publish a funnel with any problem of severity ``error``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID


class ProblemCode(StrEnum):
    # loading
    INVALID_JSON = "invalid_json"
    INVALID_STRUCTURE = "invalid_structure"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    # nodes and properties
    UNKNOWN_NODE_TYPE = "unknown_node_type"
    DUPLICATE_NODE_ID = "duplicate_node_id"
    MISSING_PROPERTY = "missing_property"
    INVALID_PROPERTY = "invalid_property"
    # edges and graph shape
    DANGLING_EDGE = "dangling_edge"
    PORT_MISMATCH = "port_mismatch"
    DUPLICATE_EDGE = "duplicate_edge"
    OUTPUT_FANOUT = "output_fanout"
    NO_TRIGGER = "no_trigger"
    UNREACHABLE_NODE = "unreachable_node"
    LOOP_WITHOUT_WAIT = "loop_without_wait"
    # references to the project (checked against a ProjectCatalog)
    UNKNOWN_BOT = "unknown_bot"
    UNKNOWN_TAG = "unknown_tag"
    UNKNOWN_PRODUCT = "unknown_product"
    UNKNOWN_FUNNEL = "unknown_funnel"
    UNKNOWN_MANAGER_ACCOUNT = "unknown_manager_account"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str
    message_ru: str
    node_id: UUID | None = None
    node_title: str | None = None
    field: str | None = None
    """Dotted path inside the document or node, e.g. ``props.phrases`` or ``edges.3.target``."""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the CLI and the engine API."""
        data = asdict(self)
        data["node_id"] = str(self.node_id) if self.node_id else None
        return data

    def __str__(self) -> str:
        where = " ".join(p for p in (self.node_title and f"[{self.node_title}]", self.field) if p)
        return f"{self.code}: {where + ': ' if where else ''}{self.message}"


def has_errors(problems: list[Problem]) -> bool:
    """Whether any problem blocks publishing (warnings do not)."""
    return any(p.is_error for p in problems)
