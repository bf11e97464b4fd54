"""Every scenario in tests/scenarios runs through the same runner as ``main.py simulate``."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.workspace import Workspace
from engine.cli.simulate_cmd import simulate
from engine.demo_setup import install_demo_project
from engine.scenario import load_scenario, parse_scenario
from engine.simulation import run_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))


def test_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 15


@pytest.mark.parametrize("crowd", [False, True], ids=["alone", "crowd"])
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_scenario(path: Path, crowd: bool, workspace: Workspace) -> None:
    """``crowd``: each event shares a group-commit batch with a bystander's, so the
    contact's rows come from the batch's bulk reads instead of its own queries."""
    scenario = load_scenario(path)
    if scenario.project is not None:
        await install_demo_project(workspace, scenario.project)
    outcome = await run_scenario(scenario, workspace, crowd=crowd)
    assert outcome.ok, "\n".join([*outcome.transcript, "FAILURES:", *outcome.failures])
    assert outcome.transcript


async def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    funnels = Path(__file__).parents[1] / "scenarios" / "funnels"
    good = tmp_path / "good.yaml"
    good.write_text(
        f"funnels: [{funnels / 'second.json'}]\nbots: {{free: t_free_bot}}\n"
        "contacts: {anna: 1001}\nstart: '2024-05-06 10:00'\ntime_zone: Europe/Moscow\n"
        "steps:\n  - {contact: anna, start: ''}\n  - expect: {messages: ['второй воронке']}\n",
        encoding="utf-8",
    )
    assert await simulate(str(good), None) == 0
    out = capsys.readouterr().out
    assert "t_free_bot → anna: Вы во второй воронке" in out and "[кнопки: Готово]" in out
    bad_expect = tmp_path / "fail.yaml"
    bad_expect.write_text(good.read_text().replace("второй воронке", "третьей"), encoding="utf-8")
    assert await simulate(str(bad_expect), None) == 1
    err = capsys.readouterr().err
    assert "step 2 (line 8)" in err and "третьей" in err and "Вы во второй воронке" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text(good.read_text().replace("start: ''", "strat: ''"), encoding="utf-8")
    assert await simulate(str(broken), None) == 2
    assert "strat" in capsys.readouterr().err


STAFF_HEADER = """\
funnels: [{funnels}/all_nodes.json]
bots: {{open: t_open_bot}}
contacts: {{anna: 1001, boris: 1002}}
start: "2024-05-06 10:00"
time_zone: Europe/Moscow
steps:
  - {{contact: anna, says: "старт теста"}}
"""


async def _run_staff(steps: str) -> list[str]:
    funnels = Path(__file__).parents[1] / "scenarios" / "funnels"
    text = STAFF_HEADER.format(funnels=funnels) + steps
    outcome = await run_scenario(parse_scenario(text))
    return outcome.failures


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "{staff: olga, contact: anna, stop_run: Все узлв}",
            "step 2 (line 8): StaffStepError: anna has no live run of funnel 'Все узлв' — "
            "did you mean 'Все узлы'? (runs: Все узлы @ Ждём email [waiting])",
        ),
        (
            "{staff: olga, contact: anna, move_to: Ждём телефон, funnel: Все узлы}",
            "step 2 (line 8): StaffStepError: move_to: funnel 'Все узлы' has no node "
            "'Ждём телефон'",
        ),
        (
            "{staff: olga, contact: boris, add_tag: VIP}",
            "step 2 (line 8): StaffStepError: boris has not contacted any channel yet",
        ),
    ],
)
async def test_staff_step_errors_name_the_problem(step: str, message: str) -> None:
    assert await _run_staff(f"  - {step}\n") == [message]


async def test_staff_history_expectation_can_fail() -> None:
    failures = await _run_staff(
        "  - {staff: olga, contact: anna, add_tag: VIP}\n"
        "  - expect: {history: [{kind: tag.added, by: staff boris}]}\n"
    )
    assert len(failures) == 1
    assert failures[0].startswith(
        "step 3 (line 9): history {'kind': 'tag.added', 'by': 'staff boris'}: 0 entries "
        "(expected ≥1); latest: "
    )
    assert "tag.added by staff:olga" in failures[0]
