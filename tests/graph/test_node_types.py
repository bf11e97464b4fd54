"""The node type catalogue: every type the engine executes exists and is described."""

from __future__ import annotations

import json

import pytest

from graph.node_type import NodeCategory
from graph.node_types import ALL_TYPES, UnknownNodeTypeError, get_type, list_types
from graph.ports import IN, NEXT

from .builders import EXAMPLE_PROPS

TRIGGERS = [
    "trigger.manager_phrase",
    "trigger.contact_keyword",
    "trigger.start",
    "trigger.personal_link",
    "trigger.bot_arrival",
    "trigger.tag_added",
]
NODES = [
    "message", "delay", "wait_reply", "condition", "tag_add", "tag_remove", "set_variable",
    "randomizer", "goto_funnel", "stop_funnels", "personal_link", "wait_arrival",
    "notify_admins", "record_purchase", "end",
]  # fmt: skip
WAITING = {"delay", "wait_reply", "wait_arrival"}


def test_catalogue_has_exactly_the_agreed_ids() -> None:
    assert sorted(t.id for t in list_types()) == sorted(TRIGGERS + NODES)


@pytest.mark.parametrize("type_id", TRIGGERS + NODES)
def test_each_type_is_described_in_both_languages(type_id: str) -> None:
    node_type = get_type(type_id)
    for text in (node_type.title, node_type.docs):
        assert text.ru.strip() and text.en.strip()
        assert text.ru != text.en
    assert len(node_type.docs.en) > 60, "docs should state the engine semantics"


@pytest.mark.parametrize("type_id", TRIGGERS)
def test_triggers_have_no_input_and_lead_on_by_next(type_id: str) -> None:
    node_type = get_type(type_id)
    assert node_type.is_trigger and node_type.category == NodeCategory.TRIGGER
    assert node_type.inputs == ()
    assert node_type.outputs == (NEXT,)


@pytest.mark.parametrize("type_id", NODES)
def test_nodes_have_one_input(type_id: str) -> None:
    node_type = get_type(type_id)
    assert not node_type.is_trigger and node_type.inputs == (IN,)
    assert node_type.category != NodeCategory.TRIGGER
    assert node_type.is_waiting == (type_id in WAITING)


@pytest.mark.parametrize(
    ("type_id", "outputs"),
    [
        ("wait_reply", ("matched", "other", "timeout")),
        ("condition", ("yes", "no")),
        ("set_variable", ("next", "invalid")),
        ("wait_arrival", ("arrived", "timeout")),
        ("goto_funnel", ()),
        ("end", ()),
        ("randomizer", ()),
    ],
)
def test_static_outputs(type_id: str, outputs: tuple[str, ...]) -> None:
    assert get_type(type_id).outputs == outputs


def test_message_has_a_port_per_callback_button() -> None:
    message = get_type("message")
    props = message.parse_props(EXAMPLE_PROPS["message"])
    assert message.output_ports(props) == ("next", "button:yes")  # the URL button has none
    assert message.is_deferred_output("button:yes") and not message.is_deferred_output("next")


def test_randomizer_has_a_port_per_branch() -> None:
    randomizer = get_type("randomizer")
    props = randomizer.parse_props(EXAMPLE_PROPS["randomizer"])
    assert randomizer.output_ports(props) == ("branch:a", "branch:b")


@pytest.mark.parametrize("node_type", ALL_TYPES, ids=lambda t: t.id)
def test_example_props_are_valid_and_defaults_complete(node_type) -> None:  # type: ignore[no-untyped-def]
    props = node_type.parse_props(EXAMPLE_PROPS[node_type.id])
    assert props.issues() == []
    defaults = node_type.default_props()
    json.dumps(defaults)
    assert set(defaults) == set(props.model_dump(mode="json"))


def test_unknown_id_raises() -> None:
    with pytest.raises(UnknownNodeTypeError):
        get_type("no.such.type")


def test_categories_cover_all_groups() -> None:
    assert {t.category for t in ALL_TYPES} == set(NodeCategory)
