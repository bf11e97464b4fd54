"""Hypothesis strategies: random funnels (valid and not) and random JSON."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from hypothesis import strategies as st

from graph.node_types import get_type, list_types

from .builders import EXAMPLE_PROPS

TYPE_IDS = [t.id for t in list_types()]
FLOW_TYPES = [t for t in TYPE_IDS if not t.startswith("trigger.")]

plain_text = st.text(
    alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="<>&"),
    max_size=30,
)
words = plain_text.filter(lambda s: bool(s.strip()))
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
uuids = st.uuids().map(str)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | finite | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def example_props(draw: st.DrawFn, type_id: str) -> dict[str, Any]:
    """Valid properties of a type with some randomised text."""
    props = copy.deepcopy(EXAMPLE_PROPS[type_id])
    if type_id == "message":
        props["text"] = draw(words)
        props["protect_content"] = draw(st.booleans())
        props["reply_buttons"] = draw(st.lists(words, max_size=3))
    elif "phrases" in props:
        props["phrases"] = draw(st.lists(words, min_size=1, max_size=3))
    elif type_id == "notify_admins":
        props["text"] = draw(words)
    return props


@st.composite
def valid_funnels(draw: st.DrawFn) -> dict[str, Any]:
    """A tree grown from one trigger: every output used at most once, no cycles, so the
    document must validate without problems (no catalog)."""
    trigger = draw(st.sampled_from([t for t in TYPE_IDS if t.startswith("trigger.")]))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []

    def add(type_id: str, depth: int, x: float) -> str:
        node_id = str(draw(st.uuids()))
        props = draw(example_props(type_id))
        title = draw(st.none() | words)
        nodes.append(
            {
                "id": node_id,
                "type": type_id,
                "title": title,
                "props": props,
                "ui": {"x": x, "y": draw(finite)},
            }
        )
        node_type = get_type(type_id)
        for port in node_type.output_ports(node_type.parse_props(props)):
            if depth < 3 and len(nodes) < 12 and draw(st.booleans()):
                child = add(draw(st.sampled_from(FLOW_TYPES)), depth + 1, x + 300)
                edges.append(
                    {"source": node_id, "source_port": port, "target": child, "target_port": "in"}
                )
        return node_id

    add(trigger, 0, 0.0)
    return {
        "schema_version": 1,
        "id": str(draw(st.uuids())),
        "name": draw(words),
        "folder": draw(st.none() | words),
        "description": draw(plain_text),
        "settings": {"reentry": draw(st.sampled_from(["always", "once", "not_while_active"]))},
        "nodes": nodes,
        "edges": edges,
    }


@st.composite
def funnel_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """Structurally plausible documents with random props, ports and edges."""
    ids = draw(st.lists(uuids, min_size=0, max_size=6))
    nodes = [
        {
            "id": node_id,
            "type": draw(st.sampled_from([*TYPE_IDS, "plugin.unknown"])),
            "props": draw(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "text",
                            "phrases",
                            "tags",
                            "rules",
                            "buttons",
                            "branches",
                            "timeout",
                            "mode",
                            "x",
                        ]
                    ),
                    json_values,
                    max_size=4,
                )
                | st.builds(lambda t: copy.deepcopy(EXAMPLE_PROPS[t]), st.sampled_from(TYPE_IDS))
            ),
        }
        for node_id in ids
    ]
    pool = [*ids, str(uuid.uuid4())]
    ports = st.sampled_from(
        ["next", "in", "yes", "no", "button:yes", "branch:a", "timeout", "matched", "x"]
    )
    edges = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "source": st.sampled_from(pool),
                    "source_port": ports,
                    "target": st.sampled_from(pool),
                    "target_port": ports,
                }
            ),
            max_size=8,
        )
    )
    return {
        "schema_version": 1,
        "id": str(uuid.uuid4()),
        "name": "x",
        "nodes": nodes,
        "edges": edges,
    }


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += json_paths(item, (*prefix, i))
    return paths


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three random changes: replace, delete or duplicate a value."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in json_paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if op == "replace":
            parent[last] = draw(json_values)
        elif op == "delete":
            del parent[last]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = [parent[last], parent[last]]
    return data
