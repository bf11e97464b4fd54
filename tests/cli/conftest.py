"""Running ``main.py`` commands in-process against a temporary workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def workspace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "workspace"
    monkeypatch.setenv("VORONKA_WORKSPACE", str(directory))
    return directory


@pytest.fixture
def cli(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """``cli("project", "list")`` runs main.py's command and captures its output."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main.main(["--workspace", str(workspace_dir), *argv])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
