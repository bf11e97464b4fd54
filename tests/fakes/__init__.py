"""Test doubles for external services (Telegram Bot API, ...)."""

from tests.fakes.telegram_bot_api import (
    CallbackAnswer,
    FakeBot,
    FakeChat,
    FakeClock,
    FakeTelegramBotAPI,
    FakeUser,
    Fault,
    FaultRule,
    InviteLink,
    RateLimits,
    RecordedRequest,
    SentMedia,
    SentMessage,
)

__all__ = [
    "CallbackAnswer",
    "FakeBot",
    "FakeChat",
    "FakeClock",
    "FakeTelegramBotAPI",
    "FakeUser",
    "Fault",
    "FaultRule",
    "InviteLink",
    "RateLimits",
    "RecordedRequest",
    "SentMedia",
    "SentMessage",
]
