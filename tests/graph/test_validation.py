"""Each kind of validation problem is found and points at the right node and field."""

from __future__ import annotations

import uuid

import pytest

from graph.document import FunnelDocument
from graph.problems import Problem, ProblemCode, Severity, has_errors
from graph.project_catalog import ProjectCatalog
from graph.validation import validate_funnel

from .builders import EXAMPLE_PROPS, FunnelBuilder, chain, node_id

CATALOG = ProjectCatalog(
    bots=[("open", "Открытый бот"), ("paid", "Платный бот"), ("free", "Халявный бот")],
    tags={"купил", "получил анализ"},
    products={"Таро"},
    funnels={"Оплата Таро", "Таро: платный бот"},
    manager_accounts={"Менеджер"},
)


def only(problems: list[Problem], code: ProblemCode) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


def uid(key: str) -> uuid.UUID:
    return uuid.UUID(node_id(key))


def valid() -> FunnelBuilder:
    return chain(("start", "trigger.start"), ("hello", "message"), ("end", "end"))


def test_a_good_funnel_has_no_problems() -> None:
    assert validate_funnel(valid().doc(), CATALOG) == []


def test_every_example_node_is_valid_with_the_catalog() -> None:
    builder = FunnelBuilder()
    for type_id in EXAMPLE_PROPS:
        builder.node(type_id, type_id)
    problems = validate_funnel(builder.doc(), CATALOG)
    assert {p.code for p in problems} == {ProblemCode.UNREACHABLE_NODE}


def test_unknown_node_type() -> None:
    builder = valid()
    builder.node("alien", "plugin.alien", {"x": 1})
    builder.edge("hello", "next", "alien")  # a port check is impossible; no extra problem
    builder.data["edges"] = [e for e in builder.data["edges"] if e["target"] != node_id("end")]
    problem = only(validate_funnel(builder.doc()), ProblemCode.UNKNOWN_NODE_TYPE)
    assert (problem.node_id, problem.field) == (uid("alien"), "type")
    assert problem.node_title == "plugin.alien"


def test_missing_property() -> None:
    builder = valid()
    builder.node("kw", "trigger.contact_keyword", {"phrases": []})
    builder.edge("kw", "next", "hello")
    problem = only(validate_funnel(builder.doc()), ProblemCode.MISSING_PROPERTY)
    assert (problem.node_id, problem.field) == (uid("kw"), "props.phrases")
    assert problem.node_title == "Ключевое слово контакта"
    assert problem.message_ru


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"mode": "duration", "duration": {"hours": -1}}, "props.duration.hours"),
        ({"mode": "until_time", "time": "25:00"}, "props.time"),
        ({"mode": "until_time"}, "props.time"),
        ({"mode": "duration", "duration": {}}, "props.duration"),
        ({"weekdays": [7]}, "props.weekdays.0"),
        ({"speed": "fast"}, "props.speed"),
    ],
)
def test_invalid_delay_property(props: dict[str, object], field: str) -> None:
    builder = chain(("start", "trigger.start"), ("wait", "delay"), ("end", "end"))
    builder.data["nodes"][1]["props"] = props
    problems = [p for p in validate_funnel(builder.doc()) if p.field == field]
    assert len(problems) == 1
    assert problems[0].code in (ProblemCode.INVALID_PROPERTY, ProblemCode.MISSING_PROPERTY)
    assert problems[0].node_id == uid("wait")


@pytest.mark.parametrize(
    ("props", "code", "field"),
    [
        ({"text": "", "media": []}, ProblemCode.MISSING_PROPERTY, "props.text"),
        ({"text": "x", "channel": "bot"}, ProblemCode.MISSING_PROPERTY, "props.bot_role"),
        ({"text": "<b>x"}, ProblemCode.INVALID_PROPERTY, "props.text"),
        ({"text": "<div>x</div>"}, ProblemCode.INVALID_PROPERTY, "props.text"),
        (
            {"text": "x", "buttons": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]},
            ProblemCode.INVALID_PROPERTY,
            "props.buttons.1.id",
        ),
        (
            {"text": "x", "buttons": [{"id": "a", "text": "A", "kind": "url"}]},
            ProblemCode.MISSING_PROPERTY,
            "props.buttons.0.url",
        ),
        (
            {"text": "x", "buttons": [{"id": "a b", "text": "A"}]},
            ProblemCode.INVALID_PROPERTY,
            "props.buttons.0.id",
        ),
        (
            {"text": "x", "media": [{"kind": "sticker", "source": "s"}]},
            ProblemCode.INVALID_PROPERTY,
            "props.media.0.kind",
        ),
    ],
)
def test_invalid_message_property(props: dict[str, object], code: ProblemCode, field: str) -> None:
    builder = valid()
    builder.data["nodes"][1]["props"] = props
    problem = only(validate_funnel(builder.doc()), code)
    assert (problem.node_id, problem.field) == (uid("hello"), field)


