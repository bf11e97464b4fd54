"""Notifications (R9) and purchases (R11) panels: the unresolved counter on the tab,
filters, resolving, jumping to the contact; purchases filtered and exported to CSV/XLSX."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from db.models import Contact, Notification, NotificationKind, Product, Purchase
from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import busy_day

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures


async def _contacts(window: Any) -> dict[int, int]:
    from sqlalchemy import select

    db = await window.service.database("Демо")
    async with db.sessions() as s:
        return {c.telegram_user_id: c.id for c in await s.scalars(select(Contact))}


async def _add_notifications(window: Any, ids: dict[int, int]) -> None:
    db = await window.service.database("Демо")
    at = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    async with db.sessions() as s, s.begin():
        s.add_all(
            [
                Notification(kind=NotificationKind.LOST_RECEIPT, contact_id=ids[6001],
                             text="Оплата прошла, а контакт не пришёл в платного бота",
                             details={}, created_at=at),
                Notification(kind=NotificationKind.SEND_ERROR, contact_id=ids[6002],
                             text="Бот заблокирован контактом", details={}, created_at=at),
                Notification(kind=NotificationKind.ADMIN_MESSAGE, contact_id=ids[6003],
                             text="Контакт просит связаться с менеджером", details={},
                             created_at=at),
            ]
        )  # fmt: skip


async def _add_purchases(window: Any, ids: dict[int, int]) -> None:
    db = await window.service.database("Демо")
    async with db.sessions() as s, s.begin():
        products = {p.name: p for p in await s.scalars(__import__("sqlalchemy").select(Product))}
        if "Консультация" not in products:
            products["Консультация"] = Product(name="Консультация")
            s.add(products["Консультация"])
        tarot = next(iter(products.values()))
        await s.flush()
        for i, (user, product, day, amount) in enumerate(
            [
                (6000, tarot, 6, "990"),
                (6001, tarot, 7, "990"),
                (6002, products["Консультация"], 9, "3500"),
            ]
        ):
            s.add(
                Purchase(
                    contact_id=ids[user],
                    product_id=product.id,
                    amount=Decimal(amount),
                    currency="RUB",
                    recorded_at=datetime(2024, 5, day, 12, i, tzinfo=UTC),
                )
            )


def test_notifications_counter_filter_resolve_and_open_contact(
    window: Any, loop: asyncio.AbstractEventLoop
) -> None:
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    ids = loop.run_until_complete(_contacts(window))
    loop.run_until_complete(_add_notifications(window, ids))
    panel = window.panels["notifications"]
    loop.run_until_complete(panel.refresh_counter())
    tab = window.tabs.tabText(window.tabs.indexOf(panel))
    assert tab == "Уведомления (3)"

    window.show_panel("notifications")
    settle(loop, window)
    assert panel.table.rowCount() == 3
    panel.kind.setCurrentIndex(panel.kind.findData("send_error"))
    settle(loop, window)
    assert panel.table.rowCount() == 1 and panel.table.item(0, 2).text() == "Ошибка отправки"
    panel.kind.setCurrentIndex(0)
    settle(loop, window)

    row = next(r for r in range(3) if "не пришёл" in panel.table.item(r, 4).text())
    panel.table.selectRow(row)
    panel.resolve_button.click()
    settle(loop, window)
    assert panel.table.rowCount() == 2  # unresolved only
    assert window.tabs.tabText(window.tabs.indexOf(panel)) == "Уведомления (2)"
    panel.only_unresolved.setChecked(False)
    settle(loop, window)
    assert panel.table.rowCount() == 3
    resolved = [r for r in range(3) if panel.table.item(r, 5).text()]
    assert len(resolved) == 1 and "staff:desktop" in panel.table.item(resolved[0], 5).text()
    shoot(window, "panel-notifications.png")

    row = next(r for r in range(3) if "менеджером" in panel.table.item(r, 4).text())
    panel.table.selectRow(row)
    panel.open_button.click()
    settle(loop, window)
    contacts = window.panels["contacts"]
    assert window.tabs.currentWidget() is contacts
    assert contacts.card is not None and contacts.card["telegram_user_id"] == 6003
    assert window.errors == []


def test_purchases_filter_and_export(
    window: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    from PySide6.QtCore import QDate

    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    ids = loop.run_until_complete(_contacts(window))
    loop.run_until_complete(_add_purchases(window, ids))
    panel = window.show_panel("purchases")
    settle(loop, window)
    assert panel.table.rowCount() == 3
    assert "5480 RUB" in panel.summary.text()

    panel.product.setCurrentIndex(panel.product.findText("Консультация"))
    settle(loop, window)
    assert panel.table.rowCount() == 1 and panel.table.item(0, 3).text() == "3500.00"
    panel.product.setCurrentIndex(0)
    settle(loop, window)

    panel.since.setDate(QDate(2024, 5, 7))
    panel.until.setDate(QDate(2024, 5, 9))
    panel.use_dates.setChecked(True)
    settle(loop, window)
    assert sorted(panel.table.item(r, 6).text() for r in range(2)) == ["6001", "6002"]
    assert panel.table.rowCount() == 2
    shoot(window, "panel-purchases.png")

    paths = iter([str(tmp_path / "p.csv"), str(tmp_path / "p.xlsx"), None])
    window.save_path = lambda title, suggested, filters: next(paths)
    panel.csv_button.click()
    settle(loop, window)
    with open(tmp_path / "p.csv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["№", "Дата", "Продукт"] and len(rows) == 3
    panel.xlsx_button.click()
    settle(loop, window)
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "p.xlsx").active
    values = list(sheet.values)
    assert len(values) == 3 and values[0][2] == "Продукт"
    assert {v[3] for v in values[1:]} == {990, 3500}
    panel.csv_button.click()  # cancelled: nothing happens
    settle(loop, window)
    assert window.errors == []
