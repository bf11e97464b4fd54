"""Two engine processes on one PostgreSQL project; one is SIGKILLed mid-run.

Funnel: /start → message "one" → delay 2 s → message "two" → end, for 500 contacts.
Process A starts first and owns the bot (intake + sends); B starts on standby and hands
the odd-numbered /start updates straight to the engine (webhook-style). A is killed
while it is sending; B must take the bot's intake over (its replay brings the even
updates A never got to), fire the timers and finish the sends. The deliveries are what
the durable fake bot appended and fsynced before reporting success.

Proved: every contact has exactly the outbox rows "one" then "two"; no idempotency key
is delivered twice; every ``sent`` row was delivered exactly once; the only rows not
``sent`` are ``uncertain`` ones claimed by the killed process (delivered at most once);
"one" precedes "two" in every chat; all runs finished.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.base import start_event
from db.models import Contact, OutboxMessage, OutboxStatus, Run, RunStatus
from db.workspace import Workspace
from engine.cluster import ClusterMember, claim_owner, intake_key
from engine.events import ContactIdentity
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from tests.engine.helpers import funnel, make_project

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 500
FIRST_USER = 7_000_000
FIRST_UPDATE = 90_000


def simple_funnel() -> Any:
    return funnel(
        "Две вести",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Раз": ("message", {"text": "one"}),
            "Пауза": ("delay", {"duration": {"seconds": 2}}),
            "Два": ("message", {"text": "two"}),
            "Конец": ("end", {}),
        },
        [
            ("Старт", "next", "Раз"),
            ("Раз", "next", "Пауза"),
            ("Пауза", "next", "Два"),
            ("Два", "next", "Конец"),
        ],
    )


class Driver:
    def __init__(self, name: str, tmp: Path, args: list[str]) -> None:
        self.name = name
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        self.args = args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.engine.mp_driver", *self.args,
                cwd=ROOT, stdout=out, stderr=err,
            )  # fmt: skip

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []

    async def wait_for(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((x for x in self.lines() if x.startswith(prefix)), None)
            if found is not None:
                return found
            assert self.process is not None
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{self.name}: no {prefix!r}; stdout {self.lines()}, stderr:\n"
            f"{self.err.read_text()[-3000:]}"
        )

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), timeout=30)


def deliveries(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


async def test_two_processes_one_killed_nothing_lost_or_sent_twice(
    workspace: Workspace, pg_server_url: str, tmp_path: Path
) -> None:
    project = await make_project(workspace, [simple_funnel()], database_url=pg_server_url)
    workspace.secret_box()  # create the key now, not in two processes at once
    updates = tmp_path / "updates.jsonl"
    updates.write_text(
        "".join(
            json.dumps({"update_id": FIRST_UPDATE + n, "user_id": FIRST_USER + n}) + "\n"
            for n in range(CONTACTS)
        )
    )
    log = tmp_path / "deliveries.jsonl"
    common = [str(workspace.directory), str(log), str(updates)]
    a = Driver("a", tmp_path, common)
    b = Driver("b", tmp_path, [*common, "--submit", "odd"])
    database = await workspace.open_project_db(project)
    t0 = time.monotonic()
    try:
        await a.start()
        a_key = int((await a.wait_for("ready")).split()[1])
        await a.wait_for("intake")  # A owns the bot
        await b.start()
        await b.wait_for("ready")
        assert not [x for x in b.lines() if x.startswith("intake")], "B must be on standby"

        # kill A mid-run: some messages out, most not
        deadline = time.monotonic() + 40
        while len(deliveries(log)) < 150:
            assert time.monotonic() < deadline, "A sent nothing"
            await asyncio.sleep(0.02)
        await a.kill()
        killed_at = len(deliveries(log))
        assert killed_at < 2 * CONTACTS
        await b.wait_for("intake", timeout=20)  # B took the bot over

        # B finishes: every run ended, nothing left to send
        deadline = time.monotonic() + 60
        while True:
            async with database.sessions() as s:
                open_runs = await s.scalar(
                    select(func.count(Run.id)).where(Run.status != RunStatus.FINISHED)
                )
                runs = await s.scalar(select(func.count(Run.id)))
                unsent = await s.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                    )
                )
            if runs == CONTACTS and open_runs == 0 and unsent == 0:
                break
            assert time.monotonic() < deadline, (
                f"not finished: runs={runs} open={open_runs} unsent={unsent}\n"
                f"{b.err.read_text()[-3000:]}"
            )
            await asyncio.sleep(0.2)
        await b.kill(signal.SIGTERM)
        assert b.process is not None and b.process.returncode == 0, b.err.read_text()[-3000:]
    finally:
        await a.kill()
        await b.kill()

    async with database.sessions() as s:
        rows = (
            await s.execute(
                select(OutboxMessage, Contact.telegram_user_id)
                .join(Contact, Contact.id == OutboxMessage.contact_id)
                .order_by(OutboxMessage.id)
            )
        ).all()
    await database.dispose()

    sent = deliveries(log)
    times = Counter(d["key"] for d in sent)
    assert max(times.values()) == 1, "a message was delivered twice"
    by_contact: dict[int, list[OutboxMessage]] = defaultdict(list)
    for row, user_id in rows:
        by_contact[user_id].append(row)
    assert set(by_contact) == {FIRST_USER + n for n in range(CONTACTS)}
    uncertain = 0
    for user_id, mine in by_contact.items():
        assert [r.payload["text"] for r in mine] == ["one", "two"], user_id
        for row in mine:
            key = row.idempotency_key
            if row.status is OutboxStatus.SENT:
                assert times[key] == 1, f"{key} sent but delivered {times[key]} times"
            else:
                assert row.status is OutboxStatus.UNCERTAIN, (key, row.status, row.error)
                assert claim_owner(row.error) == a_key, row.error  # the killed process's
                uncertain += 1
    # per-chat order: "one" was delivered before "two" wherever both were delivered
    order: dict[int, list[str]] = defaultdict(list)
    for d in sent:
        order[d["chat"]].append(d["text"])
    assert all(texts in (["one"], ["two"], ["one", "two"]) for texts in order.values())
    assert len(sent) >= 2 * CONTACTS - uncertain
    pids = {d["pid"] for d in sent}
    assert len(pids) == 2, "both processes sent (A before the kill, B after it)"
    print(
        f"A killed after {killed_at} deliveries, {uncertain} uncertain; "
        f"{time.monotonic() - t0:.0f}s"
    )


async def test_recovery_touches_only_rows_of_dead_processes(
    workspace: Workspace, pg_server_url: str
) -> None:
    """A live peer's in-flight rows stay ``sending``; a dead one's become ``uncertain``."""
    project = await make_project(workspace, [simple_funnel()], database_url=pg_server_url)
    database = await workspace.open_project_db(project)
    engine = ProjectEngine(database, project=project.name)
    peer = await ClusterMember.join(database, label="peer")
    me = await ClusterMember.join(database, label="me")
    try:
        await engine.start()
        bot = next(c for c in engine.channels.values() if c.role == "open")
        for n in range(2):
            await engine.handle(
                start_event(
                    bot.ref,
                    ContactIdentity(user_id=FIRST_USER + n, first_name="U"),
                    None,
                    message_id=1,
                    occurred_at=engine.clock.now(),
                    update_id=FIRST_UPDATE + n,
                )
            )
        async with database.sessions() as s, s.begin():
            rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            rows[0].status = rows[1].status = OutboxStatus.SENDING
            rows[0].error, rows[1].error = peer.note(), "sending by a process with no key"
        sender = OutboxSender(engine, {}, member=me)
        assert await sender.recover() == 1  # the keyless row; the live peer's stays
        async with database.sessions() as s:
            statuses = [r.status for r in (await s.scalars(select(OutboxMessage))).all()]
        assert sorted(statuses) == [OutboxStatus.SENDING, OutboxStatus.UNCERTAIN]
        await peer.close()
        assert await sender.recover() == 1
        async with database.sessions() as s:
            row = await s.get(OutboxMessage, rows[0].id)
        assert row is not None and row.status is OutboxStatus.UNCERTAIN
        assert claim_owner(row.error) == peer.key
        # intake ownership: one holder at a time, free again when the holder leaves
        other = await ClusterMember.join(database, label="other")
        assert await me.try_own(intake_key(bot.id))
        assert not await other.try_own(intake_key(bot.id))
        await me.close()
        assert await other.try_own(intake_key(bot.id))
        await other.close()
    finally:
        await peer.close()
        await me.close()
        await database.dispose()
