"""Reports (R16), each a tab over one date range, drawn with QPainter and exported to CSV /
XLSX (the tab shown):

* key figures: the daily key table and a bar chart of the messages sent per day;
* audience: new and unsubscribed per day or week (table + chart), people per bot and per
  part of each robot now;
* steps: messages sent per day per robot step, and the drop-off along a robot (how many
  entered each of its steps over the range) as a chart.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
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
        "tab_key": ("Ключевые показатели", "Key figures"),
        "tab_audience": ("Аудитория", "Audience"),
        "tab_steps": ("Шаги", "Steps"),
        "by_day": ("По дням", "Per day"),
        "by_week": ("По неделям", "Per week"),
        "period": ("Период", "Period"),
        "start": ("Начало", "Start"),
        "new": ("Новые", "New"),
        "unsubscribed": ("Отписались", "Unsubscribed"),
        "blocked": ("Заблокировали", "Blocked"),
        "left": ("Ушли", "Left"),
        "audience_chart": ("Новые и ушедшие", "New and left"),
        "bot": ("Бот", "Bot"),
        "subscribed": ("Подписаны", "Subscribed"),
        "all": ("Всего", "Total"),
        "bots_now": ("Люди по ботам сейчас", "People per bot now"),
        "parts_now": ("Люди по частям роботов сейчас", "People per robot part now"),
        "robot": ("Робот", "Robot"),
        "step": ("Шаг", "Step"),
        "people": ("Людей", "People"),
        "entered_step": ("Вошли", "Entered"),
        "whole_robot": ("весь робот", "whole robot"),
        "dropoff": (
            "«{funnel}»: вошли на шаг",
            "“{funnel}”: entered each step",
        ),
        "dropoff_none": ("Прохождение робота", "Drop-off along a robot"),
        "broadcasts": ("Рассылки", "Broadcasts"),
        "other": ("Прочие сообщения", "Other messages"),
    },
)

HEAD = ["entered", "active", "inactive_day", "inactive_total"]


def flow_order(doc: Any) -> dict[str, tuple[int, float, float]]:
    """Node id → (steps from the nearest trigger, x, y): the order of a robot's steps as
    people go through them (nodes no trigger reaches come last)."""
    from collections import deque

    following: dict[str, list[str]] = {}
    for edge in doc.edges:
        following.setdefault(str(edge.source), []).append(str(edge.target))
    depth: dict[str, int] = {}
    queue = deque(str(n.id) for n in doc.nodes if n.type.startswith("trigger"))
    for node_id in queue:
        depth[node_id] = 0
    while queue:
        node_id = queue.popleft()
        for target in following.get(node_id, []):
            if target not in depth:
                depth[target] = depth[node_id] + 1
                queue.append(target)
    return {
        str(n.id): (depth.get(str(n.id), 1 << 20), float(n.ui.x), float(n.ui.y)) for n in doc.nodes
    }


def step_title(name: str) -> str:
    """A step as staff know it: an untitled node is reported by its type id
    ("tag_add"), shown as the type's name ("Добавить теги")."""
    from desktop.i18n import language
    from graph.node_types import find_type

    node_type = find_type(name) if name else None
    if node_type is None:
        return name
    return str(node_type.title.get(language()))


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


