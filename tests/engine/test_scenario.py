"""Scenario files parse into typed steps; every mistake is named with its step, line and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.scenario import (
    ContactPressesStep,
    ContactSaysStep,
    ContactStartsStep,
    ExpectStep,
    ManagerSaysStep,
    RunStatus,
    ScenarioError,
    StaffAddTagStep,
    StaffMoveStep,
    StaffRemoveTagStep,
    StaffRestartStep,
    StaffRollbackStep,
    StaffStopStep,
    WaitStep,
    doc_example,
    load_scenario,
    parse_scenario,
)

HEADER = """\
project: EMA
bots: {open: ema_open_bot, paid: ema_paid_bot}
managers: [Менеджер]
contacts:
  anna: {user_id: 1001, first_name: Анна}
  boris: 1002
steps:
"""
HEADER_LINES = HEADER.count("\n")


def errors_of(steps: str, header: str = HEADER) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(header + steps)
    return [str(p) for p in info.value.problems]


def test_documented_example_parses() -> None:
    scenario = parse_scenario(doc_example())
    kinds = [type(s) for s in scenario.steps]
    assert kinds[:4] == [ContactStartsStep, ExpectStep, ContactPressesStep, ContactSaysStep]
    assert ManagerSaysStep in kinds and WaitStep in kinds and StaffAddTagStep in kinds
    assert scenario.contacts["boris"].user_id == 1002
    assert scenario.managers == {"Менеджер": scenario.managers["Менеджер"]}
    assert scenario.start_time(ZoneInfo("UTC")) == datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    assert [s.number for s in scenario.steps] == list(range(1, len(scenario.steps) + 1))
    first = scenario.steps[0]
    assert isinstance(first, ContactStartsStep) and first.start == "insta" and first.line == 10


def test_defaults_are_resolved() -> None:
    scenario = parse_scenario(
        HEADER
        + """\
  - {contact: anna, bot: paid, start: null}
  - {contact: anna, says: "Таро"}
  - {wait: 1d2h}
  - manager: Менеджер
    to: boris
    says: "оплату за Таро получила"
  - expect:
      messages: ["ссылка", {equals: "Готово"}, {regex: "^Т", buttons: [Да]}]
      nothing_more: true
      tags: [купила]
      runs: [{node: Ждём, status: waiting}]
      purchases: [Таро, {product: Курс, count: 0}]
      notifications: [lost_receipt]
      variables: {birth_date: "12.03.1990", age: 34}
  - expect: {contact: anna, tags: {absent: [купила]}}
"""
    )
    start, says, wait, manager, expect, tags_only = scenario.steps
    assert isinstance(start, ContactStartsStep) and start.start is None and start.bot == "paid"
    assert isinstance(says, ContactSaysStep) and (says.bot, says.account) == ("paid", None)
    assert isinstance(wait, WaitStep) and wait.wait == timedelta(days=1, hours=2)
    assert isinstance(manager, ManagerSaysStep) and manager.to == "boris"
    assert isinstance(expect, ExpectStep)
    exp = expect.expect
    assert (exp.contact, exp.bot, exp.account) == ("boris", None, "Менеджер")
    assert exp.messages is not None and exp.messages[0].contains == "ссылка"
    assert exp.messages[2].buttons == ["Да"]
    assert exp.tags is not None and exp.tags.present == ["купила"]
    assert exp.runs is not None and exp.runs[0].status is RunStatus.WAITING
    assert (
        exp.purchases is not None and exp.purchases[0].count is None and exp.purchases[1].count == 0
    )
    assert isinstance(tags_only, ExpectStep) and tags_only.expect.bot is None  # no messages checked


def test_yaml_scalars_stay_text_where_text_is_meant() -> None:
    scenario = parse_scenario(
        HEADER
        + """\
  - {contact: anna, bot: open, says: 123}
  - {contact: anna, presses: Yes}
  - {contact: anna, presses: off}
  - expect: {nothing_more: true, messages: [no]}
