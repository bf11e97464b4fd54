"""Building Bot API calls from :class:`OutgoingMessage` and mapping failures to
:class:`SendResult`, for :mod:`connectors.telegram_bot`."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    SendAnimation,
    SendAudio,
    SendDocument,
    SendPhoto,
    SendVideo,
    SendVideoNote,
    SendVoice,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import ClientConnectorError, ConnectionTimeoutError

from connectors.base import MediaKind, OutgoingMessage, SendErrorKind, SendResult
from connectors.bot_token import redact

CAPTION_MAX = 1024  # visible characters (UTF-16 code units) of a media caption

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

MEDIA_METHODS: dict[MediaKind, type[TelegramMethod[Message]]] = {
    MediaKind.PHOTO: SendPhoto,
    MediaKind.VIDEO: SendVideo,
    MediaKind.ANIMATION: SendAnimation,
    MediaKind.DOCUMENT: SendDocument,
    MediaKind.AUDIO: SendAudio,
    MediaKind.VOICE: SendVoice,
    MediaKind.VIDEO_NOTE: SendVideoNote,
}
NO_CAPTION = frozenset({MediaKind.VIDEO_NOTE})
# Kinds Telegram accepts together in one album (sendMediaGroup).
ALBUM_FAMILIES = (
    frozenset({MediaKind.PHOTO, MediaKind.VIDEO}),
    frozenset({MediaKind.DOCUMENT}),
    frozenset({MediaKind.AUDIO}),
)

_TAG_RE = re.compile(r"<[^>]*>")


def visible_length(html_text: str) -> int:
    """Length Telegram counts for HTML text: tags dropped, entities decoded, UTF-16 units."""
    plain = html.unescape(_TAG_RE.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def build_markup(message: OutgoingMessage) -> Markup | None:
    if message.inline_buttons:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=b.text, url=b.url)
                    if b.url is not None
                    else InlineKeyboardButton(text=b.text, callback_data=b.callback_data)
                    for b in row
                ]
                for row in message.inline_buttons
            ]
        )
    if message.reply_keyboard is not None:
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=t) for t in row] for row in message.reply_keyboard],
            resize_keyboard=True,
        )
    if message.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def album_family(kinds: list[MediaKind]) -> bool:
    return 2 <= len(kinds) <= 10 and any(set(kinds) <= family for family in ALBUM_FAMILIES)


def file_id_of(message: Message, kind: MediaKind) -> str | None:
    """The file_id Telegram gave an uploaded file (to send it again without uploading)."""
    if kind is MediaKind.PHOTO:
        return message.photo[-1].file_id if message.photo else None
    obj: Any = getattr(message, kind.value, None)
    return getattr(obj, "file_id", None)


def maybe_delivered(exc: BaseException) -> bool:
    """False only when the request provably never reached the server (no connection)."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 5:
        if isinstance(cause, ClientConnectorError | ConnectionTimeoutError):
            return False
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return True


def failure(exc: BaseException, token: str) -> SendResult:
    """The :class:`SendResult` for an exception raised by an aiogram call."""
    if isinstance(exc, TelegramAPIError):
        description = redact(exc.message, token)
    else:
        description = redact(f"{type(exc).__name__}: {exc}", token)
    if isinstance(exc, TelegramRetryAfter):
        return SendResult.failure(
            SendErrorKind.RETRY_AFTER, description, retry_after=float(exc.retry_after)
        )
    if isinstance(exc, TelegramUnauthorizedError):
        return SendResult.failure(SendErrorKind.UNAUTHORIZED, description)
    if isinstance(exc, TelegramForbiddenError):
        return SendResult.failure(SendErrorKind.BLOCKED, description)
    if isinstance(exc, TelegramNetworkError | ClientDecodeError | asyncio.TimeoutError | OSError):
        return SendResult.failure(
            SendErrorKind.NETWORK, description, maybe_delivered=maybe_delivered(exc)
        )
    if isinstance(
        exc,
        TelegramBadRequest | TelegramNotFound | TelegramEntityTooLarge | TelegramMigrateToChat,
    ):
        return SendResult.failure(SendErrorKind.BAD_REQUEST, description)
    if isinstance(exc, TelegramServerError | TelegramConflictError | TelegramAPIError):
        return SendResult.failure(SendErrorKind.SERVER_ERROR, description)
    raise exc
