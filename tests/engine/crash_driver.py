"""A restartable engine process for the crash-safety test (``tests/engine/test_crash_safety.py``).

``python -m tests.engine.crash_driver WORKSPACE [--contacts 200] [--exit-at-send N] ...``

runs the demo project of ``WORKSPACE`` (made by :func:`prepare`) with a
:class:`ProjectEngine` and an :class:`OutboxSender` over :class:`DurableConnector`s, on a
virtual clock persisted in ``WORKSPACE/clock.txt``:

- ``DurableConnector.send`` appends the message to ``WORKSPACE/delivered.jsonl`` and fsyncs
  it BEFORE returning success: that file is "Telegram's side", it survives SIGKILL.
- The script (:func:`script`) is a fixed list of phases ``(offset from START, events)``
  for ``--contacts`` contacts: /start, a birth date, "расскажи" or another answer, a
  manager's payment phrase. Every event has a fixed update id (bot) or message id
  (manager account), so re-submitting it is a no-op once it was handled.
- Loop: submit the phase of the current moment (after a restart: every phase so far
  again; dedup drops the handled ones), fire
  due timers, flush the outbox; then persist the next virtual time (atomically) and move
  the clock there. The time is written only after everything of the current moment is
  done, so a restart repeats the current moment and nothing else.
- At ``END`` it writes ``WORKSPACE/done`` and prints ``DONE``.

``--exit-at-send N`` ends the process with ``os._exit`` inside the N-th send of this
process: ``--exit-when before`` before the message is logged (the row is ``sending`` and
nothing was delivered), ``after`` right after it was logged (delivered, the result never
recorded). Either way the row must become ``uncertain`` on restart and never be resent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from connectors.base import (
    Connector,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    OutgoingMessage,
    SendResult,
    personal_link,
)
from db.workspace import Workspace
from engine import events as ev
from engine.clock import VirtualClock, ensure_utc
from engine.demo_setup import install_demo_project
from engine.outbox import OutboxSender
from engine.project_engine import ProjectEngine
from engine.ratelimit import RateLimiter
from engine.simulation import SIMULATION_LIMITS

PROJECT = "Краш"
START = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)  # Monday 10:00 Moscow
STEP = timedelta(hours=3)
END = START + timedelta(days=4)
FIRST_USER = 700_000
DELIVERED = "delivered.jsonl"
CLOCK = "clock.txt"
DONE = "done"
EXIT_CODE = 77  # the driver's own "crash" (--exit-at-send)


# --- the "Telegram side" ---------------------------------------------------------------


class DeliveryLog:
    """An append-only, fsynced JSON-lines file of every delivered message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.count = sum(1 for _ in path.open(encoding="utf-8"))

    def append(self, message: OutgoingMessage) -> int:
        self.count += 1
        line = json.dumps(
            {
                "n": self.count,
                "pid": os.getpid(),
                "key": message.idempotency_key,
                "channel": message.channel.name,
                "chat_id": message.chat_id,
                "text": message.text,
            },
            ensure_ascii=False,
        )
        os.write(self.fd, (line + "\n").encode())  # one write: whole line or nothing
        os.fsync(self.fd)
        return self.count

    def close(self) -> None:
        os.close(self.fd)


def read_delivered(workspace: Path) -> list[dict[str, object]]:
    path = workspace / DELIVERED
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class DurableConnector(Connector):
    """A channel whose send is durable before it returns; optionally dies inside a send."""

    sends = 0  # sends of this process, over every channel
    exit_at: int | None = None
    exit_when = "before"

    def __init__(self, channel: ev.ChannelRef, log: DeliveryLog) -> None:
        self._channel = channel
        self._log = log

    @property
    def channel(self) -> ev.ChannelRef:
        return self._channel

    async def start(self, sink: EventSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutgoingMessage) -> SendResult:
        cls = DurableConnector
        cls.sends += 1
        dying = cls.exit_at is not None and cls.sends == cls.exit_at
        if dying and cls.exit_when == "before":
            os._exit(EXIT_CODE)
        number = self._log.append(message)
        if dying:
            os._exit(EXIT_CODE)
        return SendResult.success(number)

    async def create_personal_link(self, token: str) -> str:
        return personal_link(self._channel.name or "bot", token)

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        return None

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(channel=self._channel, state=ConnectorState.RUNNING)


# --- virtual time that survives the process ---------------------------------------------