"""
    )
    says, yes, off, expect = scenario.steps
    assert isinstance(says, ContactSaysStep) and says.says == "123"
    assert isinstance(yes, ContactPressesStep) and yes.presses == "Yes"
    assert isinstance(off, ContactPressesStep) and off.presses == "off"
    assert isinstance(expect, ExpectStep) and expect.expect.nothing_more is True
    assert expect.expect.messages is not None and expect.expect.messages[0].contains == "no"


def test_typo_in_step_key_names_step_line_and_suggestion() -> None:
    steps = """\
  - contact: anna
    bot: open
    says: hi
  - contact: anna
    bot: open
    sayz: "привет"
"""
    assert errors_of(steps) == [
        f"step 2 (line {HEADER_LINES + 6}): unknown key 'sayz' — did you mean 'says'?"
    ]


def test_unknown_key_next_to_an_action() -> None:
    errors = errors_of("  - {contact: anna, bot: open, says: hi, bott: x}\n")
    assert errors == [f"step 1 (line {HEADER_LINES + 1}): unknown key 'bott' — did you mean 'bot'?"]
    errors = errors_of("  - {contact: anna, bot: open, says: hi, xyz: x}\n")
    assert errors[0].endswith("unknown key 'xyz' (allowed: contact, bot, account, says)")


def test_nested_typo_names_the_field() -> None:
    steps = """\
  - {contact: anna, bot: open, says: hi}
  - expect:
      tags:
        presnt: [a]
"""
    assert errors_of(steps) == [
        f"step 2 (line {HEADER_LINES + 4}): expect.tags: unknown key 'presnt' — did you mean 'present'?"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"2x"', "bad duration '2x'"),
        ("30", "30 has no unit"),
        ('"2h1d"', "units go w, d, h, m, s"),
        ("[2h]", "write a duration"),
    ],
)
def test_bad_durations(value: str, message: str) -> None:
    errors = errors_of(f"  - {{contact: anna, bot: open, says: hi}}\n  - wait: {value}\n")
    assert len(errors) == 1
    assert errors[0].startswith(f"step 2 (line {HEADER_LINES + 2}): wait: ")
    assert message in errors[0]


def test_unknown_names_are_suggested() -> None:
    steps = """\
  - contact: ana
    bot: open
    says: hi
  - contact: anna
    bot: opn
    says: hi
  - manager: Менеджр
    to: borys
    says: hi
"""
    n = HEADER_LINES
    assert errors_of(steps) == [
        f"step 1 (line {n + 1}): contact: unknown contact 'ana' — did you mean 'anna'?",
        f"step 2 (line {n + 5}): bot: unknown bot 'opn' — did you mean 'open'?",
        f"step 3 (line {n + 7}): manager: unknown manager 'Менеджр' — did you mean 'Менеджер'?",
        f"step 3 (line {n + 8}): to: unknown contact 'borys' — did you mean 'boris'?",
    ]


def test_missing_fields_and_ambiguities() -> None:
    steps = """\
  - manager: Менеджер
    says: hi
  - contact: anna
    says: hi
  - says: hi
  - expect: {count: 1}
  - {}
  - just text
  - {contact: anna, bot: open, says: hi, wait: 2h}
