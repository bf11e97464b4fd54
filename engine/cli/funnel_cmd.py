"""``main.py funnel``: validate, export the JSON Schema, copy between projects."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.cli.errors import EXIT_OK, EXIT_PROBLEMS, fail
from engine.cli.funnel_project_cmd import register as register_stored_funnel_commands


def register(commands: Any) -> None:
    funnel = commands.add_parser("funnel", help="validate, copy and describe funnel documents")
    sub = funnel.add_subparsers(dest="funnel_command", metavar="ACTION", required=True)

    validate = sub.add_parser("validate", help="check funnel files; list every problem")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument(
        "--project", help="also check references (bots, tags, products) against this project"
    )
    validate.add_argument("--json", action="store_true", help="print problems as JSON")
    validate.add_argument("--lang", choices=["en", "ru"], default="en")
    validate.set_defaults(handler=_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of funnel documents")
    schema.set_defaults(handler=_schema)

    register_stored_funnel_commands(sub)


def _schema(args: argparse.Namespace) -> int:
    from graph.loading import funnel_json_schema

    json.dump(funnel_json_schema(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from graph.loading import FunnelLoadError, load_funnel
    from graph.problems import Problem, has_errors
    from graph.project_catalog import ProjectCatalog
    from graph.validation import validate_funnel

    catalog: ProjectCatalog | None = None
    if args.project:
        from engine.cli.funnel_project_cmd import read_catalog

        try:
            catalog = read_catalog(args.workspace, args.project)
        except LookupError as exc:
            return fail(str(exc))

    failed = False
    report: dict[str, list[dict[str, Any]]] = {}
    for path in args.files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return fail(f"cannot read {path}: {exc.strerror}")
        problems: list[Problem]
        try:
            problems = validate_funnel(load_funnel(text), catalog)
        except FunnelLoadError as exc:
            problems = exc.problems
        failed = failed or has_errors(problems)
        report[str(path)] = [p.to_dict() for p in problems]
        if not args.json:
            _print_problems(path, problems, args.lang)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        print()
    return EXIT_PROBLEMS if failed else EXIT_OK


def _print_problems(path: Path, problems: list[Any], lang: str) -> None:
    if not problems:
        print(f"{path}: OK")
        return
    errors = sum(1 for p in problems if p.is_error)
    print(f"{path}: {errors} error(s), {len(problems) - errors} warning(s)")
    for p in problems:
        where = ", ".join(
            part
            for part in (
                p.node_id and f"node {p.node_id}",
                p.node_title and f"«{p.node_title}»",
                p.field and f"field {p.field}",
            )
            if part
        )
        message = p.message_ru if lang == "ru" else p.message
        print(f"  {p.severity}: [{p.code}] {where + ': ' if where else ''}{message}")
