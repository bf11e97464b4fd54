"""The staff panels over the HTTP API (RemoteBackend): the same contact card, tag action,
rollback preview, notifications counter and purchases as with the embedded engine."""

from __future__ import annotations

import asyncio
from typing import Any

from desktop.remote_client import RemoteBackend
from tests.api.conftest import PASSWORD, Api
from tests.desktop import test_remote
from tests.desktop.test_remote import connect, settle
from tests.desktop.traffic import busy_day

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

    broadcasts = window.show_panel("broadcasts")
    settle(loop, window)
    assert broadcasts.count == 20
    broadcasts.set_tags(included=["получил анализ"])
    assert loop.run_until_complete(broadcasts.update_count()) == 11
    broadcasts.text.setPlainText("Привет")
    window.ask = lambda title, question: True
    created = loop.run_until_complete(broadcasts.submit(send_now=False))
    assert created is not None and created["status"] == "scheduled"
    loop.run_until_complete(broadcasts.cancel())
    assert broadcasts.broadcasts[0]["status"] == "cancelled"
    broadcasts.poll.stop()
    assert window.errors == []
