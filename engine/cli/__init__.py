"""Command-line tools of ``main.py``: engine daemon, simulator, projects, funnels.

Each command lives in its own module and is imported only when it runs, so ``--help``
stays fast. Handlers return the process exit code; user errors print one clear line to
stderr and return a non-zero code instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from engine.cli.bot_cmd import register as register_bot
from engine.cli.engine_cmd import register as register_engine
from engine.cli.funnel_cmd import register as register_funnel
from engine.cli.manager_cmd import register as register_manager
from engine.cli.notify_cmd import register as register_notify
from engine.cli.project_cmd import register as register_project
from engine.cli.simulate_cmd import register as register_simulate


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=os.environ.get("VORONKA_WORKSPACE"),
        help=(
            "workspace directory (project registry + per-project databases); "
            "default: $VORONKA_WORKSPACE or the platform's user data dir"
        ),
    )


def register_commands(commands: Any) -> None:
    """Add every subcommand to an ``add_subparsers()`` object."""
    register_engine(commands)
    register_simulate(commands)
    register_project(commands)
    register_funnel(commands)
    register_bot(commands)
    register_manager(commands)
    register_notify(commands)
