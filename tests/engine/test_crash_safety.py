"""Crash safety: the engine process is SIGKILLed at random moments while 200 contacts go
through the demo funnels with timers; after restarts every contact got exactly the
expected messages — none lost, none sent twice, except rows marked ``uncertain`` (each
with a notification), which are reported.

The engine runs in a subprocess, :mod:`tests.engine.crash_driver`, whose connector logs
every delivered message durably before returning (the "Telegram side"), on a virtual
clock kept in a file. The expected messages come from a clean run of the same script
(no kills) in another workspace; contacts of the same kind (``i % 5``) get the same
messages, so that run needs only two contacts of each kind.

Workspaces live in /dev/shm when there is one: a SIGKILL does not lose the page cache,
and SQLite's fsyncs on a disk would triple the run time. Each driver process is forked
from a server process that imported the engine once (``multiprocessing``'s forkserver):
a fresh interpreter would spend about a second on imports at every restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import Contact, Notification, OutboxMessage, OutboxStatus
from db.workspace import Workspace
from tests.engine import crash_driver as drv

SEED = int(os.environ.get("VORONKA_CRASH_SEED", "20261125"))
CONTACTS = 200
KILLS = 6
EXPECTED_DELIVERIES = 1040  # of the clean run; kill points are drawn below it
KINDS = 5
TOKEN = re.compile(r"pl-[A-Za-z0-9_\-]+")

Message = tuple[str, str]  # (channel name, text with personal-link tokens masked)


def _norm(channel: object, text: object) -> Message:
    return (str(channel), TOKEN.sub("pl-TOKEN", str(text)))


@contextlib.contextmanager
def _scratch_dir(fallback: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    base = Path(tempfile.mkdtemp(prefix="voronka-crash-", dir=shm))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    with _scratch_dir(tmp_path) as base:
        yield base


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Counter[Message]]:
    """Expected messages per contact kind, from a clean run with two contacts per kind."""
    with _scratch_dir(tmp_path_factory.mktemp("reference")) as base:
        return _reference(base)


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload([drv.__name__])


class Driver:
    """A :mod:`tests.engine.crash_driver` process (``drv.forked_main``) forked from the
    preloaded server, with the part of ``subprocess.Popen``'s interface used here. Its
    stdout is a pipe; the driver prints a few dozen short lines, which fit the pipe's
    buffer, so waiting for the exit before reading them cannot block the driver."""

    def __init__(self, workspace: Path, args: tuple[str, ...]) -> None:
        reader, writer = _FORKS.Pipe(duplex=False)
        self._process = _FORKS.Process(
            target=drv.forked_main,
            args=([str(workspace), *args], writer, str(workspace / "driver.stderr")),
            name="crash_driver",
        )
        self._process.start()
        writer.close()
        self.stdout = open(os.dup(reader.fileno()), encoding="utf-8")  # noqa: SIM115
        reader.close()

    @property
    def returncode(self) -> int | None:
        """As Popen's: the exit code, -N when killed by signal N, None while running."""
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired("crash_driver", timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self._process.pid, sig)

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Wait for the exit, then the rest of stdout."""
        self.wait(timeout)
        try:
            return self.stdout.read(), None
        finally:
            self.stdout.close()


def _driver(workspace: Path, *args: str) -> Driver:
    return Driver(workspace, args)


def _stderr(workspace: Path) -> str:
    path = workspace / "driver.stderr"
    return path.read_text()[-3000:] if path.exists() else ""


def _run_to_end(workspace: Path, *args: str, timeout: float = 120) -> None:
    proc = _driver(workspace, *args)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and "DONE" in out, f"driver failed:\n{out}\n{_stderr(workspace)}"


def _wait_ready(proc: Driver, workspace: Path) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), f"driver did not start: {line!r}\n{_stderr(workspace)}"
    return line.strip()


def _prepare(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    asyncio.run(drv.prepare(workspace))


@dataclass
class Outcome:
    delivered: dict[int, list[Message]] = field(default_factory=dict)  # by user id
    key_counts: Counter[str] = field(default_factory=Counter)
    rows: list[tuple[int, str, OutboxStatus, int, Message]] = field(default_factory=list)
    noted: set[int] = field(default_factory=set)  # outbox ids with an uncertain-notification


async def _read_db(workspace: Path, outcome: Outcome) -> None:
    ws = await Workspace.open(workspace)
    try:
        db = await ws.open_project_db(await ws.get_project(drv.PROJECT))
        try:
            async with db.sessions() as s:
                found = await s.execute(
                    select(OutboxMessage, Contact.telegram_user_id)
                    .join(Contact, Contact.id == OutboxMessage.contact_id)
                    .order_by(OutboxMessage.id)
                )
                for row, user_id in found.all():
                    message = _norm(row.payload["channel"]["name"], row.payload["text"])
                    outcome.rows.append((row.id, row.idempotency_key, row.status, user_id, message))
                for note in (await s.scalars(select(Notification))).all():
                    details = note.details or {}
                    if details.get("uncertain") and "outbox_id" in details:
                        outcome.noted.add(int(details["outbox_id"]))
        finally:
            await db.dispose()
    finally:
        await ws.close()


def _outcome(workspace: Path) -> Outcome:
    outcome = Outcome()
    for line in drv.read_delivered(workspace):
        user = int(str(line["chat_id"]))
        outcome.delivered.setdefault(user, []).append(_norm(line["channel"], line["text"]))
        outcome.key_counts[str(line["key"])] += 1
    asyncio.run(_read_db(workspace, outcome))
    return outcome


def _reference(scratch: Path) -> dict[int, Counter[Message]]:
    ref = scratch / "reference"
    _prepare(ref)
    _run_to_end(ref, "--contacts", str(2 * KINDS))
    got = _outcome(ref)
    assert sum(got.key_counts.values()) == len(got.rows) == len(set(got.key_counts))
    expected: dict[int, Counter[Message]] = {}
    for kind in range(KINDS):
        a = Counter(got.delivered.get(drv.FIRST_USER + kind, []))
        b = Counter(got.delivered.get(drv.FIRST_USER + KINDS + kind, []))
        assert a == b and a, f"kind {kind}: the reference is not per kind: {a} vs {b}"
        expected[kind] = a
    assert any(ch == "Менеджер" for ch, _ in expected[4]), "the manager account sent nothing"
    return expected


def _check(
    outcome: Outcome, expected: dict[int, Counter[Message]], contacts: int
) -> tuple[list[str], list[str]]:
    """(problems, report lines about uncertain rows)."""
    problems: list[str] = []
    report: list[str] = []
    keys = {key for _, key, _, _, _ in outcome.rows}
    for key in outcome.key_counts:
        if key not in keys:
            problems.append(f"delivered {key!r}, which is no outbox row")
    lost: dict[int, Counter[Message]] = {}
    for row_id, key, status, user, message in outcome.rows:
        n = outcome.key_counts.get(key, 0)
        if status is OutboxStatus.SENT:
            if n != 1:
                problems.append(f"row {row_id} {key} is sent but was delivered {n} times")
        elif status is OutboxStatus.UNCERTAIN:
            report.append(f"uncertain row {row_id} {key} (user {user}): delivered {n}×")
            if row_id not in outcome.noted:
                problems.append(f"uncertain row {row_id} {key} has no notification")
            if n == 0:
                lost.setdefault(user, Counter())[message] += 1
            elif n > 1:
                report.append(f"  … sent {n} times (allowed: the row is uncertain)")
        else:
            problems.append(f"row {row_id} {key} ended {status.value}")
    for i in range(contacts):
        user = drv.FIRST_USER + i
        got = Counter(outcome.delivered.get(user, []))
        dupes = {
            key
            for _, key, status, u, _ in outcome.rows
            if u == user and status is OutboxStatus.UNCERTAIN and outcome.key_counts[key] > 1
        }
        for key in dupes:  # an allowed repeat of an uncertain row counts once
            message = next(m for _, k, _, _, m in outcome.rows if k == key)
            got[message] -= outcome.key_counts[key] - 1
        want = expected[i % KINDS]
        if got + lost.get(user, Counter()) != want:
            problems.append(
                f"user {user} (kind {i % KINDS}): got {sorted(got.elements())}, "
                f"lost as uncertain {sorted(lost.get(user, Counter()).elements())}, "
                f"expected {sorted(want.elements())}"
            )
    return problems, report


def _last_moment(proc: Driver, ready: str) -> str:
    """The start line and the last virtual moment a killed driver reached."""
    out, _ = proc.communicate()
    moments = [line for line in out.splitlines() if line.startswith("AT ")]
    return f"{ready} … {moments[-1] if moments else 'AT start'}"


def _finished_within(proc: Driver, seconds: float) -> bool:
    """Wait; SIGKILL the process if it is still running after ``seconds``."""
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return False


def _finished_at(proc: Driver, work: Path, deliveries: int, extra: float) -> bool:
    """SIGKILL the process ``extra`` seconds after the log holds ``deliveries`` lines."""
    log = work / drv.DELIVERED
    while proc.poll() is None:
        if log.exists() and log.read_bytes().count(b"\n") >= deliveries:
            return _finished_within(proc, extra)
        time.sleep(0.005)
    return True


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_repeats_nothing(
    scratch: Path, expected: dict[int, Counter[Message]]
) -> None:
    started = time.monotonic()
    work = scratch / "crashed"
    _prepare(work)
    rng = random.Random(SEED)
    # the first kill lands while the events are handled, the others at random points of
    # the delivery (a few ms after the n-th delivered message: mid-round, mid-timers)
    targets = sorted(rng.sample(range(1, EXPECTED_DELIVERIES), KILLS - 1))
    kills: list[str] = []
    for attempt in range(KILLS + 5):
        proc = _driver(work, "--contacts", str(CONTACTS))
        ready = _wait_ready(proc, work)
        if not kills:
            delay = rng.uniform(0.2, 1.5)
            if not _finished_within(proc, delay):
                kills.append(f"{_last_moment(proc, ready)}: killed {delay:.2f}s after start")
                continue
        elif targets:
            target, extra = targets.pop(0), rng.uniform(0, 0.2)
            if not _finished_at(proc, work, target, extra):
                kills.append(
                    f"{_last_moment(proc, ready)}: killed {extra:.2f}s after delivery #{target}"
                )
                continue
        proc.communicate(timeout=180)
        assert proc.returncode == 0, f"attempt {attempt}: rc {proc.returncode}\n{_stderr(work)}"
        if (work / drv.DONE).exists():
            break
    assert (work / drv.DONE).exists(), f"the driver never finished: {kills}"
    outcome = _outcome(work)
    problems, report = _check(outcome, expected, CONTACTS)
    summary = (
        f"seed {SEED}; {len(kills)} kills:\n  "
        + "\n  ".join(kills)
        + f"\n{sum(outcome.key_counts.values())} deliveries, {len(outcome.rows)} outbox rows, "
        f"{len(report)} uncertain rows (reported as notifications); "
        f"{time.monotonic() - started:.1f}s\n  " + "\n  ".join(report[:10])
    )
    print(summary)
    assert len(kills) >= 5, summary
    assert not problems, "\n".join([*problems[:30], summary])


@pytest.mark.parametrize(
    ("exit_at", "when"),
    [(3, "before"), (24, "after")],
    ids=["event-before-send", "timer-after-send"],
)
def test_killed_mid_send_is_uncertain_and_not_resent(
    scratch: Path, expected: dict[int, Counter[Message]], exit_at: int, when: str
) -> None:
    """Die exactly between "row marked sending" and "send returned": the row becomes
    uncertain on restart, is reported, and never goes out again."""
    contacts = KINDS
    work = scratch / "mid-send"
    _prepare(work)
    args = ["--contacts", str(contacts), "--batch", "1"]
    proc = _driver(work, *args, "--exit-at-send", str(exit_at), "--exit-when", when)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == drv.EXIT_CODE, f"{out}\n{_stderr(work)}"
    before = drv.read_delivered(work)
    assert len(before) == (exit_at - 1 if when == "before" else exit_at)
    proc = _driver(work, *args)
    ready = _wait_ready(proc, work)
    assert ready.endswith("recovered=1"), ready
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "DONE" in out, _stderr(work)

    outcome = _outcome(work)
    uncertain = [r for r in outcome.rows if r[2] is OutboxStatus.UNCERTAIN]
    assert len(uncertain) == 1, uncertain
    row_id, key, _, _, _ = uncertain[0]
    assert row_id in outcome.noted
    assert outcome.key_counts[key] == (0 if when == "before" else 1)
    if when == "after":
        assert before[-1]["key"] == key  # the message that was out when the process died
    else:
        assert key not in {line["key"] for line in before}
    # every other row went exactly once, and the contact's funnel carried on
    assert all(
        outcome.key_counts[k] == 1 for _, k, s, _, _ in outcome.rows if s is OutboxStatus.SENT
    )
    problems, _ = _check(outcome, expected, contacts)
    assert not problems, problems