def test_invalid_condition_rule_names_the_rule() -> None:
    builder = chain(("start", "trigger.start"), ("if", "condition"))
    builder.data["nodes"][1]["props"] = {
        "rules": [{"kind": "has_tag", "tag": "купил"}, {"kind": "weather"}]
    }
    problem = only(validate_funnel(builder.doc()), ProblemCode.INVALID_PROPERTY)
    assert problem.field == "props.rules.1"


def test_set_variable_regex_needs_a_valid_pattern() -> None:
    builder = chain(("start", "trigger.start"), ("set", "set_variable"))
    builder.data["nodes"][1]["props"] = {"name": "x", "validate": "regex", "pattern": "(["}
    problem = only(validate_funnel(builder.doc()), ProblemCode.INVALID_PROPERTY)
    assert problem.field == "props.pattern"


def test_port_mismatch_unknown_output() -> None:
    builder = valid()
    builder.edge("hello", "yes", "end")
    problem = only(validate_funnel(builder.doc()), ProblemCode.PORT_MISMATCH)
    assert problem.node_id == uid("hello")
    assert problem.field is not None and problem.field.endswith(".source_port")
    assert "yes" in problem.message


def test_port_mismatch_input_to_input() -> None:
    builder = valid()
    builder.edge("hello", "in", "end")
    problem = only(validate_funnel(builder.doc()), ProblemCode.PORT_MISMATCH)
    assert (
        problem.node_id == uid("hello")
        and problem.field is not None
        and problem.field.endswith("source_port")
    )


def test_port_mismatch_into_a_trigger() -> None:
    builder = valid()
    builder.node("second", "trigger.tag_added")
    builder.edge("hello", "button:yes", "second")
    problem = only(validate_funnel(builder.doc()), ProblemCode.PORT_MISMATCH)
    assert (
        problem.node_id == uid("second")
        and problem.field is not None
        and problem.field.endswith("target_port")
    )


def test_port_mismatch_unknown_button() -> None:
    builder = valid()
    builder.edge("hello", "button:nope", "end")
    problem = only(validate_funnel(builder.doc()), ProblemCode.PORT_MISMATCH)
    assert problem.node_id == uid("hello")


def test_dangling_edge() -> None:
    builder = valid()
    builder.data["edges"].append(
        {"source": node_id("hello"), "source_port": "button:yes", "target": node_id("ghost")}
    )
    problem = only(validate_funnel(builder.doc()), ProblemCode.DANGLING_EDGE)
    assert problem.node_id == uid("hello")
    assert problem.field is not None and problem.field.endswith(".target")


def test_duplicate_edge() -> None:
    builder = valid()
    builder.edge("hello", "next", "end")
    problem = only(validate_funnel(builder.doc()), ProblemCode.DUPLICATE_EDGE)
    assert problem.node_id == uid("hello")


def test_output_leading_to_two_nodes() -> None:
    builder = valid()
    builder.node("other", "end")
    builder.edge("hello", "next", "other")
    problem = only(validate_funnel(builder.doc()), ProblemCode.OUTPUT_FANOUT)
    assert (problem.node_id, problem.field) == (uid("hello"), "outputs.next")


def test_unreachable_node_is_a_warning() -> None:
    builder = valid()
    builder.node("island", "end")
    problems = validate_funnel(builder.doc())
    problem = only(problems, ProblemCode.UNREACHABLE_NODE)
    assert problem.node_id == uid("island")
    assert problem.severity == Severity.WARNING and not has_errors(problems)


def test_funnel_without_trigger() -> None:
    problems = validate_funnel(chain(("hello", "message"), ("end", "end")).doc())
    problem = only(problems, ProblemCode.NO_TRIGGER)
    assert problem.node_id is None and problem.severity == Severity.WARNING
    assert not any(p.code == ProblemCode.UNREACHABLE_NODE for p in problems)


def test_empty_funnel_has_no_trigger() -> None:
    doc = FunnelDocument(id=uuid.uuid4(), name="Пусто")
    assert [p.code for p in validate_funnel(doc)] == [ProblemCode.NO_TRIGGER]


def test_duplicate_node_ids() -> None:
    builder = valid()
    builder.node("hello", "end")
    problem = only(validate_funnel(builder.doc()), ProblemCode.DUPLICATE_NODE_ID)
    assert (problem.node_id, problem.field) == (uid("hello"), "id")


def test_loop_without_waiting_node() -> None:
    builder = chain(("start", "trigger.start"), ("a", "tag_add"), ("b", "message"))
    builder.edge("b", "next", "a")
    problem = only(validate_funnel(builder.doc()), ProblemCode.LOOP_WITHOUT_WAIT)
    assert problem.node_id in {uid("a"), uid("b")}
    assert problem.severity == Severity.ERROR


def test_self_loop_without_wait() -> None:
    builder = FunnelBuilder()
    builder.node("start", "trigger.start")
    builder.node("set", "set_variable")
    builder.edge("start", "next", "set")
    builder.edge("set", "invalid", "set")
    problem = only(validate_funnel(builder.doc()), ProblemCode.LOOP_WITHOUT_WAIT)
    assert problem.node_id == uid("set")


