"""Engine throughput: events/s through ``ProjectEngine.handle`` with full persistence.

Each event is a ``/start`` of a new contact in the open bot; the project has one live
funnel "trigger /start → one message". ``handle`` does, in one transaction: dedup insert,
contact upsert + channel subscription, trigger match, run start, one step (the message),
history and the outbox row, commit. Nothing is sent (the outbox sender is not part of it).

- ``sequential``: one event after another (latency p50/p99 per event);
- ``concurrent``: ``--concurrency`` events in flight (the engine's group commit handles
  the queued ones together in one transaction), first from new contacts, then again from
  the same contacts (returning: their rows exist and are read in bulk per batch).

Besides events/s and latency it prints the process's CPU time per event and the SQL
statements sent per event (counted with a ``before_cursor_execute`` listener), which
compare better than wall time on a shared machine.

Databases: SQLite (a file in a temp dir, WAL, as the app uses it) and PostgreSQL (a
throw-away project database on ``--pg-url``, dropped afterwards; skipped if unreachable).

Run: ``.venv/bin/python bench/bench_engine.py [--events 2000] [--concurrency 16]
[--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--no-pg] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select

from db.models import OutboxMessage
from db.workspace import Workspace
from engine import events as ev
from engine.project_engine import ProjectEngine
from graph.document import FunnelDocument
from tests.engine.helpers import funnel, make_project

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def one_message_funnel() -> FunnelDocument:
    return funnel(
        "Бенч",
        {
            "Старт": ("trigger.start", {"bot_role": "open"}),
            "Привет": ("message", {"text": "Здравствуйте, {{first_name}}!"}),
        },
        [("Старт", "next", "Привет")],
        bot_role="open",
    )


def starts(engine: ProjectEngine, first: int, count: int) -> list[ev.Event]:
    bot = engine.bot_by_role("open")
    assert bot is not None
    now = datetime.now(UTC)
    return [
        ev.Start(
            channel=bot.ref,
            contact=ev.ContactIdentity(user_id=1_000_000 + i, first_name=f"Гость {i}"),
            occurred_at=now,
            update_id=i + 1,
            message_id=1,
        )
        for i in range(first, first + count)
    ]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def bench_database(
    label: str, database_url: str | None, events: int, concurrency: int, profile: bool
) -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="voronka-bench-") as tmp:
        ws = await Workspace.open(Path(tmp) / "ws")
        project = await make_project(
            ws,
            [one_message_funnel()],
            database_url=database_url,
            name=f"bench engine {int(time.time())}",
        )
        try:
            db = await ws.open_project_db(project)
            try:
                engine = ProjectEngine(db, project=project.name, timezone=project.timezone)
                await engine.start()
                statements = [0]

                def count(*_: object) -> None:
                    statements[0] += 1

                for sa_engine in {db.engine, db.writer_engine or db.engine}:
                    event.listen(sa_engine.sync_engine, "before_cursor_execute", count)
                for e in starts(engine, 0, 50):  # warm-up: caches, prepared statements
                    await engine.handle(e)

                # sequential
                batch = starts(engine, 100, events)
                latencies: list[float] = []
                profiler = cProfile.Profile() if profile else None
                cpu = time.process_time()
                statements[0] = 0
                started = time.perf_counter()
                if profiler:
                    profiler.enable()
                for e in batch:
                    t = time.perf_counter()
                    result = await engine.handle(e)
                    latencies.append(time.perf_counter() - t)
                    assert result.messages == 1, result
                if profiler:
                    profiler.disable()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                lines.append(
                    f"| {label} | sequential | {events} | {events / elapsed:,.0f} | "
                    f"{statistics.median(latencies) * 1000:.2f} | {pct(latencies, 99) * 1000:.2f} | "
                    f"{cpu / events * 1000:.2f} | {statements[0] / events:.1f} |"
                )
                if profiler:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
                    print(f"--- profile, {label} sequential (by own time) ---")
                    print(out.getvalue())

                # concurrent: new contacts, then the same contacts again (returning: their
                # channel rows, variables, tags and runs exist and are read in bulk)
                fresh = starts(engine, 100 + events, events)
                again = [
                    ev.Start(
                        channel=e.channel,
                        contact=e.contact,
                        occurred_at=e.occurred_at,
                        update_id=10_000_000 + i,
                        message_id=2,
                    )
                    for i, e in enumerate(fresh)
                ]
                for mode, batch in (("new", fresh), ("returning", again)):
                    sem = asyncio.Semaphore(concurrency)
                    latencies = []

                    async def one(
                        e: ev.Event,
                        sem: asyncio.Semaphore = sem,
                        latencies: list[float] = latencies,
                    ) -> None:
                        async with sem:
                            t = time.perf_counter()
                            result = await engine.handle(e)
                            latencies.append(time.perf_counter() - t)
                            assert result.messages == 1, result

                    cpu = time.process_time()
                    statements[0] = 0
                    started = time.perf_counter()
                    await asyncio.gather(*(one(e) for e in batch))
                    elapsed = time.perf_counter() - started
                    cpu = time.process_time() - cpu
                    lines.append(
                        f"| {label} | {concurrency} in flight, {mode} contacts | {events} | "
                        f"{events / elapsed:,.0f} | "
                        f"{statistics.median(latencies) * 1000:.2f} | "
                        f"{pct(latencies, 99) * 1000:.2f} | "
                        f"{cpu / events * 1000:.2f} | {statements[0] / events:.1f} |"
                    )
                async with db.sessions() as s:
                    rows = await s.scalar(select(func.count()).select_from(OutboxMessage))
                assert rows == 50 + 3 * events, rows
            finally:
                await db.dispose()
        finally:
            if database_url is not None:
                await ws.delete_project(project.name)
            await ws.close()
    return lines


async def pg_reachable(url: str) -> bool:
    try:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()
        return True
    except Exception as exc:
        print(f"PostgreSQL {url} unreachable ({type(exc).__name__}: {exc}); skipped")
        return False


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the sequential runs")
    args = parser.parse_args()
    lines = [
        "| database | mode | events | events/s | p50 ms | p99 ms | CPU ms/event | SQL/event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += await bench_database("SQLite", None, args.events, args.concurrency, args.profile)
    if not args.no_pg and await pg_reachable(args.pg_url):
        lines += await bench_database(
            "PostgreSQL", args.pg_url, args.events, args.concurrency, args.profile
        )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
