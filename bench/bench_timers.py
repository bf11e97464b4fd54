"""A million pending timers on SQLite: memory, due → fired latency, restart time.

Setup (not measured as engine work): a project with the demo funnels; ``--count``
contacts each with one run WAITING in the open-bot funnel's "Через день" delay node
(``awaiting = 'delay'``), ``due_at`` spread evenly over the next 30 days, bulk-inserted
with plain ``sqlite3`` (WAL, synchronous off while loading). ``--batch`` more runs (default
1,000) are due ``--lead`` seconds after the measurement process starts.

Measurement runs in a fresh subprocess (clean RSS), with the real clock:

1. restart: open the workspace and project database, ``engine.start()``, first
   ``next_due()`` — the time a restarted daemon needs before it knows its next timer;
2. RSS after ``run_due_timers()`` over a table where nothing is due yet (the engine must
   not load the pending timers), and peak RSS (``ru_maxrss``);
3. due → fired: ``engine.timer_loop()`` runs; once the batch is due it fires it. For each
   run, latency = ``history.at`` of its ``run.resumed`` (the fire transaction's now) −
   ``due_at``; p50 / p99 / max, and the time until the whole batch was fired;
4. RSS again after firing.

Run: ``.venv/bin/python bench/bench_timers.py [--count 1000000] [--batch 1000] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from db.models import FunnelVersion, HistoryEvent
from db.workspace import Workspace
from engine.project_engine import ProjectEngine
from tests.engine.helpers import make_project

PROJECT = "bench timers"
FUNNEL = "Разбор по дате рождения"
DELAY_NODE = "Через день"
CHUNK = 50_000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sqlite_time(when: datetime) -> str:
    """How SQLAlchemy's SQLite DateTime stores a (naive UTC) value."""
    return when.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


async def create_project(directory: Path) -> tuple[Path, int, str]:
    ws = await Workspace.open(directory)
    try:
        project = await make_project(ws, name=PROJECT)  # the demo funnels, published
        db = await ws.open_project_db(project)
        try:
            async with db.sessions() as s:
                version = (await s.scalars(select(FunnelVersion).order_by(FunnelVersion.id))).all()
            for v in version:
                doc = json.loads(v.document_json)
                if doc["name"] == FUNNEL:
                    node = next(n["id"] for n in doc["nodes"] if n.get("title") == DELAY_NODE)
                    break
            else:
                raise LookupError(FUNNEL)
        finally:
            await db.dispose()
        path = ws.projects_dir / f"{project.slug}.sqlite3"
        assert path.exists(), path
        return path, v.id, node
    finally:
        await ws.close()


