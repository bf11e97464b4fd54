"""``python main.py engine`` end to end: real aiogram against the fake Bot API, the demo
open-bot funnel, graceful SIGTERM, and a restart that continues where it stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from db.models import Channel, Secret, SecretPurpose
from db.workspace import Workspace
from engine.demo_setup import DEMO_BOT_USERNAMES, install_demo_project
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {
    "open": "111111111:AAOpenBotTokenForTestsOnly_abcdefgh",
    "paid": "222222222:AAPaidBotTokenForTestsOnly_abcdefgh",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare_workspace(directory: Path) -> None:
    async with await Workspace.open(directory) as workspace:
        project = await install_demo_project(workspace)
        box = workspace.secret_box()
        database = await workspace.open_project_db(project)
        async with database.sessions() as session, session.begin():
            for channel in (await session.scalars(select(Channel))).all():
                if channel.role is not None and channel.role.value in TOKENS:
                    session.add(
                        Secret(
                            channel_id=channel.id,
                            purpose=SecretPurpose.BOT_TOKEN,
                            ciphertext=box.encrypt(TOKENS[channel.role.value]),
                        )
                    )
        await database.dispose()


class Daemon:
    def __init__(self, workspace: Path, api_base: str) -> None:
        self.workspace, self.api_base = workspace, api_base
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "--workspace", str(self.workspace), "engine",
            "--port", str(self.port),
            cwd=ROOT,
            env={**os.environ, "VORONKA_BOT_API_URL": self.api_base},
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    response = await client.get(f"http://127.0.0.1:{self.port}/health")
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the engine did not come up")

    async def health(self) -> dict[str, object]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.port}/health")
        return dict(response.json())

    async def terminate(self) -> tuple[int, list[dict[str, object]]]:
        assert self.process is not None and self.process.stderr is not None
        self.process.send_signal(signal.SIGTERM)
        err = await asyncio.wait_for(self.process.stderr.read(), timeout=60)
        code = await asyncio.wait_for(self.process.wait(), timeout=60)
        lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
        return code, lines


@pytest.fixture
async def daemon(fake_telegram: FakeTelegramBotAPI, tmp_path: Path) -> AsyncIterator[Daemon]:
    fake_telegram.rate_limits.enabled = False
    for role, token in TOKENS.items():
        fake_telegram.add_bot(token, username=DEMO_BOT_USERNAMES[role])
    await prepare_workspace(tmp_path / "ws")
    running = Daemon(tmp_path / "ws", fake_telegram.base_url)
    yield running
    if running.process and running.process.returncode is None:
        running.process.kill()
        await running.process.wait()


async def test_demo_funnel_runs_through_the_daemon_and_survives_a_restart(
    daemon: Daemon, fake_telegram: FakeTelegramBotAPI
) -> None:
    await daemon.start()
    health = await daemon.health()
    assert health["status"] == "ok"
    channels = health["projects"]["Демо"]["channels"]  # type: ignore[index]
    assert set(channels) >= {"Открытый бот", "Платный бот"}
    assert channels["Халявный бот"]["state"] == "not_started"  # no token stored for it

    anna = fake_telegram.add_user(5001, "Анна", username="anna")
    fake_telegram.user_sends_start(TOKENS["open"], anna)
    first = await fake_telegram.wait_for_sent(2, TOKENS["open"], anna, timeout=20)
    assert "Здравствуйте" in first[0].text
    assert "дату рождения" in first[1].text

    code, logs = await daemon.terminate()
    assert code == 0
    assert any(entry["message"] == "stopped" for entry in logs)
    assert all(TOKENS["open"].split(":")[1] not in json.dumps(entry) for entry in logs)

    # While the engine is down the contact answers; after the restart the update is
    # picked up (offset not confirmed) and the run continues from its waiting node.
    fake_telegram.user_sends_text(TOKENS["open"], anna, "12.03.1990")
    await daemon.start()
    after = await fake_telegram.wait_for_sent(3, TOKENS["open"], anna, timeout=20)
    assert "12.03.1990" in after[2].text
    sent_texts = [m.text for m in fake_telegram.sent(TOKENS["open"], anna.id)]
    assert len(sent_texts) == len(set(sent_texts)), "a message was sent twice"
    code, _ = await daemon.terminate()
    assert code == 0
