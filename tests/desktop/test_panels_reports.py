"""The reports panel: the daily key table over a date range after a day of simulated
traffic, the messages-per-day chart, export."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate

from tests.desktop import panel_fixtures
from tests.desktop.panel_fixtures import settle, shoot
from tests.desktop.traffic import busy_day

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
