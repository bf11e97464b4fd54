"""``main.py funnel``: validate (every problem, exit codes), schema, import/publish, copy."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from db.models import BotRole, Channel, ChannelKind
from db.workspace import Workspace
from engine.catalog import project_catalog
from engine.demo_setup import install_demo_project
from engine.funnel_store import draft_document, find_funnel
from graph.validation import validate_funnel

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_valid_files_exit_zero(cli) -> None:
    files = sorted(str(p) for p in DEMO.glob("*.json") if p.name != "project.json")
    result = cli("funnel", "validate", *files)
    assert result.code == 0, result.out
    assert result.out.count(": OK") == 3


def test_every_problem_is_printed_with_node_title_and_field(cli, tmp_path: Path) -> None:
    doc = json.loads((DEMO / "open_bot_analysis.json").read_text(encoding="utf-8"))
    broken_node = next(n for n in doc["nodes"] if n["type"] == "message")
    broken_node["props"]["text"] = ""
    broken_node["title"] = "Приветствие"
    doc["nodes"].append({"id": "00000000-0000-4000-8000-000000000001", "type": "no.such.type"})
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    result = cli("funnel", "validate", str(path))
    assert result.code == 1
    assert f"node {broken_node['id']}" in result.out
    assert "«Приветствие»" in result.out and "field props.text" in result.out
    assert "unknown_node_type" in result.out and "00000000-0000-4000-8000-000000000001" in result.out

    as_json = cli("funnel", "validate", "--json", str(path))
    problems = json.loads(as_json.out)[str(path)]
    assert {p["code"] for p in problems} >= {"missing_property", "unknown_node_type"}


def test_malformed_json_and_missing_file(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = cli("funnel", "validate", str(bad))
    assert result.code == 1 and "invalid_json" in result.out
    missing = cli("funnel", "validate", str(tmp_path / "nope.json"))
    assert missing.code == 2 and "cannot read" in missing.err


def test_schema_is_a_json_schema(cli) -> None:
    result = cli("funnel", "schema")
    schema = json.loads(result.out)
    assert result.code == 0
    assert "schema_version" in json.dumps(schema) and schema.get("type") == "object"


def test_import_publish_export_list(cli, tmp_path: Path) -> None:
    assert cli("project", "create", "EMA").code == 0
    imported = cli("funnel", "import", str(DEMO / "open_bot_analysis.json"), "--project", "EMA")
    assert imported.code == 0, imported.err
    name = json.loads((DEMO / "open_bot_analysis.json").read_text(encoding="utf-8"))["name"]
    # EMA has no bots or tags yet: publishing is refused with the reasons.
    refused = cli("funnel", "publish", name, "--project", "EMA")
    assert refused.code == 1 and "unknown_bot" in refused.err
    out = tmp_path / "out.json"
    assert cli("funnel", "export", name, "--project", "EMA", "-o", str(out)).code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["name"] == name
    assert "draft only" in cli("funnel", "list", "--project", "EMA").out


def test_copy_to_another_project_remaps_and_validates_there(cli, workspace_dir: Path) -> None:
    async def setup() -> None:
        async with await Workspace.open(workspace_dir) as workspace:
            await install_demo_project(workspace)
            target = await workspace.create_project("Nadezhda")
            database = await workspace.open_project_db(target)
            async with database.sessions() as session, session.begin():
                for role in (BotRole.OPEN, BotRole.PAID, BotRole.FREE):
                    session.add(Channel(kind=ChannelKind.BOT, name=f"Надежда {role}", role=role))
            await database.dispose()

    asyncio.run(setup())
    name = "Разбор по дате рождения"
    dry = cli("funnel", "copy", name, "--from", "Демо", "--to", "Nadezhda", "--dry-run")
    assert dry.code == 0, dry.out + dry.err
    assert "tag 'купил' will be created" in dry.out
    assert "Надежда open" in dry.out

    done = cli("funnel", "copy", name, "--from", "Демо", "--to", "Nadezhda")
    assert done.code == 0, done.err

    async def check() -> list[str]:
        async with await Workspace.open(workspace_dir) as workspace:
            database = await workspace.open_project_db("Nadezhda")
            async with database.sessions() as session:
                doc = draft_document(await find_funnel(session, name))
                problems = validate_funnel(doc, await project_catalog(session))
                catalog = await project_catalog(session)
            await database.dispose()
        assert "купил" in catalog.tags
        return [str(p) for p in problems if p.is_error]

    assert asyncio.run(check()) == []
    assert cli("funnel", "publish", name, "--project", "Nadezhda").code == 0


def test_copy_refused_when_the_target_lacks_the_bot_role(cli, workspace_dir: Path) -> None:
    async def setup() -> None:
        async with await Workspace.open(workspace_dir) as workspace:
            await install_demo_project(workspace)

    asyncio.run(setup())
    assert cli("project", "create", "Empty").code == 0
    result = cli("funnel", "copy", "Разбор по дате рождения", "--from", "Демо", "--to", "Empty")
    assert result.code == 2
    assert "no bot with role 'open'" in result.err


def test_copy_within_a_project(cli, workspace_dir: Path) -> None:
    async def setup() -> None:
        async with await Workspace.open(workspace_dir) as workspace:
            await install_demo_project(workspace)

    asyncio.run(setup())
    assert cli("funnel", "copy", "Разбор по дате рождения", "--from", "Демо").code == 0
    assert "Разбор по дате рождения (копия)" in cli("funnel", "list", "--project", "Демо").out
