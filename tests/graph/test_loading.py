"""Loading, dumping and the JSON Schema of funnel documents."""

from __future__ import annotations

import json
import uuid

import pytest

from graph import node_types
from graph.document import FunnelDocument
from graph.loading import FunnelLoadError, dump_funnel, funnel_json_schema, load_funnel
from graph.nodes.message import MESSAGE
from graph.problems import ProblemCode

from .builders import FunnelBuilder, chain, node_id


def test_round_trip_is_identical_and_dump_is_stable() -> None:
    doc = chain(("start", "trigger.start"), ("hello", "message"), ("end", "end")).doc()
    text = dump_funnel(doc)
    again = load_funnel(text)
    assert again == doc
    assert dump_funnel(again) == text


def test_dump_keeps_cyrillic_and_sorts_keys() -> None:
    text = dump_funnel(chain(("start", "trigger.tag_added")).doc())
    assert "купил" in text
    data = json.loads(text)
    assert list(data) == sorted(data)


def test_node_and_edge_order_does_not_matter() -> None:
    builder = chain(("a", "trigger.start"), ("b", "message"), ("c", "tag_add"), ("d", "end"))
    forward = builder.doc()
    builder.data["nodes"].reverse()
    builder.data["edges"].reverse()
    assert builder.doc() == forward
    assert dump_funnel(builder.doc()) == dump_funnel(forward)


def test_props_are_stored_with_defaults_filled() -> None:
    builder = FunnelBuilder()
    builder.node("t", "trigger.manager_phrase", {"phrases": [" оплата  "]})
    props = builder.doc().nodes[0].props
    assert props["phrases"] == ["оплата"]
    assert props["account"] is None
    assert props["match"]["mode"] == "exact"


def test_invalid_props_load_and_keep_their_values() -> None:
    builder = FunnelBuilder()
    builder.node("m", "message", {"text": "", "buttons": "not a list"})
    doc = builder.doc()
    assert doc.nodes[0].props["buttons"] == "not a list"
    assert doc.nodes[0].props["protect_content"] is False
    assert load_funnel(dump_funnel(doc)) == doc


def test_unknown_node_type_loads() -> None:
    builder = FunnelBuilder()
    builder.node("x", "plugin.from_the_future", {"anything": [1, {"deep": None}]})
    doc = load_funnel(builder.data)
    assert doc.nodes[0].type == "plugin.from_the_future"
    assert doc.nodes[0].props == {"anything": [1, {"deep": None}]}
    assert load_funnel(dump_funnel(doc)) == doc


def test_legacy_type_id_is_renamed_on_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(node_types._BY_ID, "send_message", MESSAGE)
    builder = FunnelBuilder()
    builder.node("m", "send_message", {"text": "Привет"})
    assert load_funnel(builder.data).nodes[0].type == "message"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", ProblemCode.INVALID_JSON),
        ('{"a": NaN}', ProblemCode.INVALID_JSON),
        ("[1, 2]", ProblemCode.INVALID_STRUCTURE),
        ("{}", ProblemCode.INVALID_STRUCTURE),
        ('{"schema_version": "1"}', ProblemCode.INVALID_STRUCTURE),
        ('{"schema_version": 2}', ProblemCode.UNSUPPORTED_SCHEMA_VERSION),
        ('{"schema_version": 0}', ProblemCode.UNSUPPORTED_SCHEMA_VERSION),
        ('{"schema_version": 1}', ProblemCode.INVALID_STRUCTURE),
    ],
)
def test_not_a_funnel_raises_load_error(text: str, code: ProblemCode) -> None:
    with pytest.raises(FunnelLoadError) as caught:
        load_funnel(text)
    assert caught.value.problems
    assert caught.value.problems[0].code == code


def test_structure_problem_names_node_and_field() -> None:
    builder = FunnelBuilder()
    builder.node("m", "message", {"text": "Привет"}, ui={"x": "left"})
    with pytest.raises(FunnelLoadError) as caught:
        load_funnel(builder.data)
    (problem,) = caught.value.problems
    assert problem.field == "nodes.0.ui.x"
    assert problem.node_id == uuid.UUID(node_id("m"))


def test_edge_target_port_defaults_to_in() -> None:
    builder = chain(("s", "trigger.start"), ("e", "end"))
    del builder.data["edges"][0]["target_port"]
    assert builder.doc().edges[0].target_port == "in"


def test_json_schema_is_json_and_describes_every_type() -> None:
    schema = funnel_json_schema()
    text = json.dumps(schema, ensure_ascii=False)
    assert schema["properties"]["schema_version"]
    node_schema = schema["$defs"]["FunnelNode"]
    assert {"message", "trigger.manager_phrase"} <= set(node_schema["properties"]["type"]["enum"])
    assert "props:condition" in schema["$defs"]
    assert "discriminator" in text or "oneOf" in text


def test_demo_documents_match_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from graph.demo import load_demo_funnels

    schema = funnel_json_schema()
    for doc in load_demo_funnels():
        jsonschema.validate(json.loads(dump_funnel(doc)), schema)


def test_document_model_holds_no_contacts_or_secrets() -> None:
    fields = set(FunnelDocument.model_fields)
    assert fields == {
        "schema_version",
        "id",
        "name",
        "folder",
        "description",
        "settings",
        "nodes",
        "edges",
    }
