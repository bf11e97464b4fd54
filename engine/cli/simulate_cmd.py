"""``main.py simulate``: run funnels against a scripted conversation with virtual time."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.errors import fail


def register(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate", help="run funnels against a scenario file (virtual time, no Telegram)"
    )
    simulate.add_argument("scenario", help="scenario YAML file")
    simulate.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return fail("the simulator is not built yet (see ARCHITECTURE.md)")
