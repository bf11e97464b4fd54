"""The demo project shows the intended flows and validates cleanly."""

from __future__ import annotations

from graph.demo import load_demo_funnels, load_demo_project
from graph.loading import dump_funnel, load_funnel
from graph.references import RefKind, referenced_names
from graph.validation import validate_funnel


def by_name() -> dict[str, object]:
    return {f.name: f for f in load_demo_funnels()}


def test_demo_project_catalog() -> None:
    project = load_demo_project()
    assert dict(project.catalog.bots) == {
        "open": "Открытый бот",
        "paid": "Платный бот",
        "free": "Халявный бот",
    }
    assert project.catalog.products == {"Таро", "Матрица судьбы"}
    assert project.catalog.manager_accounts == {"Менеджер"}
    assert project.time_zone == "Europe/Moscow"
    assert len(project.funnels) == 3


def test_demo_funnels_validate_cleanly() -> None:
    project = load_demo_project()
    for doc in project.funnels:
        assert validate_funnel(doc, project.catalog) == [], doc.name


def test_demo_funnels_round_trip_byte_for_byte() -> None:
    from importlib.resources import files

    for name in ["open_bot_analysis.json", "paid_flow_taro.json", "paid_bot_taro.json"]:
        text = files("resources.demo").joinpath(name).read_text(encoding="utf-8")
        doc = load_funnel(text)
        assert dump_funnel(doc) == text
        assert load_funnel(dump_funnel(doc)) == doc


def test_open_bot_asks_birth_date_again_through_a_wait() -> None:
    doc = next(
        f
        for f in load_demo_funnels()
        if f.settings.bot_role == "open" and any(n.type == "trigger.start" for n in f.nodes)
    )
    types = {n.type for n in doc.nodes}
    assert {"wait_reply", "set_variable", "delay", "condition", "tag_add"} <= types
    setter = next(n for n in doc.nodes if n.type == "set_variable")
    assert setter.props["name"] == "birth_date" and setter.props["validate"] == "date"
    assert any(e.source == setter.id and e.source_port == "invalid" for e in doc.edges)
    assert "купил" in referenced_names(doc, RefKind.TAG)


def test_paid_flow_stops_open_bot_and_sends_personal_link() -> None:
    doc = next(f for f in load_demo_funnels() if f.name == "Оплата Таро")
    trigger = next(n for n in doc.nodes if n.type == "trigger.manager_phrase")
    assert "оплату за Таро получила" in trigger.props["phrases"]
    types = [n.type for n in doc.nodes]
    assert types.count("wait_arrival") == 2
    assert any(n.type == "notify_admins" and n.props["kind"] == "lost_receipt" for n in doc.nodes)
    assert any(n.type == "message" and "{{link}}" in n.props["text"] for n in doc.nodes)
    stop = next(n for n in doc.nodes if n.type == "stop_funnels")
    assert stop.props["bot_role"] == "open"


def test_paid_bot_tags_and_records_purchase_on_arrival() -> None:
    doc = next(f for f in load_demo_funnels() if f.name == "Таро: платный бот")
    assert (
        next(n for n in doc.nodes if n.type == "trigger.personal_link").props["product"] == "Таро"
    )
    assert any("купил" in n.props["tags"] for n in doc.nodes if n.type == "tag_add")
    assert next(n for n in doc.nodes if n.type == "record_purchase").props["product"] == "Таро"
    assert all(
        n.props["protect_content"]
        for n in doc.nodes
        if n.type == "message" and "разбор" in n.props["text"]
    )


def test_demo_nodes_are_laid_out_left_to_right() -> None:
    """Every edge goes right, except a loop back into a waiting node ("ask again")."""
    for doc in load_demo_funnels():
        nodes = {n.id: n for n in doc.nodes}
        for edge in doc.edges:
            source, target = nodes[edge.source], nodes[edge.target]
            assert source.ui.x < target.ui.x or target.type == "wait_reply", (
                doc.name,
                source.title,
            )