"""
    n = HEADER_LINES
    assert errors_of(steps) == [
        f"step 1 (line {n + 1}): missing 'to'",
        f"step 2 (line {n + 3}): say which bot — add 'bot: <role>' (bots: open, paid)",
        f"step 3 (line {n + 5}): missing 'contact'",
        f"step 4 (line {n + 6}): expect: say which bot — add 'bot: <role>' (bots: open, paid)",
        f"step 5 (line {n + 7}): no action — a step needs one of: says, start, presses, wait, "
        "expect, move_to, add_tag, remove_tag, stop_run, restart_run, roll_back",
        f"step 6 (line {n + 8}): a step is a mapping like 'contact: anna' + 'says: \"…\"', got str",
        f"step 7 (line {n + 9}): one action per step, got 'says' and 'wait'",
    ]


def test_staff_steps_parse() -> None:
    scenario = parse_scenario(
        HEADER
        + """\
  - {staff: olga, contact: anna, move_to: Ждём дату, funnel: Открытый, reason: "просьба"}
  - {staff: olga, contact: anna, move_to: 8b0f6c1e}
  - {staff: olga, contact: boris, add_tag: VIP}
  - {staff: olga, contact: boris, remove_tag: 2024}
  - {staff: olga, contact: anna, stop_run: Открытый}
  - {staff: olga, contact: anna, restart_run: Открытый}
  - {staff: olga, contact: anna, roll_back: Оплата Таро}
  - expect:
      history: [run.rolled_back, {by: staff olga}, {kind: tag, by: "staff:olga", count: 2}]
"""
    )
    move, bare, add, remove, stop, restart, rollback, expect = scenario.steps
    assert isinstance(move, StaffMoveStep)
    assert (move.staff, move.contact, move.move_to, move.funnel, move.reason) == (
        "olga",
        "anna",
        "Ждём дату",
        "Открытый",
        "просьба",
    )
    assert isinstance(bare, StaffMoveStep) and bare.funnel is None
    assert isinstance(add, StaffAddTagStep) and add.add_tag == "VIP"
    assert isinstance(remove, StaffRemoveTagStep) and remove.remove_tag == "2024"
    assert isinstance(stop, StaffStopStep) and stop.stop_run == "Открытый"
    assert isinstance(restart, StaffRestartStep) and restart.restart_run == "Открытый"
    assert isinstance(rollback, StaffRollbackStep) and rollback.roll_back == "Оплата Таро"
    # The last contact acted on by staff is whose expectations follow.
    assert isinstance(expect, ExpectStep) and expect.expect.contact == "anna"
    history = expect.expect.history
    assert history is not None
    assert [(h.kind, h.actor, h.count) for h in history] == [
        ("run.rolled_back", None, None),
        (None, "staff:olga", None),
        ("tag", "staff:olga", 2),
    ]
    assert history[2].matches("tag.removed", "staff:olga")
    assert not history[2].matches("tagging", "staff:olga")
    assert not history[2].matches("tag.added", "staff:boris")


def test_typo_in_staff_step_names_it() -> None:
    n = HEADER_LINES
    assert errors_of("  - {staff: olga, contact: anna, stop_rnu: Открытый}\n") == [
        f"step 1 (line {n + 1}): unknown key 'stop_rnu' — did you mean 'stop_run'?"
    ]
    steps = """\
  - {staff: olga, contact: ana, add_tag: VIP}
  - {contact: anna, roll_back: Открытый}
  - {staff: olga, contact: anna, add_tag: VIP, funel: X}
  - {staff: olga, contact: anna, move_to: ""}
  - {staff: olga, contact: anna, add_tag: VIP, remove_tag: VIP}
  - expect: {history: [{count: 1}]}
"""
    assert errors_of(steps) == [
        f"step 1 (line {n + 1}): contact: unknown contact 'ana' — did you mean 'anna'?",
        f"step 2 (line {n + 2}): missing 'staff'",
        f"step 3 (line {n + 3}): unknown key 'funel' (allowed: staff, contact, reason, add_tag)",
        f"step 4 (line {n + 4}): move_to: String should have at least 1 character",
        f"step 5 (line {n + 5}): one action per step, got 'add_tag' and 'remove_tag'",
        f"step 6 (line {n + 6}): expect.history[0]: a history expectation needs kind or by",
    ]


def test_expect_before_anyone_acted() -> None:
    assert errors_of("  - expect: {count: 1}\n") == [
        f"step 1 (line {HEADER_LINES + 1}): expect: whose? add 'contact: <alias>' (no contact acted yet)"
    ]


def test_expectation_problems() -> None:
    steps = """\
  - {contact: anna, bot: open, says: hi}
  - expect:
      messages: [{regex: "(("}, {}]
      runs: [{status: waitin}]
  - expect: {nothing_more: true}
  - expect: {}
