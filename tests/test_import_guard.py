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
for package in {packages!r}:
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""

ENGINE_SIDE = ("engine", "connectors", "db")


def loaded_top_modules(*packages: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter that imported every module of
    ``packages``."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(packages=list(packages))],
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


def test_engine_side_loads_no_qt() -> None:
    """One interpreter imports all three packages (they share most of their imports, so
    this costs about what the largest one does alone); only when that loads something
    forbidden is each package imported alone, to name the culprit."""
    forbidden = {"PySide6", "NodeGraphQt", "Qt", "qasync", "desktop"}
    if not loaded_top_modules(*ENGINE_SIDE) & forbidden:
        return
    culprits = {p: sorted(loaded_top_modules(p) & forbidden) for p in ENGINE_SIDE}
    pytest.fail(f"the engine side imports Qt: {culprits}")
