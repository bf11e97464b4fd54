"""``main.py simulate``: run funnels against a scripted conversation with virtual time.

Prints the transcript (time, who, channel, text, buttons), then checks. Exit codes:
0 all expectations held; 1 an expectation failed (the diff is printed); 2 the scenario
file is bad (every problem with step / line / field) or the project does not exist.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from engine.cli.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, fail


def register(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate", help="run funnels against a scenario file (virtual time, no Telegram)"
    )
    simulate.add_argument("scenario", help="scenario YAML file")
    # The project a scenario names is read (never changed) from the global --workspace.
    simulate.add_argument("--quiet", action="store_true", help="do not print the transcript")
    simulate.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(simulate(args.scenario, args.workspace, quiet=args.quiet))


async def simulate(path: str, workspace_dir: str | None, *, quiet: bool = False) -> int:
    from db.errors import WorkspaceError
    from db.workspace import Workspace
    from engine.scenario import ScenarioError, load_scenario
    from engine.simulation import run_scenario

    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        print(f"error: bad scenario {path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    workspace = None
    try:
        if scenario.project is not None:
            workspace = await Workspace.open(workspace_dir)
            if await workspace.find_project(scenario.project) is None:
                return fail(f"no project named {scenario.project!r} in {workspace.directory}")
        outcome = await run_scenario(scenario, workspace)
    except (WorkspaceError, LookupError, OSError) as exc:
        return fail(str(exc))
    finally:
        if workspace is not None:
            await workspace.close()
    if not quiet:
        for line in outcome.transcript:
            print(line)
    if outcome.failures:
        print(f"\nFAILED: {len(outcome.failures)} expectation(s) not met", file=sys.stderr)
        for failure in outcome.failures:
            print(f"  ✗ {failure}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"\nOK: {len(scenario.steps)} steps, all expectations met")
    return EXIT_OK
