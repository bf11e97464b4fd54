"""The staff panels over the HTTP API (RemoteBackend): the same contact card, tag action,
rollback preview, move to a node picked on the canvas, notifications counter, purchases,
reports (key figures, audience, steps) and broadcasts with URL buttons as with the embedded
engine."""

from __future__ import annotations

import asyncio
from typing import Any

from desktop.panels import cells
from desktop.remote_client import RemoteBackend
from tests.api.conftest import PASSWORD, Api
from tests.desktop import test_remote
from tests.desktop.test_remote import connect, settle
from tests.desktop.traffic import busy_day, crowd, manager_confirms_payment

loop = test_remote.loop
window = test_remote.window
server = test_remote.server
_isolated_environment = test_remote._isolated_environment  # fixtures


def test_panels_over_the_api(window: Any, loop: asyncio.AbstractEventLoop, server: Api) -> None:
    loop.run_until_complete(busy_day(server.service.workspace, "Демо"))
    connect(window, loop, login="admin", password=PASSWORD)
    assert isinstance(window.backend, RemoteBackend)

    contacts = window.show_panel("contacts")
    settle(loop, window)
    assert len(contacts.results) == 20
    contacts.query.setText("@user6001")
    [found] = loop.run_until_complete(contacts.search())
    card = loop.run_until_complete(contacts.open_contact(found["id"]))
    assert card["telegram_user_id"] == 6001
    assert contacts.run_rows()[0][1] == "Разбор по дате рождения"

    loop.run_until_complete(contacts.add_tag("VIP"))
    assert "VIP" in contacts.tag_names()
    engine_card = loop.run_until_complete(server.service.contact_card("Демо", found["id"]))
    assert "VIP" in engine_card["tags"]
    loop.run_until_complete(contacts.remove_tag("VIP"))
    assert "VIP" not in contacts.tag_names()

    contacts.runs.selectRow(0)
    plan = loop.run_until_complete(contacts.rollback_run())
    assert plan is not None and not plan["applied"]
    assert "Откатить запуск" in contacts.last_rollback_question

    # move to a node picked on the canvas (the canvas click itself: test_panels_move)
    contacts.runs.selectRow(0)
    assert loop.run_until_complete(contacts.pick_node_for_run())
    settle(loop, window)
    target = next(str(n.id) for n in window.draft.document.nodes if n.title == "Ждём «расскажи»")
    window.ask = lambda title, question: True
    window.editor._picker.pick(target)
    settle(loop, window)
    engine_card = loop.run_until_complete(server.service.contact_card("Демо", found["id"]))
    assert engine_card["runs"][0]["node_id"] == target
    assert window.tabs.currentWidget() is contacts

    notifications = window.panels["notifications"]
    assert loop.run_until_complete(notifications.refresh()) == []
    assert loop.run_until_complete(window.backend.unresolved_notifications("Демо")) == 0
    purchases = window.show_panel("purchases")
    settle(loop, window)
    assert purchases.table.rowCount() == 0 and purchases.product.count() >= 2

    from PySide6.QtCore import QDate

    reports = window.panels["reports"]
    reports.set_range(QDate(2024, 5, 5), QDate(2024, 5, 7))
    report = loop.run_until_complete(reports.refresh())
    assert report is not None and report["days"][1]["entered"] == 20
    assert dict(reports.chart.bars)["2024-05-06"] > 20
    audience = loop.run_until_complete(reports.refresh_audience())
    assert audience is not None and audience[1]["new"] == 20
    assert sum(b["subscribed"] for b in (reports.now or {})["bots"]) == 20
    steps = loop.run_until_complete(reports.refresh_steps())
    assert steps and reports.funnel.currentText() == "Разбор по дате рождения"
    assert dict(reports.dropoff.steps)["Приветствие"] == 20

    broadcasts = window.show_panel("broadcasts")
    settle(loop, window)
    assert broadcasts.count == 20
    broadcasts.set_tags(included=["получил анализ"])
    assert loop.run_until_complete(broadcasts.update_count()) == 11
    broadcasts.text.setPlainText("Привет")
    broadcasts.add_url_button("Сайт", "https://example.org")
    created = loop.run_until_complete(broadcasts.submit(send_now=False))
    assert created is not None and created["status"] == "scheduled"
    assert created["buttons"] == [[{"text": "Сайт", "url": "https://example.org"}]]
    loop.run_until_complete(broadcasts.cancel())
    assert broadcasts.broadcasts[0]["status"] == "cancelled"
    broadcasts.poll.stop()

    # a personal link on the card, named from the API's product and bot ids
    loop.run_until_complete(
        manager_confirms_payment(server.service.workspace, "Демо", crowd(20)[1])
    )
    card = loop.run_until_complete(contacts.open_contact(found["id"]))
    [link] = card["links"]
    assert (link["product"], link["target_channel"]) == ("Таро", "Платный бот")
    assert cells(contacts.links)[0][1:3] == ["Таро", "Платный бот"]
    assert window.errors == []
