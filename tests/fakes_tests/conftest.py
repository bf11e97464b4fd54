"""Fixtures for the fake's own tests (the fake's fixtures plus real aiogram bots on it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiogram import Bot

from tests.fakes.fixtures import fake_telegram, fake_telegram_clock, fake_telegram_frozen
from tests.fakes.telegram_bot_api import FakeBot, FakeTelegramBotAPI

__all__ = ["fake_telegram", "fake_telegram_clock", "fake_telegram_frozen"]

MakeBot = Callable[..., Bot]


async def close_quickly(bot: Bot) -> None:
    """AiohttpSession.close() sleeps 250 ms for TLS shutdown; plain HTTP doesn't need that."""
    inner = getattr(bot.session, "_session", None)
    if inner is not None and not inner.closed:
        await inner.close()


def _bot_factory(fake: FakeTelegramBotAPI, created: list[Bot]) -> MakeBot:
    def make(tg_bot: FakeBot | str, *, timeout: float = 5.0) -> Bot:
        bot: Bot = fake.aiogram_bot(tg_bot, timeout=timeout)
        created.append(bot)
        return bot

    return make


@pytest.fixture
async def make_bot(fake_telegram: FakeTelegramBotAPI) -> AsyncIterator[MakeBot]:
    created: list[Bot] = []
    yield _bot_factory(fake_telegram, created)
    for bot in created:
        await close_quickly(bot)


@pytest.fixture
async def make_frozen_bot(fake_telegram_frozen: FakeTelegramBotAPI) -> AsyncIterator[MakeBot]:
    created: list[Bot] = []
    yield _bot_factory(fake_telegram_frozen, created)
    for bot in created:
        await close_quickly(bot)
