"""Reports (R16): the daily key table over a date range and a bar chart of the messages
sent per day (drawn with QPainter), with export to CSV / XLSX."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import register
from desktop.panels import cells, fill, table
from desktop.panels.purchases import write_table

t = register(
    "reports",
    {
        "from": ("Период с", "From"),
        "to": ("по", "to"),
        "show": ("Показать", "Show"),
        "export_csv": ("Экспорт CSV…", "Export CSV…"),
        "export_xlsx": ("Экспорт XLSX…", "Export XLSX…"),
        "day": ("День", "Day"),
        "entered": ("Вошли", "Entered"),
        "active": ("Активные", "Active"),
        "inactive_day": ("Отписались за день", "Left that day"),
        "inactive_total": ("Неактивные всего", "Inactive in all"),
        "bought_new": ("Купили из новых", "New buyers"),
        "bought_total": ("Купили всего", "Buyers"),
        "purchases": ("Покупок", "Purchases"),
        "sent": ("Отправлено сообщений", "Messages sent"),
        "total": ("Итого", "Total"),
        "chart": ("Отправлено сообщений по дням", "Messages sent per day"),
        "bad_range": ("Начало периода позже конца", "The period starts after it ends"),
        "exported": ("Сохранено: {path}", "Saved: {path}"),
    },
)

HEAD = ["entered", "active", "inactive_day", "inactive_total"]
TAIL = ["bought_new", "bought_total", "purchases"]


class BarChart(QWidget):
    """Bars of one value per label, with the value above each bar."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.bars: list[tuple[str, int]] = []
        self.setMinimumHeight(180)

    def set_bars(self, bars: list[tuple[str, int]]) -> None:
        self.bars = bars
        self.update()

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(QColor("#333"))
        p.drawText(QRectF(8, 4, self.width() - 16, 20), Qt.AlignmentFlag.AlignLeft, self.title)
        p.setFont(self.font())
        if not self.bars:
            return
        left, top, bottom = 12.0, 44.0, 24.0
        width = self.width() - 2 * left
        height = self.height() - top - bottom
        base = top + height
        p.setPen(QPen(QColor("#999"), 1))
        p.drawLine(int(left), int(base), int(left + width), int(base))
        peak = max(v for _, v in self.bars) or 1
        slot = width / len(self.bars)
        bar = max(2.0, min(48.0, slot * 0.7))
        for i, (label, value) in enumerate(self.bars):
            x = left + i * slot + (slot - bar) / 2
            h = height * value / peak
            p.fillRect(QRectF(x, base - h, bar, h), QColor("#3d7cc9"))
            p.setPen(QColor("#333"))
            p.drawText(
                QRectF(x - 20, base - h - 18, bar + 40, 16),
                Qt.AlignmentFlag.AlignCenter,
                str(value),
            )
            if slot >= 40 or i % max(1, int(40 // slot)) == 0:
                p.drawText(
                    QRectF(x - 20, base + 4, bar + 40, 16), Qt.AlignmentFlag.AlignCenter, label[5:]
                )
        p.end()


class ReportsPanel(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.report: dict[str, Any] | None = None
        bar = QHBoxLayout()
        today = QDate.currentDate()
        self.first = QDateEdit(today.addDays(-13), calendarPopup=True)
        self.last = QDateEdit(today, calendarPopup=True)
        for w in (self.first, self.last):
            w.setDisplayFormat("dd.MM.yyyy")
        show = QPushButton(t("show"))
        show.clicked.connect(lambda: self.host.run(self.refresh()))
        self.csv_button = QPushButton(t("export_csv"))
        self.csv_button.clicked.connect(lambda: self.host.run(self.export("csv")))
        self.xlsx_button = QPushButton(t("export_xlsx"))
        self.xlsx_button.clicked.connect(lambda: self.host.run(self.export("xlsx")))
        for part in (QLabel(t("from")), self.first, QLabel(t("to")), self.last, show):
            bar.addWidget(part)
        bar.addStretch(1)
        bar.addWidget(self.csv_button)
        bar.addWidget(self.xlsx_button)
        self.table = table([t("day")])
        self.chart = BarChart(t("chart"))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart)
        splitter.setSizes([420, 260])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter)

    def set_range(self, first: QDate, last: QDate) -> None:
        self.first.setDate(first)
        self.last.setDate(last)

    def headers(self) -> list[str]:
        stages = (self.report or {}).get("stages", [])
        return [t("day")] + [t(k) for k in HEAD] + stages + [t(k) for k in TAIL] + [t("sent")]

    async def refresh(self) -> dict[str, Any] | None:
        if not self.host.project:
            return None
        first, last = self.first.date().toPython(), self.last.date().toPython()
        if first > last:
            self.host.show_error(t("bad_range"))
            return None
        self.report = await self.host.backend.daily_report(self.host.project, first, last)
        stages, sent = self.report["stages"], self.report["sent"]

        def line(row: dict[str, Any], label: str, messages: int) -> list[Any]:
            return (
                [label] + [row[k] for k in HEAD] + [row["stages"].get(s, 0) for s in stages]
                + [row[k] for k in TAIL] + [messages]
            )  # fmt: skip

        rows = [line(d, d["day"], sent.get(d["day"], 0)) for d in self.report["days"]]
        rows.append(line(self.report["totals"], t("total"), sum(sent.values())))
        self.table.setColumnCount(len(self.headers()))
        self.table.setHorizontalHeaderLabels(self.headers())
        fill(self.table, rows)
        last_row = self.table.rowCount() - 1
        for c in range(self.table.columnCount()):
            item = self.table.item(last_row, c)
            if item is None:
                continue
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self.chart.set_bars([(d["day"], sent.get(d["day"], 0)) for d in self.report["days"]])
        return self.report

    async def export(self, fmt: str) -> str | None:
        if self.report is None:
            await self.refresh()
        filters = "CSV (*.csv)" if fmt == "csv" else "Excel (*.xlsx)"
        first, last = (
            self.first.date().toString("yyyy-MM-dd"),
            self.last.date().toString("yyyy-MM-dd"),
        )
        path = self.host.save_path(t(f"export_{fmt}"), f"daily-{first}-{last}.{fmt}", filters)
        if not path:
            return None
        write_table(path, fmt, self.headers(), cells(self.table), sheet=t("chart")[:31])
        self.host.statusBar().showMessage(t("exported", path=path), 5000)
        return path
