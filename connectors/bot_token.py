"""Checking a bot token with Telegram's getMe before it is stored (never logged or printed)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.utils.token import TokenValidationError


class BotTokenError(Exception):
    """The token was refused; the message never contains the token."""


@dataclass(frozen=True)
class BotIdentity:
    telegram_id: int
    username: str
    first_name: str


def redact(text: str, token: str) -> str:
    """``text`` with the token (and its secret half) replaced by ``***``."""
    secret = token.partition(":")[2]
    for part in (token, secret):
        if part:
            text = text.replace(part, "***")
    return text


async def check_bot_token(token: str, api_base: str | None = None) -> BotIdentity:
    """Ask Telegram (or the server at ``api_base``) who this token belongs to."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base) if api_base else None)
    try:
        bot = Bot(token, session=session)
    except TokenValidationError:
        await session.close()
        raise BotTokenError(
            "this is not a bot token (expected the form 123456789:ABC… from @BotFather)"
        ) from None
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        raise BotTokenError("Telegram refused the token (revoked or mistyped)") from None
    except (TelegramAPIError, OSError, TimeoutError) as exc:
        raise BotTokenError(f"could not check the token: {redact(str(exc), token)}") from None
    finally:
        await session.close()
    return BotIdentity(telegram_id=me.id, username=me.username or "", first_name=me.first_name)
