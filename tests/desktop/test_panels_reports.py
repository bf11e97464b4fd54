"""The reports panel: the daily key table over a date range after a day of simulated
traffic, the messages-per-day chart, export; the audience tab (new / left per day and per
week, people per bot and robot part now) and the steps tab (messages per step, the drop-off
chart along a robot), each exported as it is shown."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate

from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import busy_day, busy_week

loop = panel_fixtures.loop
window = panel_fixtures.window  # fixtures


def test_daily_table_chart_and_export(
    window: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    loop.run_until_complete(busy_day(window.service.workspace, "Демо"))
    panel = window.show_panel("reports")
    settle(loop, window)
    panel.set_range(QDate(2024, 5, 3), QDate(2024, 5, 9))
    report = loop.run_until_complete(panel.refresh())
    assert report is not None
    headers = panel.headers()
    assert headers[:3] == ["День", "Вошли", "Активные"] and headers[-1] == "Отправлено сообщений"
    assert panel.table.rowCount() == 8  # 7 days + totals
    day = next(r for r in range(7) if panel.table.item(r, 0).text() == "2024-05-06")
    assert panel.table.item(day, 1).text() == "20"
    assert panel.table.item(7, 0).text() == "Итого" and panel.table.item(7, 1).text() == "20"
    sent = dict(panel.chart.bars)
    assert sent["2024-05-06"] > 20 and sent["2024-05-05"] == 0
    assert int(panel.table.item(day, len(headers) - 1).text()) == sent["2024-05-06"]
    shoot(window, "panel-reports.png")

    window.save_path = lambda title, suggested, filters: str(tmp_path / suggested)
    path = loop.run_until_complete(panel.export("csv"))
    assert path is not None and path.endswith("daily-2024-05-03-2024-05-09.csv")
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == headers and len(rows) == 9

    panel.set_range(QDate(2024, 5, 9), QDate(2024, 5, 3))
    assert loop.run_until_complete(panel.refresh()) is None
    assert window.errors == ["Начало периода позже конца"]
    window.errors.clear()


def test_audience_and_steps(window: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    workspace = window.service.workspace
    # Monday: 20 start, 11 get the analysis; Wednesday: 5 new, 2 block the bot
    loop.run_until_complete(busy_week(workspace, "Демо"))
    panel = window.show_panel("reports")
    settle(loop, window)
    panel.set_range(QDate(2024, 5, 5), QDate(2024, 5, 14))

    # audience per day: the new and the left, table and chart
    panel.tabs.setCurrentIndex(1)
    settle(loop, window)
    rows = {r["period"]: r for r in panel.audience or []}
    assert len(rows) == 10
    assert rows["2024-05-06"]["new"] == 20 and rows["2024-05-08"]["new"] == 5
    assert rows["2024-05-08"]["blocked"] == 2 and rows["2024-05-06"]["blocked"] == 0
    assert sum(r["new"] for r in rows.values()) == 25
    chart = dict(
        zip(
            panel.audience_chart.labels,
            zip(*[v for _, _, v in panel.audience_chart.series], strict=True),
            strict=True,
        )
    )
    assert chart["2024-05-06"] == (20, 0) and chart["2024-05-08"] == (5, 2)
    # per week: Monday 6th and Wednesday 8th are in one ISO week, the 13th in the next
    panel.group.setCurrentIndex(1)
    settle(loop, window)
    weekly = [(r["period"], r["new"], r["blocked"]) for r in panel.audience or []]
    assert weekly == [("2024-W18", 0, 0), ("2024-W19", 25, 2), ("2024-W20", 0, 0)]
    assert panel.audience_table.item(1, 0).text() == "2024-W19"
    # people now: per bot by status, per robot part
    bots = panel_cells(panel.bots_table)
    open_bot = next(r for r in bots if r[1] != "0")
    assert open_bot[1:] == ["23", "0", "2", "25"]  # subscribed, unsubscribed, blocked, all
    parts = panel_cells(panel.parts_table)
    robot = next(r for r in parts if r[0] == "Разбор по дате рождения")
    steps = {r[1]: int(r[2]) for r in parts if not r[0]}
    assert int(robot[2]) == sum(steps.values()) and steps["Ждём дату"] >= 5
    shoot(window, "panel-reports-audience.png")
    window.save_path = lambda title, suggested, filters: str(tmp_path / suggested)
    path = loop.run_until_complete(panel.export("xlsx"))
    assert path is not None and path.endswith("audience-week-2024-05-05-2024-05-14.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(path).active
    assert sheet is not None
    values = list(sheet.values)
    assert values[0] == ("Период", "Начало", "Новые", "Отписались", "Заблокировали")
    assert values[2] == ("2024-W19", "2024-05-06", 25, 0, 2)

    # steps: messages per day per step; the drop-off along the open-bot robot
    panel.tabs.setCurrentIndex(2)
    settle(loop, window)
    messages = panel.messages or []
    assert panel.steps_table.rowCount() == len(messages) > 0
    monday = [r for r in messages if r["day"] == "2024-05-06" and r["funnel"] == robot[0]]
    by_step = {r["node"]: r for r in monday}
    assert by_step["Приветствие"]["sent"] == 20 and by_step["Приветствие"]["entered"] == 20
    assert by_step["Бесплатный разбор"]["entered"] == 11
    assert panel.funnel.currentText() == robot[0]
    dropoff = dict(panel.dropoff.steps)
    assert dropoff == dict(panel.dropoff_steps())
    assert dropoff["Приветствие"] == 25  # 20 on Monday, 5 on Wednesday
    assert dropoff["Бесплатный разбор"] == 11
    # in the robot's order: the greeting and the question come before the answer's steps
    order = [name for name, _ in panel.dropoff.steps]
    flow = ["Уже получал разбор?", "Приветствие", "Спросить дату", "Ждём дату"]
    assert order[:4] == flow
    assert order.index("Ждём дату") < order.index("Сохранить дату")
    assert order.index("Сохранить дату") < order.index("Бесплатный разбор")
    assert dict(panel.dropoff.steps)["Ждём дату"] > 25  # a wrong date waits again
    shoot(window, "panel-reports-steps.png")
    path = loop.run_until_complete(panel.export("csv"))
    assert path is not None and path.endswith("messages-2024-05-05-2024-05-14.csv")
    with open(path, encoding="utf-8-sig") as f:
        exported = list(csv.reader(f))
    assert exported[0] == ["День", "Робот", "Шаг", "Отправлено сообщений", "Вошли"]
    assert len(exported) == len(messages) + 1
    assert window.errors == []


def panel_cells(widget: Any) -> list[list[str]]:
    from desktop.panels import cells

    return cells(widget)
