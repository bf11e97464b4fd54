"""Copying funnels within a project and to another project (R14)."""

from __future__ import annotations

import re
from typing import Any

from graph.copying import (
    apply_copy_plan,
    copy_with_id_map,
    copy_within_project,
    plan_copy_to_project,
)
from graph.demo import load_demo_project
from graph.document import FunnelDocument
from graph.loading import dump_funnel
from graph.problems import ProblemCode
from graph.project_catalog import ProjectCatalog
from graph.validation import validate_funnel

from .builders import chain

TARGET = ProjectCatalog(
    bots=[("open", "EMA открытый"), ("paid", "EMA платный")],
    tags={"купил"},
    products={"Матрица судьбы"},
    funnels={"Разбор по дате рождения"},
    manager_accounts={"Надежда"},
)


def shape(doc: FunnelDocument) -> Any:
    """Nodes and edges with ids replaced by (type, position), comparable across copies."""
    key = {n.id: (n.type, n.ui.x, n.ui.y) for n in doc.nodes}
    nodes = sorted(
        (n.type, n.title or "", n.ui.x, n.ui.y, repr(sorted(n.props.items()))) for n in doc.nodes
    )
    edges = sorted((key[e.source], e.source_port, key[e.target], e.target_port) for e in doc.edges)
    return nodes, edges


def test_copy_within_gets_new_ids_and_same_structure() -> None:
    for doc in load_demo_project().funnels:
        copy, id_map = copy_with_id_map(doc)
        assert copy.id != doc.id
        assert copy.name == doc.name + " (копия)"
        assert not {n.id for n in copy.nodes} & {n.id for n in doc.nodes}
        assert set(id_map) == {n.id for n in doc.nodes}
        assert {n.id for n in copy.nodes} == set(id_map.values())
        assert shape(copy) == shape(doc)
        for edge in doc.edges:
            assert any(
                e.source == id_map[edge.source]
                and e.target == id_map[edge.target]
                and e.source_port == edge.source_port
                for e in copy.edges
            )


def test_copy_within_keeps_validity() -> None:
    project = load_demo_project()
    for doc in project.funnels:
        copy = copy_within_project(doc, "Новая воронка")
        assert copy.name == "Новая воронка"
        assert validate_funnel(copy, project.catalog.with_created(funnels=[copy.name])) == []


def test_goto_inside_the_same_funnel_follows_the_copy() -> None:
    builder = chain(("start", "trigger.start"), ("hello", "message"))
    target = builder.data["nodes"][1]["id"]
    builder.node("again", "goto_funnel", {"funnel": "Тест", "node": target})
    builder.edge("hello", "button:yes", "again")
    doc = builder.doc()
    copy, id_map = copy_with_id_map(doc, "Тест 2")
    goto = next(n for n in copy.nodes if n.type == "goto_funnel")
    assert goto.props == {
        "funnel": "Тест 2",
        "node": str(next(v for k, v in id_map.items() if str(k) == target)),
    }


def test_plan_maps_bots_by_role_and_lists_what_to_create() -> None:
    project = load_demo_project()
    paid_flow = next(f for f in project.funnels if f.name == "Оплата Таро")
    plan = plan_copy_to_project(paid_flow, project.catalog, TARGET)
    bots = {b.role: b for b in plan.bots}
    assert set(bots) == {"open", "paid"}
    assert bots["open"].source_bot == "Открытый бот" and bots["open"].target_bot == "EMA открытый"
    assert bots["paid"].target_role == "paid"
    assert plan.products_to_create == ["Таро"]
    assert plan.problems == []
    assert plan.funnel_name == "Оплата Таро"


def test_plan_reports_missing_bot_role_and_renames_a_taken_name() -> None:
    project = load_demo_project()
    open_bot = next(f for f in project.funnels if f.name == "Разбор по дате рождения")
    target = ProjectCatalog(bots=[("paid", "P")], funnels={"Разбор по дате рождения"})
    plan = plan_copy_to_project(open_bot, project.catalog, target)
    assert plan.funnel_name == "Разбор по дате рождения (копия)"
    (problem,) = plan.problems
    assert problem.code == ProblemCode.UNKNOWN_BOT and problem.field == "bots.open"
    copy = apply_copy_plan(open_bot, plan)
    codes = {p.code for p in validate_funnel(copy, plan.target_catalog_after(target))}
    assert codes == {ProblemCode.UNKNOWN_BOT}


def test_copy_to_another_project_validates_against_target() -> None:
    project = load_demo_project()
    target = TARGET.with_created(funnels=[f.name for f in project.funnels])
    for doc in project.funnels:
        plan = plan_copy_to_project(doc, project.catalog, target)
        copy = apply_copy_plan(doc, plan)
        assert copy.id != doc.id
        assert not {n.id for n in copy.nodes} & {n.id for n in doc.nodes}
        assert set(plan.tags_to_create) <= {
            "написал дату рождения",
            "получил анализ",
            "написал расскажи",
            "купил Таро",
            "оставил отзыв",
        }
        assert "купил" not in plan.tags_to_create
        assert validate_funnel(copy, plan.target_catalog_after(target)) == []


def test_bot_role_can_be_remapped_by_staff() -> None:
    project = load_demo_project()
    paid_bot = next(f for f in project.funnels if f.name == "Таро: платный бот")
    target = ProjectCatalog(bots=[("vip", "VIP бот")])
    plan = plan_copy_to_project(paid_bot, project.catalog, target)
    assert [p.code for p in plan.problems] == [ProblemCode.UNKNOWN_BOT]
    plan.bots[0].target_role = "vip"
    copy = apply_copy_plan(paid_bot, plan)
    assert copy.settings.bot_role == "vip"
    trigger = next(n for n in copy.nodes if n.type == "trigger.personal_link")
    assert trigger.props["bot_role"] == "vip"
    assert validate_funnel(copy, plan.target_catalog_after(target)) == []


def test_missing_manager_account_becomes_any_account() -> None:
    builder = chain(("t", "trigger.manager_phrase"), ("end", "end"))  # account "Менеджер"
    plan = plan_copy_to_project(builder.doc(), ProjectCatalog(), TARGET)
    assert plan.manager_accounts == {"Менеджер": None}
    assert [p.code for p in plan.problems] == [ProblemCode.UNKNOWN_MANAGER_ACCOUNT]
    copy = apply_copy_plan(builder.doc(), plan)
    assert (
        next(n for n in copy.nodes if n.type == "trigger.manager_phrase").props["account"] is None
    )


def test_missing_goto_target_is_reported() -> None:
    builder = chain(("t", "trigger.start"), ("go", "goto_funnel"))
    plan = plan_copy_to_project(builder.doc(), ProjectCatalog(), TARGET)
    assert plan.missing_funnels == ["Оплата Таро"]
    assert ProblemCode.UNKNOWN_FUNNEL in {p.code for p in plan.problems}


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SECRET_LIKE = [
    re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}"),  # bot token
    re.compile(r"\+?\d{10,}"),  # phone number / Telegram user id
    re.compile(r"(?i)token|password|api_hash|session|secret|phone|user_id"),
]


def test_documents_and_copies_hold_no_contacts_or_secrets() -> None:
    project = load_demo_project()
    for doc in project.funnels:
        copy = apply_copy_plan(doc, plan_copy_to_project(doc, project.catalog, TARGET))
        for text in (dump_funnel(doc), dump_funnel(copy)):
            text = UUID_RE.sub("<uuid>", text)
            for pattern in SECRET_LIKE:
                assert not pattern.search(text), (doc.name, pattern.pattern)
