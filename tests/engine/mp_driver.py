"""One engine process of the multi-process test (``tests/engine/test_multiprocess_pg.py``).

``python -m tests.engine.mp_driver WORKSPACE LOG UPDATES [--submit odd|none]`` runs the
real :class:`engine.daemon.EngineDaemon` on the workspace's projects, with every bot
backed by :class:`DurableBot` instead of the Bot API:

- intake (only in the process owning the bot's advisory lock): replays the updates file
  (one JSON ``{"update_id", "user_id"}`` per line) as ``/start`` updates, from the first
  one, like Telegram redelivering unconfirmed updates to a new poller;
- send: appends the message to the shared delivery log with ``O_APPEND`` and ``fsync``
  BEFORE reporting success, so the log is what contacts really got, even across SIGKILL.

``--submit odd`` also hands the odd-numbered updates straight to the engine (as a webhook
reaching this process would). Lines on stdout: ``ready <process key>``, ``intake <pid>``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import (
    Connector,
    ConnectorHealth,
    ConnectorState,
    EventSink,
    OutgoingMessage,
    SendResult,
    start_event,
)
from db.models import Channel, ChannelKind
from engine.daemon import DaemonSettings, EngineDaemon
from engine.events import ChannelRef, ContactIdentity
from engine.service import WorkspaceService
from engine.simulation import SIMULATION_LIMITS


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def read_updates(path: Path) -> list[dict[str, int]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def update_event(ref: ChannelRef, update: dict[str, int]) -> Any:
    user = update["user_id"]
    return start_event(
        ref,
        ContactIdentity(user_id=user, first_name=f"U{user}"),
        None,
        message_id=1,
        occurred_at=datetime.now(UTC),
        update_id=update["update_id"],
    )


async def submit_all(sink: EventSink, events: list[Any], parallel: int = 8) -> None:
    """Submit in order, a few at a time (one contact each: the engine keeps their order)."""
    queue = iter(events)

    async def worker() -> None:
        for event in queue:
            await sink.submit(event)

    await asyncio.gather(*(worker() for _ in range(parallel)))


def append_durably(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableBot(Connector):
    _ids = itertools.count(1)

    def __init__(self, ref: ChannelRef, log_path: Path, updates: Path) -> None:
        self._ref = ref
        self._log = log_path
        self._updates = updates
        self._task: asyncio.Task[None] | None = None

    @property
    def channel(self) -> ChannelRef:
        return self._ref

    async def start(self, sink: EventSink) -> None:
        say(f"intake {os.getpid()}")
        self._task = asyncio.create_task(self._poll(sink))

    async def _poll(self, sink: EventSink) -> None:
        await submit_all(sink, [update_event(self._ref, u) for u in read_updates(self._updates)])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def send(self, message: OutgoingMessage) -> SendResult:
        await asyncio.sleep(0.003)  # the network
        line = json.dumps(
            {
                "pid": os.getpid(),
                "chat": message.chat_id,
                "text": message.text,
                "key": message.idempotency_key,
            }
        )
        await asyncio.to_thread(append_durably, self._log, line + "\n")
        return SendResult.success(next(self._ids))

    async def create_personal_link(self, token: str) -> str:
        return f"https://t.me/{self._ref.name}?start={token}"

    async def answer_button(
        self, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        return None

    def health(self) -> ConnectorHealth:
        return ConnectorHealth(channel=self._ref, state=ConnectorState.RUNNING)


class DriverDaemon(EngineDaemon):
    def __init__(self, service: WorkspaceService, log_path: Path, updates: Path) -> None:
        # the durable log is not Telegram: at its 30 msg/s per bot the 1000 messages alone
        # would take 33 s
        settings = DaemonSettings(cluster_poll=0.3, send_limits=SIMULATION_LIMITS)
        super().__init__(service, settings=settings)
        self.log_path, self.updates = log_path, updates

    def _connector(
        self,
        runtime: Any,
        channel: Channel,
        ref: Any,
        secrets: dict[tuple[int, Any], str],
        box: Any,
    ) -> Connector | None:
        if channel.kind is not ChannelKind.BOT:
            return None
        return DurableBot(ref, self.log_path, self.updates)


async def main(args: argparse.Namespace) -> int:
    service = await WorkspaceService.open(args.workspace)
    daemon = DriverDaemon(service, Path(args.log), Path(args.updates))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await daemon.start()
    runtime = next(iter(daemon.projects.values()))
    assert runtime.member is not None
    say(f"ready {runtime.member.key}")
    if args.submit == "odd":
        bot = next(c for c in runtime.engine.channels.values() if c.is_bot and c.role == "open")
        updates = read_updates(Path(args.updates))
        await submit_all(runtime.engine, [update_event(bot.ref, u) for u in updates[1::2]])
    await stop.wait()
    await daemon.stop()
    await service.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace")
    parser.add_argument("log")
    parser.add_argument("updates")
    parser.add_argument("--submit", choices=["odd", "none"], default="none")
    sys.exit(asyncio.run(main(parser.parse_args())))
