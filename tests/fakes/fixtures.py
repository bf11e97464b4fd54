"""pytest fixtures for the fake Telegram Bot API.

Register in a conftest with ``pytest_plugins = ["tests.fakes.fixtures"]`` or import the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_bot_api import FakeClock, FakeTelegramBotAPI


@pytest.fixture
def fake_telegram_clock() -> FakeClock:
    """A controllable clock; use it with ``fake_telegram_frozen`` for deterministic rate limits."""
    return FakeClock()


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegramBotAPI]:
    """A running fake Bot API with real-time rate limits (time.monotonic)."""
    async with FakeTelegramBotAPI() as fake:
        yield fake


@pytest.fixture
async def fake_telegram_frozen(
    fake_telegram_clock: FakeClock,
) -> AsyncIterator[FakeTelegramBotAPI]:
    """A running fake whose rate-limit clock only moves with ``fake_telegram_clock.advance()``."""
    async with FakeTelegramBotAPI(clock=fake_telegram_clock) as fake:
        yield fake