class FileClock(VirtualClock):
    """A :class:`VirtualClock` whose position is kept in a file (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        start = START
        if path.exists():
            start = ensure_utc(datetime.fromisoformat(path.read_text().strip()))
        super().__init__(start)

    def persist(self, when: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(ensure_utc(when).isoformat())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- the script -------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str  # "start" | "say" | "manager"
    user_id: int
    text: str
    ident: int  # update id (bots) or message id (manager account)


def script(contacts: int) -> list[tuple[timedelta, list[Action]]]:
    """Phases of the run: (offset from START, actions). Five kinds of contact, by i % 5:

    0. date, "расскажи" → offer; follow-ups 1 and 3 days later (timers)
    1. date, an unrelated answer → "Понимаю"; the same follow-ups
    2. /start only → reminder after a day, the run ends after two more (timers)
    3. a wrong date, then the right one an hour later
    4. like 0, then the manager's payment phrase at +3 h: the personal link through the
       manager account, the arrival timeouts (12 h, 1 d) fire the reminder and notices
    """
    update_id = 0

    def nxt() -> int:
        nonlocal update_id
        update_id += 1
        return update_id

    at0: list[Action] = []
    at1h: list[Action] = []
    at3h: list[Action] = []
    for i in range(contacts):
        uid = FIRST_USER + i
        kind = i % 5
        at0.append(Action("start", uid, "", nxt()))
        if kind in (0, 4):
            at0 += [Action("say", uid, "12.03.1990", nxt()), Action("say", uid, "расскажи", nxt())]
        elif kind == 1:
            at0 += [
                Action("say", uid, "14.07.1985", nxt()),
                Action("say", uid, "а что это?", nxt()),
            ]
        elif kind == 3:
            at0.append(Action("say", uid, "не помню", nxt()))
            at1h.append(Action("say", uid, "01.01.2000", nxt()))
        if kind == 4:
            at3h.append(Action("manager", uid, "Оплату за Таро получила!", 10_000 + i))
    return [
        (timedelta(0), at0),
        (timedelta(hours=1), at1h),
        (timedelta(hours=3), at3h),
    ]


def timeline() -> list[datetime]:
    """Every moment the driver stops at: the step grid plus the phases' times."""
    moments = {START + off for off, _ in script(0)}
    t = START
    while t <= END:
        moments.add(t)
        t += STEP
    return sorted(m for m in moments if m <= END)


def to_event(engine: ProjectEngine, action: Action, now: datetime) -> ev.Event:
    contact = ev.ContactIdentity(user_id=action.user_id, first_name=f"Контакт {action.user_id}")
    if action.kind == "manager":
        manager = next(c for c in engine.channels.values() if not c.is_bot)
        return ev.ManagerMessage(
            channel=manager.ref,
            contact=contact,
            occurred_at=now,
            text=action.text,
            message_id=action.ident,
        )
    bot = engine.bot_by_role("open")
    assert bot is not None
    if action.kind == "start":
        return ev.Start(
            channel=bot.ref,
            contact=contact,
            occurred_at=now,
            update_id=action.ident,
            message_id=action.ident,
        )
    return ev.ContactMessage(
        channel=bot.ref,
        contact=contact,
        occurred_at=now,
        update_id=action.ident,
        text=action.text,
        message_id=action.ident,
    )


# --- setup and the run ------------------------------------------------------------------


async def prepare(workspace: Path) -> None:
    """A fresh workspace with the demo project (in the test process, before any driver)."""
    ws = await Workspace.open(workspace)
    try:
        await install_demo_project(ws, PROJECT)
    finally:
        await ws.close()


async def run(workspace: Path, contacts: int, batch: int) -> int:
    clock = FileClock(workspace / CLOCK)
    log = DeliveryLog(workspace / DELIVERED)
    ws = await Workspace.open(workspace)
    try:
        project = await ws.get_project(PROJECT)
        db = await ws.open_project_db(project)
        try:
            engine = ProjectEngine(db, project=project.name, timezone=project.timezone, clock=clock)
            await engine.start()
            connectors: dict[int, Connector] = {
                cid: DurableConnector(channel.ref, log) for cid, channel in engine.channels.items()
            }
            sender = OutboxSender(
                engine, connectors, limiter=RateLimiter(SIMULATION_LIMITS), batch=batch
            )
            recovered = await sender.recover()
            print(f"READY {clock.now().isoformat()} recovered={recovered}", flush=True)
            phases = script(contacts)
            moments = timeline()
            first = True
            while True:
                now = clock.now()
                for offset, actions in phases:
                    # after a (re)start everything so far again: dedup drops what was done
                    if START + offset == now or (first and START + offset < now):
                        for action in actions:
                            await engine.handle(to_event(engine, action, now))
                first = False
                for _ in range(1000):
                    fired = await engine.run_due_timers(now)
                    sent = await sender.flush()
                    if not fired and not sent.attempted:
                        break
                later = [m for m in moments if m > now]
                if not later:
                    break
                clock.persist(later[0])
                clock.set(later[0])
                print(f"AT {later[0].isoformat()}", flush=True)
        finally:
            await db.dispose()
    finally:
        await ws.close()
        log.close()
    (workspace / DONE).write_text("done")
    print("DONE", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.engine.crash_driver")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200, help="outbox rows per send round")
    parser.add_argument("--exit-at-send", type=int, default=None)
    parser.add_argument("--exit-when", choices=("before", "after"), default="before")
    args = parser.parse_args(argv)
    DurableConnector.exit_at = args.exit_at_send
    DurableConnector.exit_when = args.exit_when
    return asyncio.run(run(args.workspace, args.contacts, args.batch))


def forked_main(argv: list[str], stdout: Connection, stderr_path: str) -> None:
    """``python -m tests.engine.crash_driver ARGV`` in a process forked from a server that
    has this module imported already (see ``test_crash_safety``): stdout goes to the pipe
    ``stdout``, stderr is appended to ``stderr_path``, the exit code is ``main``'s."""
    for name in [k for k in os.environ if k.startswith("VORONKA_")]:
        del os.environ[name]
    os.dup2(stdout.fileno(), 1)
    stdout.close()
    err = os.open(stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(err, 2)
    os.close(err)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    sys.exit(main())
