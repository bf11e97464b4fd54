"""The dependency direction holds: graph/ is pure, engine/ and connectors/ never load Qt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib, json, pkgutil, sys
pkg = importlib.import_module({package!r})
for info in pkgutil.walk_packages(pkg.__path__, {package!r} + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def loaded_top_modules(package: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def test_graph_loads_no_qt_no_sqlalchemy_no_network() -> None:
    loaded = loaded_top_modules("graph")
    forbidden = {"PySide6", "NodeGraphQt", "Qt", "sqlalchemy", "aiogram", "telethon", "aiohttp"}
    assert not loaded & forbidden, f"graph imports {sorted(loaded & forbidden)}"


@pytest.mark.parametrize("package", ["engine", "connectors", "db"])
def test_engine_side_loads_no_qt(package: str) -> None:
    loaded = loaded_top_modules(package)
    forbidden = {"PySide6", "NodeGraphQt", "Qt", "qasync", "desktop"}
    assert not loaded & forbidden, f"{package} imports {sorted(loaded & forbidden)}"
