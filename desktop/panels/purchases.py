"""Purchases (R11): all purchases with product and date filters, export to CSV / XLSX."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import register
from desktop.panels import cells, fill, table, when

t = register(
    "purchases",
    {
        "all_products": ("Все продукты", "All products"),
        "from": ("С", "From"),
        "to": ("по", "to"),
        "dates": ("За период", "In period"),
        "export_csv": ("Экспорт CSV…", "Export CSV…"),
        "export_xlsx": ("Экспорт XLSX…", "Export XLSX…"),
        "refresh": ("Обновить", "Refresh"),
        "total": ("Покупок: {n} · сумма: {sum}", "Purchases: {n} · total: {sum}"),
        "exported": ("Сохранено: {path}", "Saved: {path}"),
        "id": ("№", "#"),
        "date": ("Дата", "Date"),
        "product": ("Продукт", "Product"),
        "amount": ("Сумма", "Amount"),
        "currency": ("Валюта", "Currency"),
        "contact": ("Контакт", "Contact"),
        "tid": ("Telegram ID", "Telegram ID"),
        "username": ("Username", "Username"),
        "name": ("Имя", "Name"),
    },
)

COLUMNS = ["id", "date", "product", "amount", "currency", "contact", "tid", "username", "name"]


class PurchasesPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.rows: list[dict[str, Any]] = []
        bar = QHBoxLayout()
        self.product = QComboBox()
        self.product.setMinimumWidth(200)
        self.product.addItem(t("all_products"), None)
        self.use_dates = QCheckBox(t("dates"))
        today = QDate.currentDate()
        self.since = QDateEdit(today.addDays(-30), calendarPopup=True)
        self.until = QDateEdit(today, calendarPopup=True)
        for w in (self.since, self.until):
            w.setDisplayFormat("dd.MM.yyyy")
        refresh = QPushButton(t("refresh"))
        refresh.clicked.connect(lambda: self.host.run(self.refresh()))
        self.product.currentIndexChanged.connect(lambda _: self.host.run(self.refresh()))
        self.use_dates.toggled.connect(lambda _: self.host.run(self.refresh()))
        self.csv_button = QPushButton(t("export_csv"))
        self.csv_button.clicked.connect(lambda: self.host.run(self.export("csv")))
        self.xlsx_button = QPushButton(t("export_xlsx"))
        self.xlsx_button.clicked.connect(lambda: self.host.run(self.export("xlsx")))
        for part in (
            self.product,
            self.use_dates,
            self.since,
            QLabel(t("to")),
            self.until,
            refresh,
        ):
            bar.addWidget(part)
        bar.addStretch(1)
        bar.addWidget(self.csv_button)
        bar.addWidget(self.xlsx_button)
        self.table = table([t(c) for c in COLUMNS])
        self.summary = QLabel()
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)

    def period(self) -> tuple[datetime | None, datetime | None]:
        """The chosen dates as [local midnight of the first, local midnight after the last)."""
        if not self.use_dates.isChecked():
            return None, None
        first = self.since.date().toPython()
        last = self.until.date().addDays(1).toPython()
        local = datetime.now().astimezone().tzinfo
        return (
            datetime.combine(first, time(), local).astimezone(UTC),
            datetime.combine(last, time(), local).astimezone(UTC),
        )

    async def refresh(self) -> list[dict[str, Any]]:
        if not self.host.project:
            return []
        products = await self.host.backend.list_products(self.host.project)
        current = self.product.currentData()
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItem(t("all_products"), None)
        for name in products:
            self.product.addItem(name, name)
        self.product.setCurrentIndex(max(0, self.product.findData(current)) if current else 0)
        self.product.blockSignals(False)
        since, until = self.period()
        self.rows = await self.host.backend.list_purchases(
            self.host.project, self.product.currentData(), since, until
        )
        fill(self.table, [self._cells(p) for p in self.rows], [p["id"] for p in self.rows])
        totals: dict[str, float] = {}
        for p in self.rows:
            if p.get("amount"):
                key = p.get("currency") or ""
                totals[key] = totals.get(key, 0.0) + float(p["amount"])
        money = ", ".join(f"{v:g} {k}".strip() for k, v in totals.items()) or "—"
        self.summary.setText(t("total", n=len(self.rows), sum=money))
        return self.rows

    @staticmethod
    def _cells(p: dict[str, Any]) -> list[Any]:
        return [
            p["id"], when(p["recorded_at"]), p["product"], p.get("amount"), p.get("currency"),
            p["contact_id"], p["telegram_user_id"], p.get("username"), p.get("name"),
        ]  # fmt: skip

    def headers(self) -> list[str]:
        return [t(c) for c in COLUMNS]

    async def export(self, fmt: str) -> str | None:
        """Write the table shown (all rows) to a file the user picks; returns its path."""
        filters = "CSV (*.csv)" if fmt == "csv" else "Excel (*.xlsx)"
        path = self.host.save_path(t(f"export_{fmt}"), f"purchases.{fmt}", filters)
        if not path:
            return None
        write_table(path, fmt, self.headers(), cells(self.table), sheet=t("product"))
        self.host.statusBar().showMessage(t("exported", path=path), 5000)
        return path


def write_table(path: str, fmt: str, headers: list[str], rows: list[list[Any]], sheet: str) -> None:
    """Rows to a CSV (UTF-8 with BOM, opens right in Excel) or an XLSX file."""
    if fmt == "csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(headers)
            writer.writerows(rows)
        return
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet[:31]
    ws.append(headers)
    for row in rows:
        ws.append([_number(v) for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    book.save(path)


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return (
                int(value)
                if value.isdigit()
                else float(value)
                if value.replace(".", "", 1).isdigit()
                else value
            )
        except ValueError:
            return value
    return value
