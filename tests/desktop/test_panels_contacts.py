"""The contacts panel over simulated traffic of the demo: search by id, @username, name and
tag; the card shows tags, runs, history; a tag added by hand reaches the engine; a rollback
shows what it will change before it is done."""

from __future__ import annotations

import asyncio
from typing import Any

from desktop.panels import cells
from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import busy_day, crowd

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures


def _search(
    window: Any, loop: asyncio.AbstractEventLoop, text: str, tag: str | None = None
) -> list[str]:
    panel = window.panels["contacts"]
    if tag is not None:
        panel.tag_filter.setCurrentIndex(panel.tag_filter.findText(tag))
    panel.query.setText(text)
    rows = loop.run_until_complete(panel.search())
    return [str(r["telegram_user_id"]) for r in rows]


def test_search_card_tags_and_rollback_preview(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    panel = window.show_panel("contacts")
    settle(loop, window)
    people = crowd(20)
    assert len(panel.results) == 20

    assert _search(window, loop, "6003") == ["6003"]
    assert _search(window, loop, "@user6001") == ["6001"]
    first = people[4].first_name  # several people share a first name
    assert "6004" in _search(window, loop, first.lower())

    assert _search(window, loop, "6000") == ["6000"]
    panel.list.setCurrentRow(0)  # a click on the result opens the card
    settle(loop, window)
    card = panel.card
    assert card is not None
    assert card["telegram_user_id"] == 6000
    assert panel.run_rows() and panel.run_rows()[0][1] == "Разбор по дате рождения"
    assert panel.history.rowCount() > 0

    # a tag by hand: in the card and in the engine
    panel.new_tag.setCurrentText("VIP")
    panel.add_tag_button.click()
    settle(loop, window)
    assert "VIP" in panel.tag_names()
    fresh = loop.run_until_complete(window.service.contact_card("Демо", card["id"]))
    assert "VIP" in fresh["tags"]
    assert any(
        h["kind"].startswith("tag") and h.get("actor") == "staff:desktop" for h in fresh["history"]
    )
    timeline = [(row[1], row[2]) for row in cells(panel.history)]
    assert ("тег добавлен", "staff:desktop") in timeline  # kinds in words, newest first
    assert any(kind == "получил сообщение" for kind, _ in timeline)
    loop.run_until_complete(panel.refresh())
    assert _search(window, loop, "", tag="VIP") == ["6000"]
    _search(window, loop, "", tag=panel.tag_filter.itemText(0))  # any tag again

    # a rollback asks first and lists what it changes; refusing changes nothing
    panel.runs.selectRow(0)
    plan = loop.run_until_complete(panel.rollback_run())
    assert plan is not None and not plan["applied"]
    [question] = window.questions
    assert "Откатить запуск" in question
    assert panel.last_rollback_question == question
    assert "получил анализ" in plan["remove_tags"]  # the run put it
    for tag in plan["remove_tags"]:
        assert f"Будет снят тег «{tag}»" in question
    if plan["stop_self"]:
        assert "Запуск будет остановлен" in question
    status_before = panel.run_rows()[0][3]

    shoot(window, "panel-contacts.png")

    window.answers.append(True)
    plan = loop.run_until_complete(panel.rollback_run())
    settle(loop, window)
    assert plan is not None and plan["applied"]
    fresh = loop.run_until_complete(window.service.contact_card("Демо", card["id"]))
    assert any(h["kind"] == "run.rolled_back" for h in fresh["history"])
    for tag in plan["remove_tags"]:
        assert tag not in fresh["tags"]
    assert "VIP" in fresh["tags"]  # added by hand, not by the run
    if plan["stop_self"]:
        assert panel.run_rows()[0][3] != status_before
    assert window.errors == []


def test_stop_and_restart_a_run(window: Any, loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    panel = window.show_panel("contacts")
    settle(loop, window)
    assert _search(window, loop, "6019") == ["6019"]
    card = loop.run_until_complete(panel.open_contact(panel.results[0]["id"]))
    runs_before = len(card["runs"])
    panel.runs.selectRow(0)
    window.answers += [True]
    panel.stop_button.click()
    settle(loop, window)
    assert panel.run_rows()[0][3] == "остановлен"
    window.answers += [True]
    panel.restart_button.click()
    settle(loop, window)
    assert len(panel.card["runs"]) == runs_before + 1
    assert panel.run_rows()[0][3] in ("ждёт", "выполняется", "завершён")
    assert len(window.questions) == 2 and window.errors == []
