"""``main.py bot add``: the token is checked with getMe (fake Bot API), stored encrypted,
and never printed.

The commands run in this process (in a thread: ``main`` runs its own event loop while
the fake Bot API serves on the test's), their output captured at the file descriptors
and their log records by pytest: a subprocess would spend seconds importing aiogram for
each command.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import main
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"

RunMain = Callable[..., Awaitable[tuple[int, str]]]


@pytest.fixture
def run_main(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> RunMain:
    """``await run_main(workspace, "bot", "list", ...)``: (exit code, stdout + stderr +
    the log records of the command)."""

    async def run(
        workspace: Path, *argv: str, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        capfd.readouterr()
        caplog.clear()
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            try:
                code = await asyncio.to_thread(main.main, ["--workspace", str(workspace), *argv])
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
        out, err = capfd.readouterr()
        return code, out + err + caplog.text

    return run


async def test_bot_add_checks_stores_encrypted_and_never_prints(
    fake_telegram: FakeTelegramBotAPI, tmp_path: Path, run_main: RunMain
) -> None:
    fake_telegram.add_bot(TOKEN, username="ema_open_bot")
    workspace = tmp_path / "ws"
    assert (await run_main(workspace, "project", "create", "EMA"))[0] == 0

    code, out = await run_main(
        workspace, "bot", "add", "--project", "EMA", "--role", "open", "--main",
        TOKEN, "--api-url", fake_telegram.base_url,
    )  # fmt: skip
    assert code == 0, out
    assert "@ema_open_bot" in out and TOKEN.split(":")[1] not in out
    assert [r.method for r in fake_telegram.requests()] == ["getMe"]

    raw = (workspace / "projects" / "ema.sqlite3").read_bytes()
    assert TOKEN.encode() not in raw and TOKEN.split(":")[1].encode() not in raw
    with sqlite3.connect(workspace / "projects" / "ema.sqlite3") as conn:
        (ciphertext,) = conn.execute("select ciphertext from secrets").fetchone()
    assert ciphertext and TOKEN not in ciphertext

    code, out = await run_main(workspace, "bot", "list", "--project", "EMA")
    assert code == 0 and "open" in out and "(main)" in out and TOKEN not in out


async def test_bot_add_refused_token_is_a_clear_error(
    fake_telegram: FakeTelegramBotAPI, tmp_path: Path, run_main: RunMain
) -> None:
    workspace = tmp_path / "ws"
    assert (await run_main(workspace, "project", "create", "EMA"))[0] == 0
    code, out = await run_main(
        workspace, "bot", "add", "--project", "EMA", "--role", "open",
        "--api-url", fake_telegram.base_url, env={"VORONKA_BOT_TOKEN": TOKEN},
    )  # fmt: skip
    assert code == 2
    assert "refused the token" in out and TOKEN.split(":")[1] not in out

    code, out = await run_main(
        workspace, "bot", "add", "--project", "EMA", "--role", "open", "not-a-token",
        "--api-url", fake_telegram.base_url,
    )  # fmt: skip
    assert code == 2 and "not a bot token" in out and "Traceback" not in out
