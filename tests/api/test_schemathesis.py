"""Property-based run over the OpenAPI spec: no request may cause a 5xx (bounded examples)."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.api.conftest import build_api  # noqa: E402

# Excluded: calls that revoke the test's own token (the rest would all be 401), and the
# endless stats stream (tested in test_stats.py).
SKIP = {
    ("POST", "/auth/logout"),
    ("DELETE", "/auth/tokens/{token_id}"),
    ("GET", "/projects/{project}/funnels/{funnel_id}/stats/stream"),
}


class Served:
    """The app on uvicorn in a thread with its own event loop (schemathesis calls are sync)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ready = threading.Event()
        self.url = ""
        self.token = ""
        self.server: object = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        import uvicorn

        api, service = await build_api(self.directory)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.token = api.tokens["admin"]
        server = uvicorn.Server(uvicorn.Config(api.app, log_level="warning", lifespan="off"))
        self.server = server
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        self.ready.set()
        await task
        await api.client.aclose()
        await service.close()
        sock.close()


def test_no_server_errors(tmp_path: Path) -> None:
    served = Served(tmp_path / "ws")
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    assert served.ready.wait(30)
    try:
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
        headers = {"Authorization": f"Bearer {served.token}"}
        failures: list[str] = []
        calls: list[int] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIP:
                continue

            @given(case=operation.as_strategy())
            @settings(
                max_examples=4,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: object) -> None:
                response = case.call(headers=headers, timeout=10)  # type: ignore[attr-defined]
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} → {response.status_code}: "  # type: ignore[attr-defined]
                        f"{response.text[:200]}"
                    )

            check()
        assert not failures, "\n".join(failures[:10])
        assert len(calls) > 100 and any(code < 300 for code in calls)
    finally:
        served.server.should_exit = True  # type: ignore[attr-defined]
        thread.join(15)
