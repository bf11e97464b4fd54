"""``main.py notify-chat show|set|off`` (R9) and ``main.py stuck`` (R5) on the demo project."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from db.workspace import Workspace
from engine.demo_setup import install_demo_project
from tests.cli.conftest import CliResult
from tests.desktop.traffic import busy_day


def _demo(workspace_dir: Path, traffic: bool = False) -> None:
    async def go() -> None:
        async with await Workspace.open(workspace_dir) as workspace:
            await install_demo_project(workspace)
            if traffic:
                await busy_day(workspace, "Демо")

    asyncio.run(go())


def test_notify_chat_set_show_off(cli: Callable[..., CliResult], workspace_dir: Path) -> None:
    _demo(workspace_dir)
    shown = cli("notify-chat", "show", "--project", "Демо")
    assert shown.code == 0 and "not copied" in shown.out

    done = cli("notify-chat", "set", "--project", "Демо", "-1001234567890")
    assert done.code == 0, done.err
    assert "chat -1001234567890" in done.out and "'Открытый бот'" in done.out
    done = cli(
        "notify-chat", "set", "--project", "Демо", "-1001234567890", "--bot", "@demo_paid_bot"
    )
    assert done.code == 0 and "'Платный бот'" in done.out
    shown = cli("notify-chat", "show", "--project", "Демо")
    assert shown.code == 0 and "chat -1001234567890 via Платный бот." in shown.out

    wrong = cli("notify-chat", "set", "--project", "Демо", "группа")
    assert wrong.code == 2 and "chat_id" in wrong.err
    wrong = cli("notify-chat", "set", "--project", "Демо", "-100123", "--bot", "Менеджер")
    assert wrong.code == 2 and "no bot named 'Менеджер'" in wrong.err
    wrong = cli("notify-chat", "show", "--project", "Нет такого")
    assert wrong.code == 2 and "no project" in wrong.err

    off = cli("notify-chat", "off", "--project", "Демо")
    assert off.code == 0 and "no longer" in off.out
    assert "not copied" in cli("notify-chat", "show", "--project", "Демо").out


def test_stuck_lists_the_contacts_stuck_now(
    cli: Callable[..., CliResult], workspace_dir: Path
) -> None:
    _demo(workspace_dir, traffic=True)  # May 2024: their reply timeouts never fired
    listed = cli("stuck", "--project", "Демо")
    assert listed.code == 0, listed.err
    lines = listed.out.strip().splitlines()
    assert lines[-1].startswith(f"{len(lines) - 1} stuck")
    assert "«Разбор по дате рождения»" in lines[0] and "Таймер не сработал" in lines[0]
    assert "since 0" in lines[0] and ".05.2024" in lines[0]
