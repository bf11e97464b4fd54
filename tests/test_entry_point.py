"""``python main.py``: --help lists every command; the app starts offscreen on a fresh
workspace, installs the demo project and draws its window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("app", "engine", "simulate", "project", "funnel", "bot"):
        assert command in result.stdout


def test_app_opens_offscreen_with_the_demo_project(tmp_path: Path) -> None:
    png = tmp_path / "window.png"
    workspace = tmp_path / "ws"
    result = run(
        "app", "--screenshot", str(png), env={"QT_QPA_PLATFORM": "offscreen",
                                              "VORONKA_WORKSPACE": str(workspace)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert png.stat().st_size > 10_000
    assert (workspace / "projects" / "demo.sqlite3").is_file()

    listing = run("--workspace", str(workspace), "funnel", "list", "--project", "Демо")
    assert "Разбор по дате рождения" in listing.stdout and "v1" in listing.stdout
