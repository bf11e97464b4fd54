"""``main.py engine``: the headless daemon that runs every project of a workspace."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any


def register(commands: Any) -> None:
    engine = commands.add_parser(
        "engine",
        help="run the engine daemon for every project",
        description=(
            "Runs every project of the workspace: bots (VORONKA_BOT_API_URL points them at "
            "a local Bot API server), manager accounts (VORONKA_TELEGRAM_API_ID / _HASH), "
            "timers and the outbox. SIGTERM/SIGINT stop it gracefully."
        ),
    )
    engine.add_argument("--host", default="127.0.0.1", help="address of the HTTP endpoint")
    engine.add_argument("--port", type=int, default=8765, help="port of the HTTP endpoint")
    engine.add_argument(
        "--log-format", choices=["json", "text"], default="json", help="log line format"
    )
    engine.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from db.workspace import resolve_workspace_dir
    from engine.daemon import JsonLogFormatter, serve

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("aiogram", "telethon", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(serve(str(resolve_workspace_dir(args.workspace)), args.host, args.port))
