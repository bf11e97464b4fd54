"""``main.py engine``: the headless daemon that runs every project of a workspace."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.errors import fail


def register(commands: Any) -> None:
    engine = commands.add_parser("engine", help="run the engine daemon for every project")
    engine.add_argument("--host", default="127.0.0.1", help="address of the health/API endpoint")
    engine.add_argument("--port", type=int, default=8765, help="port of the health/API endpoint")
    engine.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return fail("the engine daemon is not built yet (see ARCHITECTURE.md)")
