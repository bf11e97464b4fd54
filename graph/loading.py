"""Funnel documents to and from JSON: load (parse → check structure → build), dump, schema."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from graph.document import SCHEMA_VERSION, FunnelDocument
from graph.node_types import ALL_TYPES
from graph.problems import Problem, ProblemCode

MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""``MIGRATIONS[n]`` turns a version-n document dict into version n+1 (none yet)."""


class FunnelLoadError(ValueError):
    """The text is not a funnel document; ``problems`` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems) or "invalid funnel document")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a funnel document")


def _problem(code: ProblemCode, message: str, message_ru: str, field: str | None = None) -> Problem:
    return Problem(code=code, message=message, message_ru=message_ru, field=field)


def _parse(source: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, str | bytes):
        try:
            data = json.loads(source, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise FunnelLoadError(
                [
                    _problem(
                        ProblemCode.INVALID_JSON, f"Not valid JSON: {exc}", f"Это не JSON: {exc}"
                    )
                ]
            ) from None
    else:
        data = source
    if not isinstance(data, Mapping):
        raise FunnelLoadError(
            [
                _problem(
                    ProblemCode.INVALID_STRUCTURE,
                    "A funnel document is a JSON object",
                    "Документ воронки должен быть JSON-объектом",
                )
            ]
        )
    return dict(data)


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    version = data.get("schema_version")
    if type(version) is not int:
        raise FunnelLoadError(
            [
                _problem(
                    ProblemCode.INVALID_STRUCTURE,
                    "schema_version is missing or not an integer",
                    "Нет номера версии schema_version",
                    "schema_version",
                )
            ]
        )
    if not 1 <= version <= SCHEMA_VERSION:
        raise FunnelLoadError(
            [
                _problem(
                    ProblemCode.UNSUPPORTED_SCHEMA_VERSION,
                    f"Schema version {version} is not supported (this app reads 1…{SCHEMA_VERSION}); update the app",
                    f"Версия схемы {version} не поддерживается (поддерживаются 1…{SCHEMA_VERSION}); обновите приложение",
                    "schema_version",
                )
            ]
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data


def _node_id_at(data: dict[str, Any], loc: tuple[int | str, ...]) -> UUID | None:
    if len(loc) < 2 or loc[0] != "nodes" or not isinstance(loc[1], int):
        return None
    nodes = data.get("nodes")
    try:
        return UUID(str(nodes[loc[1]]["id"]))  # type: ignore[index]
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None


def _structure_problems(data: dict[str, Any], error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or None
        problems.append(
            Problem(
                code=ProblemCode.INVALID_STRUCTURE,
                message=f"{field or 'document'}: {err['msg']}",
                message_ru=f"{field or 'документ'}: неверная структура ({err['msg']})",
                node_id=_node_id_at(data, err["loc"]),
                field=field,
            )
        )
    return problems


def load_funnel(source: str | bytes | Mapping[str, Any]) -> FunnelDocument:
    """Build a document from JSON text or an already parsed dict.

    Raises :class:`FunnelLoadError` when the input is not a funnel document at all (bad
    JSON, wrong shape, unknown schema version). Everything a person could fix in the
    editor — unknown node types, bad properties, broken edges — loads and is reported by
    ``graph.validation.validate_funnel`` instead.
    """
    data = _migrate(_parse(source))
    try:
        return FunnelDocument.model_validate(data)
    except ValidationError as exc:
        raise FunnelLoadError(_structure_problems(data, exc)) from None
    except RecursionError:
        raise FunnelLoadError(
            [
                _problem(
                    ProblemCode.INVALID_STRUCTURE,
                    "The document is nested too deeply",
                    "Слишком глубокая вложенность",
                )
            ]
        ) from None


def funnel_to_dict(doc: FunnelDocument) -> dict[str, Any]:
    """The JSON-ready dict of a document."""
    return doc.model_dump(mode="json")


def dump_funnel(doc: FunnelDocument) -> str:
    """Stable JSON text: sorted keys, nodes and edges in canonical order, UTF-8 kept."""
    return (
        json.dumps(
            funnel_to_dict(doc), ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False
        )
        + "\n"
    )


def funnel_json_schema() -> dict[str, Any]:
    """JSON Schema of a valid funnel document, with each node type's properties."""
    schema = FunnelDocument.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    branches = []
    type_ids: list[str] = []
    for node_type in ALL_TYPES:
        props_schema = node_type.props_model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(props_schema.pop("$defs", {}))
        props_schema.pop("title", None)
        props_schema["description"] = node_type.docs.en
        def_name = f"props:{node_type.id}"
        defs[def_name] = props_schema
        ids = [node_type.id, *node_type.legacy_ids]
        type_ids += ids
        branches.append(
            {
                "if": {"properties": {"type": {"enum": ids}}},
                "then": {"properties": {"props": {"$ref": f"#/$defs/{def_name}"}}},
            }
        )
    node_schema = defs["FunnelNode"]
    node_schema["properties"]["type"] = {"enum": type_ids, "title": "Type"}
    node_schema["allOf"] = branches
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Voronka funnel document"
    return schema