def test_loop_through_a_waiting_node_is_fine() -> None:
    builder = chain(
        ("start", "trigger.start"),
        ("ask", "message"),
        ("wait", "wait_reply"),
        ("set", "set_variable"),
    )
    builder.data["edges"] = builder.data["edges"][:2]
    builder.edge("wait", "other", "set")
    builder.edge("set", "invalid", "ask")
    assert validate_funnel(builder.doc()) == []


def test_loop_through_a_button_is_fine_but_not_through_next() -> None:
    builder = FunnelBuilder()
    builder.node("start", "trigger.start")
    builder.node(
        "menu", "message", {"text": "Меню", "buttons": [{"id": "again", "text": "Ещё раз"}]}
    )
    builder.node("tag", "tag_add")
    builder.edge("start", "next", "menu")
    builder.edge("menu", "button:again", "tag")
    builder.edge("tag", "next", "menu")
    assert validate_funnel(builder.doc()) == []
    builder.data["edges"][1]["source_port"] = "next"
    assert only(validate_funnel(builder.doc()), ProblemCode.LOOP_WITHOUT_WAIT)


@pytest.mark.parametrize(
    ("type_id", "props", "code", "field"),
    [
        ("tag_add", {"tags": ["купил", "новый тег"]}, ProblemCode.UNKNOWN_TAG, "props.tags.1"),
        (
            "condition",
            {"rules": [{"kind": "purchased", "product": "Курс"}]},
            ProblemCode.UNKNOWN_PRODUCT,
            "props.rules.0.product",
        ),
        (
            "message",
            {"text": "x", "channel": "bot", "bot_role": "vip"},
            ProblemCode.UNKNOWN_BOT,
            "props.bot_role",
        ),
        ("goto_funnel", {"funnel": "Нет такой"}, ProblemCode.UNKNOWN_FUNNEL, "props.funnel"),
        (
            "stop_funnels",
            {"except_funnels": ["Нет такой"]},
            ProblemCode.UNKNOWN_FUNNEL,
            "props.except_funnels.0",
        ),
        (
            "personal_link",
            {"product": "Таро", "bot_role": "vip"},
            ProblemCode.UNKNOWN_BOT,
            "props.bot_role",
        ),
    ],
)
def test_unknown_references_with_catalog(
    type_id: str, props: dict[str, object], code: ProblemCode, field: str
) -> None:
    builder = valid()
    builder.node("ref", type_id, props)
    builder.edge("hello", "button:yes", "ref")
    assert not any(p.code == code for p in validate_funnel(builder.doc()))  # no catalog, no check
    problem = only(validate_funnel(builder.doc(), CATALOG), code)
    assert (problem.node_id, problem.field) == (uid("ref"), field)


def test_unknown_manager_account() -> None:
    builder = valid()
    builder.data["nodes"][0] = {
        **builder.data["nodes"][0],
        "type": "trigger.manager_phrase",
        "props": {"phrases": ["x"], "account": "Анна"},
    }
    problem = only(validate_funnel(builder.doc(), CATALOG), ProblemCode.UNKNOWN_MANAGER_ACCOUNT)
    assert (problem.node_id, problem.field) == (uid("start"), "props.account")


def test_unknown_bot_in_settings() -> None:
    builder = valid()
    builder.data["settings"] = {"bot_role": "vip"}
    problem = only(validate_funnel(builder.doc(), CATALOG), ProblemCode.UNKNOWN_BOT)
    assert (problem.node_id, problem.field) == (None, "settings.bot_role")


def test_goto_own_funnel_is_known() -> None:
    builder = valid()
    builder.node("again", "goto_funnel", {"funnel": "Тест"})
    builder.edge("hello", "button:yes", "again")
    assert validate_funnel(builder.doc(), CATALOG) == []


def test_problem_serialises_for_the_api() -> None:
    builder = valid()
    builder.node("island", "end")
    data = validate_funnel(builder.doc())[0].to_dict()
    assert data["code"] == "unreachable_node" and data["node_id"] == node_id("island")


@pytest.mark.parametrize("type_id", [t for t in EXAMPLE_PROPS if t != "end"])
def test_a_fresh_node_reports_only_its_empty_required_fields(type_id: str) -> None:
    from graph.document import FunnelNode

    node = FunnelNode.create(type_id, 10, 20)
    doc = FunnelDocument(id=uuid.uuid4(), name="Новая", nodes=[node])
    props_problems = [
        p
        for p in validate_funnel(doc)
        if p.code in (ProblemCode.MISSING_PROPERTY, ProblemCode.INVALID_PROPERTY)
    ]
    assert all(p.code == ProblemCode.MISSING_PROPERTY for p in props_problems), props_problems
    assert all(p.node_id == node.id and str(p) for p in props_problems)