"""
    n = HEADER_LINES
    errors = errors_of(steps)
    assert errors[0].startswith(
        f"step 2 (line {n + 3}): expect.messages[0].regex: invalid regex '(('"
    )
    assert errors[1].startswith(
        f"step 2 (line {n + 3}): expect.messages[1]: say what the message has"
    )
    assert errors[2].startswith(
        f"step 2 (line {n + 4}): expect.runs[0].status: Input should be 'active'"
    )
    assert errors[3].startswith(f"step 3 (line {n + 5}): expect: nothing_more needs messages")
    assert errors[4].startswith(f"step 4 (line {n + 6}): expect: needs at least one check")
    assert len(errors) == 5


def test_header_problems() -> None:
    text = """\
projec: EMA
contacts: {anna: 1}
steps: []
"""
    with pytest.raises(
        ScenarioError, match=r"^line 1: unknown key 'projec' — did you mean 'project'\?$"
    ):
        parse_scenario(text)
    text = """\
project: EMA
bots: {open: ema_open}
contacts: {anna: 1, boris: 1}
time_zone: Mars/Olympus
start: "tomorrow"
steps: []
"""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text)
    assert [str(p) for p in info.value.problems] == [
        "line 2: bots: open: 'ema_open' is not a bot username (5–32 letters, digits, _; ends in 'bot')",
        "line 4: time_zone: unknown time zone 'Mars/Olympus' (e.g. Europe/Moscow)",
        "line 5: start: bad start time 'tomorrow' — write e.g. \"2024-05-06 10:00\"",
    ]


def test_header_needs_project_or_funnels_and_unique_ids() -> None:
    with pytest.raises(ScenarioError, match="say what to run"):
        parse_scenario("contacts: {anna: 1}\nsteps: [{wait: 1h}]\n")
    with pytest.raises(ScenarioError, match="share a user_id: 7"):
        parse_scenario("project: X\ncontacts: {a: 7, b: 7}\nsteps: [{wait: 1h}]\n")
    with pytest.raises(ScenarioError, match="line 3: steps: no steps"):
        parse_scenario("project: X\ncontacts: {a: 7}\nsteps: []\n")
    with pytest.raises(ScenarioError, match="missing 'contacts'"):
        parse_scenario("project: X\nsteps: [{wait: 1h}]\n")


def test_yaml_syntax_and_duplicate_keys() -> None:
    with pytest.raises(ScenarioError, match=r"^line 3: not valid YAML"):
        parse_scenario("project: X\nsteps: [\n")
    with pytest.raises(ScenarioError, match=r"^line 11: duplicate key 'says'$"):
        parse_scenario(HEADER + "  - contact: anna\n    bot: open\n    says: a\n    says: b\n")
    with pytest.raises(ScenarioError, match=r"^line 1: a scenario is a YAML mapping"):
        parse_scenario("- a\n- b\n")


def test_load_scenario_resolves_and_checks_funnel_files(tmp_path: Path) -> None:
    (tmp_path / "open.json").write_text("{}")
    path = tmp_path / "s.yaml"
    path.write_text(
        "funnels: [open.json, missing.json]\nbots: {open: x_open_bot}\ncontacts: {a: 1}\n"
        "time_zone: Asia/Almaty\nstart: 2024-03-01 09:00:00\nsteps: [{wait: 1h}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert (
        str(info.value)
        == f"{path}: line 1: funnels[1]: file not found: {tmp_path / 'missing.json'}"
    )
    (tmp_path / "missing.json").write_text("{}")
    scenario = load_scenario(path)
    assert scenario.funnels == [tmp_path / "open.json", tmp_path / "missing.json"]
    assert scenario.start_time(ZoneInfo("UTC")) == datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "nope.yaml")