def bulk_insert(path: Path, version_id: int, node_id: str, count: int, batch: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    channel = con.execute("SELECT id FROM channels WHERE role='open'").fetchone()[0]
    now = datetime.now(UTC)
    created = sqlite_time(now)
    base = now + timedelta(hours=1)
    spread = timedelta(days=30).total_seconds()
    total = count + batch
    first = 10_000_000
    context = json.dumps({"bot_channel_id": channel, "steps": 3})
    started = time.perf_counter()
    for lo in range(0, total, CHUNK):
        hi = min(total, lo + CHUNK)
        con.executemany(
            "INSERT INTO contacts (id, telegram_user_id, first_name, created_at) "
            "VALUES (?, ?, ?, ?)",
            ((i + 1, first + i, f"Контакт {i}", created) for i in range(lo, hi)),
        )
        rows = []
        for i in range(lo, hi):
            if i < count:
                due = sqlite_time(base + timedelta(seconds=spread * i / count))
            else:  # the measured batch: a placeholder, set when the measurement starts
                due = sqlite_time(now + timedelta(days=3650))
            rows.append(
                (
                    i + 1,
                    i + 1,
                    version_id,
                    node_id,
                    "waiting",
                    due,
                    "delay",
                    channel,
                    created,
                    created,
                    context,
                )
            )
        con.executemany(
            "INSERT INTO runs (id, contact_id, funnel_version_id, node_id, status, due_at, "
            "awaiting, triggered_by_channel_id, started_at, updated_at, context, lock_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            rows,
        )
        con.commit()
        print(f"  {hi:,} runs inserted, {time.perf_counter() - started:.0f}s", flush=True)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("ANALYZE")
    con.commit()
    con.close()


async def measure(directory: Path, count: int, batch: int, lead: float) -> None:
    workspace_dir = directory / "ws"
    # the measured batch becomes due `lead` seconds from now (before the engine opens)
    project_file = next((workspace_dir / "projects").glob("*.sqlite3"))
    due = datetime.now(UTC) + timedelta(seconds=lead)
    con = sqlite3.connect(project_file)
    con.execute("UPDATE runs SET due_at = ? WHERE id > ?", (sqlite_time(due), count))
    con.commit()
    con.close()
    print(f"RSS at start: {rss_mb():.0f} MB (interpreter + imports)")

    t0 = time.perf_counter()
    ws = await Workspace.open(workspace_dir)
    project = await ws.get_project(PROJECT)
    db = await ws.open_project_db(project)
    engine = ProjectEngine(db, project=project.name, timezone=project.timezone)
    await engine.start()
    nxt = await engine.next_due()
    restart = time.perf_counter() - t0
    print(
        f"restart (open workspace + db, engine.start, first next_due): {restart:.3f} s; "
        f"next due {nxt}"
    )

    t = time.perf_counter()
    fired = await engine.run_due_timers()
    print(f"run_due_timers with nothing due: {fired} fired in {time.perf_counter() - t:.3f} s")
    print(
        f"RSS after start + next_due + run_due_timers: {rss_mb():.0f} MB (peak {peak_mb():.0f} MB)"
    )

    loop_task = asyncio.create_task(engine.timer_loop())
    give_up = time.monotonic() + lead + 600
    while time.monotonic() < give_up:
        async with db.sessions() as s:
            done = await s.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(HistoryEvent.run_id > count, HistoryEvent.kind == "run.resumed")
            )
        if done and done >= batch:
            break
        await asyncio.sleep(0.02)
    all_fired = datetime.now(UTC)
    loop_task.cancel()
    await asyncio.gather(loop_task, return_exceptions=True)
    async with db.sessions() as s:
        at = (
            await s.scalars(
                select(HistoryEvent.at).where(
                    HistoryEvent.run_id > count, HistoryEvent.kind == "run.resumed"
                )
            )
        ).all()
    lat = sorted((a - due).total_seconds() for a in at)
    assert len(lat) == batch, (len(lat), batch)

    def p(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    print(
        f"due → fired over {batch} timers due at the same moment: p50 {p(0.5):.3f} s, "
        f"p99 {p(0.99):.3f} s, max {lat[-1]:.3f} s; whole batch fired "
        f"{(all_fired - due).total_seconds():.3f} s after due"
    )
    print(f"RSS after firing: {rss_mb():.0f} MB (peak {peak_mb():.0f} MB)")
    await db.dispose()
    await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000, help="pending timers")
    parser.add_argument("--batch", type=int, default=1000, help="timers due during the run")
    parser.add_argument("--lead", type=float, default=8.0, help="seconds until the batch is due")
    parser.add_argument("--dir", type=Path, default=None, help="keep the data here")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        asyncio.run(measure(args.dir, args.count, args.batch, args.lead))
        return
    with tempfile.TemporaryDirectory(prefix="voronka-timers-") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        path, version_id, node_id = asyncio.run(create_project(directory / "ws"))
        bulk_insert(path, version_id, node_id, args.count, args.batch)
        size = sum(f.stat().st_size for f in path.parent.iterdir()) / 2**20
        print(
            f"setup: {args.count:,} pending + {args.batch:,} timers in "
            f"{time.perf_counter() - started:.0f} s, database {size:.0f} MB"
        )
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                "--dir",
                str(directory),
                "--count",
                str(args.count),
                "--batch",
                str(args.batch),
                "--lead",
                str(args.lead),
            ],
            check=True,
        )


if __name__ == "__main__":
    os.environ.pop("VORONKA_WORKSPACE", None)
    main()
