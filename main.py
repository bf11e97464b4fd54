"""Voronka — one entry point.

``python main.py`` opens the desktop app (embedded engine, local SQLite workspace, demo
project). Subcommands run the engine daemon, the scenario simulator and the project and
funnel tools; ``python main.py --help`` lists them all.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import add_common_options, register_commands

    parser = argparse.ArgumentParser(
        prog="main.py",
        description=(
            "Voronka: draw Telegram sales funnels as node graphs and run them. "
            "Without a command the desktop app opens."
        ),
    )
    add_common_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    app = commands.add_parser("app", help="open the desktop app (the default)")
    app.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="close the window after SECONDS (smoke tests, screenshots)",
    )
    app.add_argument("--screenshot", metavar="PNG", help="save the main window to PNG and quit")
    app.add_argument("--lang", choices=["ru", "en"], help="interface language (default: ru)")
    app.add_argument(
        "--server",
        metavar="URL",
        help="connect to an engine server (uses the token saved for it, else asks)",
    )
    register_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command in (None, "app"):
        from desktop.app import run_app

        return run_app(args)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