class GroupedBarChart(QWidget):
    """Bars of several series per label (side by side), with a legend."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.labels: list[str] = []
        self.series: list[tuple[str, str, list[int]]] = []  # name, colour, values
        self.setMinimumHeight(180)

    def set_data(self, labels: list[str], series: list[tuple[str, str, list[int]]]) -> None:
        self.labels, self.series = labels, series
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
        x = self.width() - 8.0
        for name, colour, _ in reversed(self.series):  # the legend, top right
            w = p.fontMetrics().horizontalAdvance(name) + 22
            x -= w
            p.fillRect(QRectF(x, 9, 12, 12), QColor(colour))
            p.drawText(QRectF(x + 16, 4, w, 20), Qt.AlignmentFlag.AlignLeft, name)
            x -= 10
        if not self.labels or not self.series:
            p.end()
            return
        left, top, bottom = 12.0, 44.0, 24.0
        width = self.width() - 2 * left
        height = self.height() - top - bottom
        base = top + height
        p.setPen(QPen(QColor("#999"), 1))
        p.drawLine(int(left), int(base), int(left + width), int(base))
        peak = max((v for _, _, values in self.series for v in values), default=0) or 1
        slot = width / len(self.labels)
        group = max(4.0, min(80.0, slot * 0.8))
        bar = group / len(self.series)
        for i, label in enumerate(self.labels):
            x0 = left + i * slot + (slot - group) / 2
            for k, (_, colour, values) in enumerate(self.series):
                value = values[i] if i < len(values) else 0
                h = height * value / peak
                x = x0 + k * bar
                p.fillRect(QRectF(x, base - h, bar - 1, h), QColor(colour))
                if value and bar >= 14:
                    p.setPen(QColor("#333"))
                    p.drawText(
                        QRectF(x - 10, base - h - 16, bar + 20, 14),
                        Qt.AlignmentFlag.AlignCenter,
                        str(value),
                    )
            p.setPen(QColor("#333"))
            if slot >= 48 or i % max(1, int(48 // slot)) == 0:
                text = label[5:] if len(label) == 10 else label  # 2024-05-06 → 05-06
                p.drawText(
                    QRectF(x0 - 20, base + 4, group + 40, 16), Qt.AlignmentFlag.AlignCenter, text
                )
        p.end()


class DropOffChart(QWidget):
    """Horizontal bars, one per step in the robot's order: how many entered each step, with
    the share of the first step — where people fall off a robot."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.steps: list[tuple[str, int]] = []
        self.setMinimumHeight(200)

    def set_steps(self, title: str, steps: list[tuple[str, int]]) -> None:
        self.title = title
        self.steps = steps
        self.setMinimumHeight(max(200, 40 + 22 * len(steps)))
        self.update()

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(QColor("#333"))
        title = p.fontMetrics().elidedText(
            self.title, Qt.TextElideMode.ElideRight, self.width() - 16
        )
        p.drawText(QRectF(8, 4, self.width() - 16, 20), Qt.AlignmentFlag.AlignLeft, title)
        p.setFont(self.font())
        if not self.steps:
            p.end()
            return
        metrics = p.fontMetrics()
        label_w = min(260.0, max(metrics.horizontalAdvance(name) for name, _ in self.steps) + 12.0)
        top, row = 32.0, max(14.0, min(26.0, (self.height() - 40) / len(self.steps)))
        first = self.steps[0][1] or 1
        peak = max(v for _, v in self.steps) or 1
        room = self.width() - label_w - 110
        for i, (name, value) in enumerate(self.steps):
            y = top + i * row
            p.setPen(QColor("#333"))
            shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 8))
            p.drawText(
                QRectF(8, y, label_w - 8, row - 2),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                shown,
            )
            w = max(1.0, room * value / peak) if value else 0.0
            p.fillRect(QRectF(label_w + 4, y + 2, w, row - 6), QColor("#3d7cc9"))
            p.drawText(
                QRectF(label_w + 10 + w, y, 100, row - 2),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{value}  ({round(100 * value / first)}%)",
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
        show.clicked.connect(lambda: self.host.run(self.refresh_tab()))
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
        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, t("tab_key"))
        self.tabs.addTab(self._audience_page(), t("tab_audience"))
        self.tabs.addTab(self._steps_page(), t("tab_steps"))
        self.tabs.currentChanged.connect(lambda _: self.host.run(self.refresh_tab()))
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.tabs)
        self.audience: list[dict[str, Any]] | None = None
        self.now: dict[str, Any] | None = None
        self.messages: list[dict[str, Any]] | None = None
        self._orders: dict[int, dict[str, tuple[int, float, float]]] = {}

    def _audience_page(self) -> QWidget:
        page = QWidget()
        top = QHBoxLayout()
        self.group = QComboBox()
        self.group.addItem(t("by_day"), "day")
        self.group.addItem(t("by_week"), "week")
        self.group.currentIndexChanged.connect(lambda _: self.host.run(self.refresh_audience()))
        top.addWidget(self.group)
        top.addStretch(1)
        self.audience_table = table(
            [t("period"), t("start"), t("new"), t("unsubscribed"), t("blocked")]
        )
        self.audience_chart = GroupedBarChart(t("audience_chart"))
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.audience_table)
        left.addWidget(self.audience_chart)
        left.setSizes([300, 260])
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(QLabel(f"<b>{t('bots_now')}</b>"))
        self.bots_table = table(
            [t("bot"), t("subscribed"), t("unsubscribed"), t("blocked"), t("all")]
        )
        rv.addWidget(self.bots_table, 1)
        rv.addWidget(QLabel(f"<b>{t('parts_now')}</b>"))
        self.parts_table = table([t("robot"), t("step"), t("people")])
        rv.addWidget(self.parts_table, 2)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 640])
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        return page

    def _steps_page(self) -> QWidget:
        page = QWidget()
        top = QHBoxLayout()
        top.addWidget(QLabel(t("robot")))
        self.funnel = QComboBox()
        self.funnel.setMinimumWidth(240)
        self.funnel.currentIndexChanged.connect(lambda _: self._show_dropoff())
        top.addWidget(self.funnel)
        top.addStretch(1)
        self.steps_table = table([t("day"), t("robot"), t("step"), t("sent"), t("entered_step")])
        self.dropoff = DropOffChart(t("dropoff_none"))
        split = QSplitter()
        split.addWidget(self.steps_table)
        split.addWidget(self.dropoff)
        split.setSizes([720, 480])
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        return page

    def set_range(self, first: QDate, last: QDate) -> None:
        self.first.setDate(first)
        self.last.setDate(last)

    def _range(self) -> tuple[Any, Any] | None:
        first, last = self.first.date().toPython(), self.last.date().toPython()
        if first > last:
            self.host.show_error(t("bad_range"))
            return None
        return first, last

    async def refresh_tab(self) -> Any:
        """Reload what the shown tab needs (the "Show" button, a tab switch)."""
        if not self.host.project:
            return None
        index = self.tabs.currentIndex()
        if index == 1:
            return await self.refresh_audience()
        if index == 2:
            return await self.refresh_steps()
        return await self.refresh_key()

    async def refresh_audience(self) -> list[dict[str, Any]] | None:
        """New / unsubscribed per day or week, and people per bot and robot part now."""
        span = self._range() if self.host.project else None
        if span is None:
            return None
        backend, project = self.host.backend, self.host.project
        self.audience = await backend.audience_report(
            project, span[0], span[1], self.group.currentData()
        )
        self.now = await backend.audience_now(project)
        rows = self.audience
        fill(
            self.audience_table,
            [[r["period"], r["start"], r["new"], r["unsubscribed"], r["blocked"]] for r in rows],
        )
        self.audience_chart.set_data(
            [r["period"] for r in rows],
            [
                (t("new"), "#3d7cc9", [int(r["new"]) for r in rows]),
                (t("left"), "#d9534f", [int(r["unsubscribed"]) + int(r["blocked"]) for r in rows]),
            ],
        )
        fill(
            self.bots_table,
            [
                [
                    b["name"] + (f" (@{b['username']})" if b.get("username") else ""),
                    b["subscribed"],
                    b["unsubscribed"],
                    b["blocked"],
                    b["total"],
                ]
                for b in self.now["bots"]
            ],
        )
        parts: list[list[Any]] = []
        for f in self.now["funnels"]:
            parts.append([f["funnel"], t("whole_robot"), f["contacts"]])
            parts += [["", step_title(n["node"]), n["contacts"]] for n in f["nodes"]]
        fill(self.parts_table, parts)
        for r, row in enumerate(parts):  # bold robot totals
            if row[0]:
                for c in range(3):
                    item = self.parts_table.item(r, c)
                    assert item is not None
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
        return rows

    async def refresh_steps(self) -> list[dict[str, Any]] | None:
        """Messages sent per day per step, and the drop-off along the chosen robot."""
        span = self._range() if self.host.project else None
        if span is None:
            return None
        self._orders.clear()  # robots may have changed since
        self.messages = await self.host.backend.messages_report(self.host.project, span[0], span[1])
        rows = self.messages

        def funnel_name(row: dict[str, Any]) -> str:
            if row.get("funnel_id") is None:
                return row.get("funnel") or t("other")
            return str(row["funnel"])

        fill(
            self.steps_table,
            [
                [r["day"], funnel_name(r), step_title(r.get("node") or ""), r["sent"], r["entered"]]
                for r in rows
            ],
        )
        current = self.funnel.currentData()
        funnels: dict[int, str] = {}
        for r in rows:
            if r.get("funnel_id") is not None and r.get("node_id"):
                funnels.setdefault(int(r["funnel_id"]), str(r["funnel"]))
        self.funnel.blockSignals(True)
        self.funnel.clear()
        for funnel_id, name in sorted(funnels.items(), key=lambda kv: kv[1]):
            self.funnel.addItem(name, funnel_id)
        index = self.funnel.findData(current)
        self.funnel.setCurrentIndex(index if index >= 0 else 0)
        self.funnel.blockSignals(False)
        self._show_dropoff()
        return rows

    def dropoff_steps(self, funnel_id: int | None = None) -> list[tuple[str, int]]:
        """(step, contacts who entered it over the range) of a robot, in the robot's order
        (steps nearer its triggers first; most entered first where the order is unknown)."""
        funnel_id = self.funnel.currentData() if funnel_id is None else funnel_id
        order = self._orders.get(funnel_id, {})
        totals: dict[str, list[Any]] = {}
        for r in self.messages or []:
            if r.get("funnel_id") != funnel_id or not r.get("node_id"):
                continue
            name = step_title(r.get("node") or "") or r["node_id"][:8]
            entry = totals.setdefault(r["node_id"], [name, 0])
            entry[1] += int(r["entered"])
        ranked = sorted(
            (order.get(node_id, (1 << 30, 0.0, 0.0)), -n, name)
            for node_id, (name, n) in totals.items()
            if n
        )
        return [(name, -negative) for _, negative, name in ranked]

    def _show_dropoff(self) -> None:
        funnel_id = self.funnel.currentData()
        if funnel_id is not None and funnel_id not in self._orders and self.host.project:
            self.host.run(self._load_order(funnel_id), quiet=True)
        name = self.funnel.currentText()
        title = t("dropoff", funnel=name) if name else t("dropoff_none")
        self.dropoff.set_steps(title, self.dropoff_steps() if name else [])

    async def _load_order(self, funnel_id: int) -> None:
        """The robot's step order from its draft, then the chart again."""
        draft = await self.host.backend.load_draft(self.host.project, funnel_id)
        self._orders[funnel_id] = flow_order(draft.document)
        if self.funnel.currentData() == funnel_id:
            self._show_dropoff()

    def headers(self) -> list[str]:
        stages = (self.report or {}).get("stages", [])
        return [t("day")] + [t(k) for k in HEAD] + stages + [t(k) for k in TAIL] + [t("sent")]

    async def refresh(self) -> dict[str, Any] | None:
        """The key figures (the first tab); the other tabs load when shown."""
        report = await self.refresh_key()
        if report is not None and self.tabs.currentIndex() != 0:
            await self.refresh_tab()
        return report

    async def refresh_key(self) -> dict[str, Any] | None:
        if not self.host.project:
            return None
        span = self._range()
        if span is None:
            return None
        first, last = span
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
        """Save the table of the shown tab (key figures, audience per period, or messages
        per step) as CSV or XLSX."""
        index = self.tabs.currentIndex()
        loaded = (self.report, self.audience, self.messages)[index]
        if loaded is None:
            await self.refresh_tab()
        filters = "CSV (*.csv)" if fmt == "csv" else "Excel (*.xlsx)"
        first, last = (
            self.first.date().toString("yyyy-MM-dd"),
            self.last.date().toString("yyyy-MM-dd"),
        )
        name, widget, sheet = (
            ("daily", self.table, t("chart")),
            (f"audience-{self.group.currentData()}", self.audience_table, t("tab_audience")),
            ("messages", self.steps_table, t("tab_steps")),
        )[index]
        path = self.host.save_path(t(f"export_{fmt}"), f"{name}-{first}-{last}.{fmt}", filters)
        if not path:
            return None
        head = (widget.horizontalHeaderItem(c) for c in range(widget.columnCount()))
        headers = [h.text() if h is not None else "" for h in head]
        write_table(path, fmt, headers, cells(widget), sheet=sheet[:31])
        self.host.statusBar().showMessage(t("exported", path=path), 5000)
        return path
