"""A fake Telegram Bot API server for tests.

Real aiogram (or any HTTP client) talks to it over HTTP on 127.0.0.1::

    async with FakeTelegramBotAPI() as fake:
        tg_bot = fake.add_bot("111:AAA", username="funnel_bot")
        bot = Bot(tg_bot.token, session=AiohttpSession(api=fake.api_server))
        ...

It keeps every request, every sent message (per bot and per chat), lets a test inject updates
as a user would produce them (``user_sends_text``, ``user_presses_button``, ...), delivers them
via ``getUpdates`` long polling or a webhook (127.0.0.1 only), injects faults (429/403/400/5xx,
slow replies, dropped connections) and enforces Telegram's documented flood limits with a clock
the test can control.

Nothing here ever contacts Telegram: the server binds 127.0.0.1 and webhooks may only point
to 127.0.0.1/localhost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

from tests.fakes.telegram_html import HTMLParseError, parse_html, utf16_len

if TYPE_CHECKING:
    from aiogram.client.telegram import TelegramAPIServer

JSON = dict[str, Any]
ChatId = int | str

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

ALL_DEFAULT_UPDATE_TYPES_EXCLUDED = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Form fields that are plain strings and must never be JSON-decoded (text "123" stays "123").
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "photo",
        "video",
        "document",
        "voice",
        "audio",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
        "url",
        "secret_token",
        "name",
        "invite_link",
        "callback_query_id",
        "inline_message_id",
        "description",
        "short_description",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "title",
        "performer",
        "file_id",
        "action",
        "ip_address",
        "query_id",
        "first_name",
        "last_name",
        "phone_number",
        "address",
    }
)

_MEDIA_KINDS = (
    "photo",
    "video",
    "document",
    "voice",
    "audio",
    "animation",
    "sticker",
    "video_note",
)


# ----------------------------------------------------------------------------------------------
# Small public value types
# ----------------------------------------------------------------------------------------------


class FakeClock:
    """A manually advanced monotonic clock: ``clock()`` returns the time, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeUser:
    id: int
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"
    is_bot: bool = False
    is_premium: bool | None = None

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code", "is_premium"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class FakeChat:
    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class FakeBot:
    """A registered bot and its server-side state (pending updates, webhook, commands...)."""

    token: str
    id: int
    username: str
    first_name: str
    can_join_groups: bool = True
    can_read_all_group_messages: bool = False
    supports_inline_queries: bool = False
    pending_updates: list[JSON] = field(default_factory=list)
    next_update_id: int = 10_000_001
    allowed_updates: list[str] | None = None
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_allowed_updates: list[str] | None = None
    webhook_max_connections: int = 40
    webhook_last_error_date: int | None = None
    webhook_last_error_message: str | None = None
    webhook_deliveries: int = 0
    commands: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    blocked_by: set[int] = field(default_factory=set)

    def to_user_dict(self) -> JSON:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def to_get_me(self) -> JSON:
        return {
            **self.to_user_dict(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class SentMedia:
    type: str  # photo, video, document, voice, audio, animation, sticker, video_note
    file_id: str
    source: Literal["file_id", "url", "upload"]
    url: str | None = None
    filename: str | None = None
    data: bytes | None = None
    caption: str | None = None


@dataclass
class SentMessage:
    """One message the bot sent; edits and deletion update it in place."""

    bot_token: str
    method: str
    chat_id: int
    message_id: int
    text: str | None  # text (sendMessage) or caption (media), as sent (raw HTML included)
    parse_mode: str | None
    reply_markup: JSON | None
    protect_content: bool
    disable_notification: bool
    media: list[SentMedia]
    at: float  # value of the fake's clock when sent
    params: JSON
    message: JSON  # the Message object as returned to the bot (updated by edits)
    media_group_id: str | None = None
    deleted: bool = False
    edits: list[JSON] = field(default_factory=list)

    @property
    def rendered_text(self) -> str | None:
        """Text/caption as the user sees it (HTML tags stripped)."""
        value = self.message.get("text", self.message.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def entities(self) -> list[JSON]:
        value = self.message.get("entities", self.message.get("caption_entities"))
        return list(value) if isinstance(value, list) else []

    @property
    def buttons(self) -> list[JSON]:
        """Inline keyboard buttons, flattened row by row."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass
class RecordedRequest:
    bot_token: str
    method: str
    params: JSON
    files: dict[str, tuple[str, bytes]]  # field -> (filename, data)
    content_type: str
    at: float
    status: int | None = None
    response: JSON | None = None
    fault: str | None = None
    via: Literal["http", "webhook_reply"] = "http"


@dataclass
class CallbackAnswer:
    bot_token: str
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass
class InviteLink:
    bot_token: str
    chat_id: int
    invite_link: str
    creator: JSON
    name: str | None = None
    expire_date: int | None = None
    member_limit: int | None = None
    creates_join_request: bool = False
    is_revoked: bool = False
    joined: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)

    def to_dict(self) -> JSON:
        data: JSON = {
            "invite_link": self.invite_link,
            "creator": self.creator,
            "creates_join_request": self.creates_join_request,
            "is_primary": False,
            "is_revoked": self.is_revoked,
        }
        if self.name is not None:
            data["name"] = self.name
        if self.expire_date is not None:
            data["expire_date"] = self.expire_date
        if self.member_limit is not None:
            data["member_limit"] = self.member_limit
        if self.creates_join_request:
            data["pending_join_request_count"] = len(self.pending)
        return data


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or before) answering a request. Build with the classmethods."""

    kind: Literal["error", "delay", "drop"]
    status: int = 400
    description: str = ""
    parameters: JSON | None = None
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, description: str, parameters: JSON | None = None) -> Fault:
        return cls(kind="error", status=status, description=description, parameters=parameters)

    @classmethod
    def too_many_requests(cls, retry_after: int = 5) -> Fault:
        return cls.error(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    @classmethod
    def forbidden(cls, description: str = "Forbidden: bot was blocked by the user") -> Fault:
        return cls.error(403, description)

    @classmethod
    def bad_request(cls, description: str = "Bad Request: chat not found") -> Fault:
        if not description.startswith("Bad Request"):
            description = f"Bad Request: {description}"
        return cls.error(400, description)

    @classmethod
    def server_error(cls, status: int = 500, description: str | None = None) -> Fault:
        default = {500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Server Error")
        return cls.error(status, description or default)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait ``seconds`` and then answer normally (the request still takes effect)."""
        return cls(kind="delay", delay=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the TCP connection without any HTTP response (request has no effect)."""
        return cls(kind="drop")


@dataclass
class FaultRule:
    method: str  # lower-cased method name or "*"
    fault: Fault
    remaining: int | None  # None = forever
    bot_token: str | None = None
    chat_id: int | str | None = None
    hits: int = 0

    def matches(self, token: str, method: str, chat_id: int | str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method not in ("*", method):
            return False
        if self.bot_token is not None and self.bot_token != token:
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class RateLimits:
    """Telegram's documented flood limits as token buckets (burst = bucket size)."""

    enabled: bool = True
    per_bot_per_second: float = 30.0
    per_bot_burst: int = 30
    per_private_chat_per_second: float = 1.0
    per_private_chat_burst: int = 3
    per_group_per_minute: float = 20.0
    per_group_burst: int = 20


class _Bucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class _APIError(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class _FileRecord:
    file_id: str
    file_unique_id: str
    kind: str
    filename: str | None = None
    data: bytes | None = None
    url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 1024

    @property
    def path(self) -> str:
        return f"{self.kind}s/{self.file_unique_id}{_guess_ext(self.kind, self.filename)}"


def _guess_ext(kind: str, filename: str | None) -> str:
    if filename and "." in filename:
        return "." + filename.rsplit(".", 1)[1]
    return {
        "photo": ".jpg",
        "video": ".mp4",
        "voice": ".oga",
        "audio": ".mp3",
        "animation": ".mp4",
        "sticker": ".webp",
        "video_note": ".mp4",
    }.get(kind, ".bin")


@dataclass
class _Call:
    bot: FakeBot
    method: str
    params: JSON
    files: dict[str, tuple[str, bytes]]


def _bad(description: str) -> _APIError:
    return _APIError(400, f"Bad Request: {description}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _bad(f"invalid {name} specified") from None


def _decode_form_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "unknown")


# ----------------------------------------------------------------------------------------------
# The fake server
# ----------------------------------------------------------------------------------------------


class FakeTelegramBotAPI:
    """Fake Bot API HTTP server. Use as ``async with FakeTelegramBotAPI() as fake: ...``."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rate_limits: RateLimits | bool = True,
        strict_file_ids: bool = False,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        if host not in LOCAL_HOSTS:
            raise ValueError("the fake Bot API only listens on localhost")
        self.clock = clock
        self.wall_clock = wall_clock
        if isinstance(rate_limits, RateLimits):
            self.rate_limits = rate_limits
        else:
            self.rate_limits = RateLimits(enabled=rate_limits)
        self.strict_file_ids = strict_file_ids
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.host = host
        self.port = 0

        self.bots: dict[str, FakeBot] = {}
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.invite_links: dict[str, InviteLink] = {}
        self.webhook_requests: list[tuple[str, JSON, dict[str, str]]] = []
        # Telegram Business: connection id -> (bot token, owner user id)
        self.business_connections: dict[str, tuple[str, int]] = {}

        self._requests: list[RecordedRequest] = []
        self._sent: list[SentMessage] = []
        self._sent_per_bot: Counter[str] = Counter()
        self._messages: dict[tuple[str, int, int], tuple[JSON, SentMessage | None]] = {}
        self._message_counters: dict[tuple[str, int], int] = {}
        self._files: dict[str, _FileRecord] = {}
        self._url_files: dict[str, str] = {}
        self._file_seq = itertools.count(1)
        self._user_seq = itertools.count(100_000_001)
        self._group_seq = itertools.count(1)
        self._bot_seq = itertools.count(7_000_000_001)
        self._callback_seq = itertools.count(4_000_000_000_000_001)
        self._media_group_seq = itertools.count(13_000_000_000_000_001)
        self._pending_callbacks: dict[str, str] = {}  # query id -> bot token
        self._members: dict[tuple[int, int], str] = {}
        self._join_requests: dict[tuple[int, int], tuple[set[str], InviteLink | None]] = {}
        self._buckets: dict[tuple[str, str | int], _Bucket] = {}
        self._faults: list[FaultRule] = []
        self._poll_waiters: dict[str, set[asyncio.Future[str]]] = {}
        self._webhook_wakeups: dict[str, asyncio.Event] = {}
        self._webhook_tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._handlers: dict[str, Callable[[_Call], Awaitable[Any]]] = {
            name.lower(): handler
            for name, handler in {
                "getMe": self._m_get_me,
                "logOut": self._m_true,
                "close": self._m_true,
                "getUpdates": self._m_get_updates,
                "setWebhook": self._m_set_webhook,
                "deleteWebhook": self._m_delete_webhook,
                "getWebhookInfo": self._m_get_webhook_info,
                "sendMessage": self._m_send_message,
                "sendPhoto": self._m_send_media,
                "sendVideo": self._m_send_media,
                "sendDocument": self._m_send_media,
                "sendVoice": self._m_send_media,
                "sendAudio": self._m_send_media,
                "sendAnimation": self._m_send_media,
                "sendSticker": self._m_send_media,
                "sendVideoNote": self._m_send_media,
                "sendMediaGroup": self._m_send_media_group,
                "sendChatAction": self._m_send_chat_action,
                "copyMessage": self._m_copy_message,
                "editMessageText": self._m_edit_message_text,
                "editMessageCaption": self._m_edit_message_caption,
                "editMessageReplyMarkup": self._m_edit_message_reply_markup,
                "deleteMessage": self._m_delete_message,
                "deleteMessages": self._m_delete_messages,
                "answerCallbackQuery": self._m_answer_callback_query,
                "createChatInviteLink": self._m_create_chat_invite_link,
                "editChatInviteLink": self._m_edit_chat_invite_link,
                "revokeChatInviteLink": self._m_revoke_chat_invite_link,
                "approveChatJoinRequest": self._m_approve_join_request,
                "declineChatJoinRequest": self._m_decline_join_request,
                "banChatMember": self._m_ban_chat_member,
                "unbanChatMember": self._m_unban_chat_member,
                "getChat": self._m_get_chat,
                "getChatMember": self._m_get_chat_member,
                "setMyCommands": self._m_set_my_commands,
                "getMyCommands": self._m_get_my_commands,
                "deleteMyCommands": self._m_delete_my_commands,
                "getFile": self._m_get_file,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeTelegramBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        self._client = ClientSession()

    async def close(self) -> None:
        self._closing.set()
        for waiters in self._poll_waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result("closed")
        tasks = list(self._webhook_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._webhook_tasks.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_server(self) -> TelegramAPIServer:
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.base_url)

    def aiogram_bot(self, bot: FakeBot | str, *, timeout: float = 5.0, **kwargs: Any) -> Any:
        """A real ``aiogram.Bot`` wired to this fake (close it with ``await bot.session.close()``)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        token = bot.token if isinstance(bot, FakeBot) else bot
        session = AiohttpSession(api=self.api_server, timeout=timeout)
        return Bot(token, session=session, **kwargs)

    # ------------------------------------------------------------------ registration

    def add_bot(
        self,
        token: str | None = None,
        *,
        username: str | None = None,
        first_name: str | None = None,
        bot_id: int | None = None,
    ) -> FakeBot:
        if token is None:
            bot_id = bot_id or next(self._bot_seq)
            token = f"{bot_id}:AA{secrets.token_urlsafe(24)}"
        prefix = token.partition(":")[0]
        if bot_id is None:
            bot_id = int(prefix) if prefix.isdigit() else next(self._bot_seq)
        bot = FakeBot(
            token=token,
            id=bot_id,
            username=username or f"test{bot_id}_bot",
            first_name=first_name or "Test Bot",
        )
        self.bots[token] = bot
        return bot

    def bot(self, bot: FakeBot | str) -> FakeBot:
        token = bot.token if isinstance(bot, FakeBot) else bot
        try:
            return self.bots[token]
        except KeyError:
            raise KeyError(f"bot {token!r} is not registered with the fake") from None

    def add_user(
        self,
        user_id: int | None = None,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        is_premium: bool | None = None,
    ) -> FakeUser:
        user = FakeUser(
            id=user_id if user_id is not None else next(self._user_seq),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.users[user.id] = user
        return user

    def add_business_connection(
        self, bot: FakeBot | str, connection_id: str, owner: FakeUser | int
    ) -> JSON:
        """The owner connected ``bot`` to their account (Telegram Business): the bot may
        send with ``business_connection_id`` on the owner's behalf. Returns the
        ``business_connection`` update to push to the bot."""
        token = self.bot(bot).token
        user = self.user(owner)
        self.business_connections[connection_id] = (token, user.id)
        return {
            "business_connection": {
                "id": connection_id,
                "user": user.to_dict(),
                "user_chat_id": user.id,
                "date": int(self.wall_clock()),
                "is_enabled": True,
                "rights": {"can_reply": True},
            }
        }

    def user(self, user: FakeUser | int) -> FakeUser:
        if isinstance(user, FakeUser):
            self.users.setdefault(user.id, user)
            return user
        if user not in self.users:
            self.add_user(user, first_name=f"User{user}", username=f"user{user}")
        return self.users[user]

    def add_chat(
        self,
        chat_id: int | None = None,
        *,
        type: Literal["group", "supergroup", "channel"] = "supergroup",
        title: str = "Test chat",
        username: str | None = None,
    ) -> FakeChat:
        if chat_id is None:
            n = next(self._group_seq)
            chat_id = -n if type == "group" else -1_001_000_000_000 - n
        chat = FakeChat(id=chat_id, type=type, title=title, username=username)
        self.chats[chat.id] = chat
        return chat

    def chat(self, chat: FakeChat | int) -> FakeChat:
        if isinstance(chat, FakeChat):
            self.chats.setdefault(chat.id, chat)
            return chat
        return self._chat_for_id(chat)

    def set_member_status(self, chat: FakeChat | int, user: FakeUser | int, status: str) -> None:
        """Status for getChatMember: creator/administrator/member/restricted/left/kicked."""
        self._members[(self.chat(chat).id, self.user(user).id)] = status

    # ------------------------------------------------------------------ inspection

    def sent(
        self,
        bot_token: FakeBot | str | None = None,
        chat_id: int | FakeChat | FakeUser | None = None,
        *,
        method: str | None = None,
        include_deleted: bool = True,
    ) -> list[SentMessage]:
        token = bot_token.token if isinstance(bot_token, FakeBot) else bot_token
        cid = chat_id.id if isinstance(chat_id, FakeChat | FakeUser) else chat_id
        return [
            m
            for m in self._sent
            if (token is None or m.bot_token == token)
            and (cid is None or m.chat_id == cid)
            and (method is None or m.method.lower() == method.lower())
            and (include_deleted or not m.deleted)
        ]

    def sent_count(self, bot_token: FakeBot | str) -> int:
        """How many messages the bot sent (O(1): for polling loops, e.g. the benches)."""
        token = bot_token.token if isinstance(bot_token, FakeBot) else bot_token
        return self._sent_per_bot[token]

    def last_sent(
        self, bot_token: FakeBot | str | None = None, chat_id: int | FakeUser | None = None
    ) -> SentMessage:
        messages = self.sent(bot_token, chat_id)
        if not messages:
            raise AssertionError("nothing was sent")
        return messages[-1]

    def requests(
        self, bot_token: FakeBot | str | None = None, method: str | None = None
    ) -> list[RecordedRequest]:
        token = bot_token.token if isinstance(bot_token, FakeBot) else bot_token
        return [
            r
            for r in self._requests
            if (token is None or r.bot_token == token)
            and (method is None or r.method.lower() == method.lower())
        ]

    def message(self, bot: FakeBot | str, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a stored message (bot's or user's), None if absent/deleted."""
        entry = self._messages.get((self.bot(bot).token, chat_id, message_id))
        return entry[0] if entry else None

    def pending_updates(self, bot: FakeBot | str) -> list[JSON]:
        return list(self.bot(bot).pending_updates)

    def commands(
        self, bot: FakeBot | str, scope: JSON | None = None, language_code: str = ""
    ) -> list[JSON]:
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self.bot(bot).commands.get(key, []))

    def is_member(self, chat: FakeChat | int, user: FakeUser | int) -> bool:
        status = self._members.get((self.chat(chat).id, self.user(user).id), "left")
        return status in ("creator", "administrator", "member", "restricted")

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 3.0, interval: float = 0.005
    ) -> None:
        """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout:.2f}s")
            await asyncio.sleep(interval)

    async def wait_for_sent(
        self,
        count: int = 1,
        bot_token: FakeBot | str | None = None,
        chat_id: int | FakeUser | None = None,
        timeout: float = 3.0,
    ) -> list[SentMessage]:
        await self.wait_for(lambda: len(self.sent(bot_token, chat_id)) >= count, timeout)
        return self.sent(bot_token, chat_id)

    async def wait_until_delivered(self, bot: FakeBot | str, timeout: float = 3.0) -> None:
        """Wait until every injected update was confirmed (offset) or accepted by the webhook."""
        fake_bot = self.bot(bot)
        await self.wait_for(lambda: not fake_bot.pending_updates, timeout)

    # ------------------------------------------------------------------ faults & limits

    def add_fault(
        self,
        method: str,
        fault: Fault,
        *,
        times: int | None = 1,
        bot: FakeBot | str | None = None,
        chat_id: int | str | None = None,
    ) -> FaultRule:
        """Queue a fault for ``method`` ("*" = any); ``times=None`` = every call until cleared."""
        rule = FaultRule(
            method=method.lower() if method != "*" else "*",
            fault=fault,
            remaining=times,
            bot_token=bot.token if isinstance(bot, FakeBot) else bot,
            chat_id=chat_id,
        )
        self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        self._faults.clear()

    def reset_rate_limits(self) -> None:
        self._buckets.clear()

    def _take_fault(self, token: str, method: str, chat_id: int | str | None) -> Fault | None:
        for rule in self._faults:
            if rule.matches(token, method, chat_id):
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.remaining == 0:
                    self._faults.remove(rule)
                return rule.fault
        return None

    def _check_rate_limit(self, bot: FakeBot, chat: FakeChat) -> None:
        limits = self.rate_limits
        if not limits.enabled:
            return
        now = self.clock()
        buckets = [
            self._bucket((bot.token, "*"), limits.per_bot_per_second, limits.per_bot_burst, now)
        ]
        if chat.type == "private":
            buckets.append(
                self._bucket(
                    (bot.token, chat.id),
                    limits.per_private_chat_per_second,
                    limits.per_private_chat_burst,
                    now,
                )
            )
        elif chat.type in ("group", "supergroup"):
            buckets.append(
                self._bucket(
                    (bot.token, chat.id),
                    limits.per_group_per_minute / 60.0,
                    limits.per_group_burst,
                    now,
                )
            )
        wait = max(bucket.wait_time() for bucket in buckets)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise _APIError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        for bucket in buckets:
            bucket.tokens -= 1.0

    def _bucket(self, key: tuple[str, str | int], rate: float, burst: int, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, burst, now)
        bucket.refill(now)
        return bucket

    # ------------------------------------------------------------------ user-side helpers

    def push_update(self, bot: FakeBot | str, update: JSON) -> JSON:
        """Queue a raw update (``update_id`` is assigned if missing) for polling/webhook."""
        fake_bot = self.bot(bot)
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = fake_bot.next_update_id
        fake_bot.next_update_id = max(fake_bot.next_update_id, int(update["update_id"])) + 1
        fake_bot.pending_updates.append(update)
        if fake_bot.webhook_url:
            self._ensure_webhook_worker(fake_bot)
            self._webhook_wakeups[fake_bot.token].set()
        else:
            self._wake_pollers(fake_bot.token, "update")
        return update

    def user_sends_text(
        self,
        bot: FakeBot | str,
        user: FakeUser | int,
        text: str,
        *,
        entities: list[JSON] | None = None,
    ) -> JSON:
        fake_bot = self.bot(bot)
        fake_user = self.user(user)
        self._auto_unblock(fake_bot, fake_user)
        chat = self._private_chat(fake_user)
        message = self._new_message(fake_bot, chat, sender=fake_user.to_dict())
        message["text"] = text
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if entities:
            message["entities"] = entities
        self._messages[(fake_bot.token, chat.id, message["message_id"])] = (message, None)
        return self.push_update(fake_bot, {"message": message})

    def user_sends_start(
        self, bot: FakeBot | str, user: FakeUser | int, payload: str | None = None
    ) -> JSON:
        return self.user_sends_text(bot, user, f"/start {payload}" if payload else "/start")

    def user_presses_button(
        self,
        bot: FakeBot | str,
        user: FakeUser | int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
    ) -> JSON:
        fake_bot = self.bot(bot)
        fake_user = self.user(user)
        cid = chat_id if chat_id is not None else fake_user.id
        query_id = str(next(self._callback_seq))
        self._pending_callbacks[query_id] = fake_bot.token
        entry = self._messages.get((fake_bot.token, cid, message_id))
        if entry is not None:
            message = entry[0]
        else:  # a message the fake never saw: Telegram sends an "inaccessible" stub
            message = {
                "chat": self._chat_for_id(cid).to_dict(),
                "message_id": message_id,
                "date": 0,
            }
        query = {
            "id": query_id,
            "from": fake_user.to_dict(),
            "message": message,
            "chat_instance": str(abs(hash((fake_bot.token, cid))) % 10**19),
            "data": data,
        }
        return self.push_update(fake_bot, {"callback_query": query})

    def user_blocks_bot(self, bot: FakeBot | str, user: FakeUser | int) -> JSON:
        fake_bot = self.bot(bot)
        fake_user = self.user(user)
        fake_bot.blocked_by.add(fake_user.id)
        return self._push_my_chat_member(fake_bot, fake_user, "member", "kicked")

    def user_unblocks_bot(self, bot: FakeBot | str, user: FakeUser | int) -> JSON:
        fake_bot = self.bot(bot)
        fake_user = self.user(user)
        fake_bot.blocked_by.discard(fake_user.id)
        return self._push_my_chat_member(fake_bot, fake_user, "kicked", "member")

    def user_requests_join(
        self,
        chat: FakeChat | int,
        user: FakeUser | int,
        invite_link: InviteLink | str | None = None,
        *,
        bot: FakeBot | str | None = None,
    ) -> list[JSON]:
        """A chat_join_request to the link's creator bot (or ``bot``). Returns the updates."""
        fake_chat = self.chat(chat)
        fake_user = self.user(user)
        link = self._lookup_link(invite_link)
        if link is not None:
            self._check_link_usable(link)
        tokens: set[str] = set()
        if bot is not None:
            tokens.add(self.bot(bot).token)
        elif link is not None:
            tokens.add(link.bot_token)
        else:
            raise ValueError("pass invite_link or bot= so the fake knows who gets the request")
        self._join_requests[(fake_chat.id, fake_user.id)] = (tokens, link)
        if link is not None and fake_user.id not in link.pending:
            link.pending.append(fake_user.id)
        request: JSON = {
            "chat": fake_chat.to_dict(),
            "from": fake_user.to_dict(),
            "user_chat_id": fake_user.id,
            "date": self._date(),
        }
        if link is not None:
            request["invite_link"] = link.to_dict()
        return [self.push_update(token, {"chat_join_request": request}) for token in sorted(tokens)]

    def user_joins_via_link(
        self, chat: FakeChat | int, user: FakeUser | int, invite_link: InviteLink | str
    ) -> None:
        """A user follows a (non join-request) link; enforces member_limit/expiry/revocation."""
        fake_chat = self.chat(chat)
        fake_user = self.user(user)
        link = self._lookup_link(invite_link)
        if link is None:
            raise ValueError("unknown invite link")
        if link.creates_join_request:
            self.user_requests_join(fake_chat, fake_user, link)
            return
        self._check_link_usable(link)
        link.joined.append(fake_user.id)
        self._set_member(fake_chat, fake_user, "member", link)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self.bots:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for record in self._files.values():
            if record.path == path and record.data is not None:
                return web.Response(body=record.data)
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _parse_body(
        self, request: web.Request
    ) -> tuple[JSON, dict[str, tuple[str, bytes]], str]:
        params: JSON = {key: _decode_form_value(key, value) for key, value in request.query.items()}
        files: dict[str, tuple[str, bytes]] = {}
        content_type = request.content_type
        if request.method != "POST" or not request.can_read_body:
            return params, files, content_type
        if content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif content_type == "multipart/form-data":
            await self._read_multipart(await request.multipart(), params, files)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = _decode_form_value(key, value)
                elif isinstance(value, bytes | bytearray):
                    files[key] = (key, bytes(value))
                else:
                    files[key] = (value.filename, value.file.read())
        return params, files, content_type

    @staticmethod
    async def _read_multipart(
        reader: MultipartReader, params: JSON, files: dict[str, tuple[str, bytes]]
    ) -> None:
        while True:
            part = await reader.next()
            if part is None:
                return
            if isinstance(part, MultipartReader):
                await FakeTelegramBotAPI._read_multipart(part, params, files)
                continue
            name = part.name or ""
            if part.filename is not None:
                files[name] = (part.filename, bytes(await part.read()))
            else:
                params[name] = _decode_form_value(name, await part.text())

    @staticmethod
    def _error_payload(status: int, description: str, parameters: JSON | None = None) -> JSON:
        payload: JSON = {"ok": False, "error_code": status, "description": description}
        if parameters:
            payload["parameters"] = parameters
        return payload

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            params, files, content_type = await self._parse_body(request)
        except ValueError as exc:
            return web.json_response(
                self._error_payload(400, f"Bad Request: can't parse request body: {exc}"),
                status=400,
            )
        record = RecordedRequest(
            bot_token=token,
            method=method,
            params=params,
            files=files,
            content_type=content_type,
            at=self.clock(),
        )
        self._requests.append(record)
        if token not in self.bots:
            record.status, record.response = 401, self._error_payload(401, "Unauthorized")
            return web.json_response(record.response, status=401)
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        fault = self._take_fault(token, method.lower(), chat_id)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "drop":
                transport = request.transport
                if transport is not None:
                    transport.abort()
                raise asyncio.CancelledError  # aiohttp treats it as a lost client
            if fault.kind == "delay":
                await self._sleep(fault.delay)
            else:
                record.status = fault.status
                record.response = self._error_payload(
                    fault.status, fault.description, fault.parameters
                )
                return web.json_response(record.response, status=fault.status)
        status, payload = await self._execute(self.bots[token], method, params, files)
        record.status, record.response = status, payload
        return web.json_response(payload, status=status)

    async def _execute(
        self,
        bot: FakeBot,
        method: str,
        params: JSON,
        files: dict[str, tuple[str, bytes]],
    ) -> tuple[int, JSON]:
        handler = self._handlers.get(method.lower())
        if handler is None:
            return 404, self._error_payload(404, "Not Found")
        try:
            result = await handler(_Call(bot=bot, method=method, params=params, files=files))
        except _APIError as exc:
            return exc.status, self._error_payload(exc.status, exc.description, exc.parameters)
        payload: JSON = {"ok": True, "result": result}
        return 200, payload

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # ------------------------------------------------------------------ chats / messages

    def _date(self) -> int:
        return int(self.wall_clock())

    def _private_chat(self, user: FakeUser) -> FakeChat:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = FakeChat(
                id=user.id,
                type="private",
                username=user.username,
                first_name=user.first_name,
                last_name=user.last_name,
            )
            self.chats[user.id] = chat
        return chat

    def _chat_for_id(self, chat_id: int) -> FakeChat:
        chat = self.chats.get(chat_id)
        if chat is not None:
            return chat
        if chat_id > 0:
            return self._private_chat(self.user(chat_id))
        if str(chat_id).startswith("-100"):
            return self.add_chat(chat_id, type="supergroup", title=f"Chat {chat_id}")
        return self.add_chat(chat_id, type="group", title=f"Group {chat_id}")

    def _resolve_chat(self, value: Any, name: str = "chat_id") -> FakeChat:
        if value is None or value == "":
            raise _bad(f"{name} is empty")
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            username = value.removeprefix("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == username:
                    return chat
            raise _bad("chat not found")
        return self._chat_for_id(_as_int(value, name))

    def _check_not_blocked(self, bot: FakeBot, chat: FakeChat) -> None:
        if chat.type == "private" and chat.id in bot.blocked_by:
            raise _APIError(403, "Forbidden: bot was blocked by the user")

    def _next_message_id(self, bot: FakeBot, chat_id: int) -> int:
        key = (bot.token, chat_id)
        self._message_counters[key] = self._message_counters.get(key, 0) + 1
        return self._message_counters[key]

    def _new_message(self, bot: FakeBot, chat: FakeChat, *, sender: JSON | None = None) -> JSON:
        message: JSON = {"message_id": self._next_message_id(bot, chat.id)}
        if chat.type == "channel" and sender is None:
            message["sender_chat"] = chat.to_dict()
        else:
            message["from"] = sender if sender is not None else bot.to_user_dict()
        message["chat"] = chat.to_dict()
        message["date"] = self._date()
        return message

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                return parse_html(text)
            except HTMLParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        if isinstance(entities, list):
            return text, entities
        return text, []

    def _validate_markup(self, markup: Any) -> JSON | None:
        if markup is None or markup == "":
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise _bad("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is not None:
            if not isinstance(rows, list):
                raise _bad('field "inline_keyboard" must be an Array')
            for row in rows:
                if not isinstance(row, list):
                    raise _bad('field "inline_keyboard" must be an Array of Arrays')
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad("can't parse inline keyboard button: Text is empty")
                    data = button.get("callback_data")
                    if data is not None and not (1 <= len(str(data).encode()) <= 64):
                        raise _bad("BUTTON_DATA_INVALID")
                    url = button.get("url")
                    if url is not None and not re.match(r"^(https?|tg)://", str(url)):
                        raise _bad("BUTTON_URL_INVALID")
        return markup

    def _apply_common(self, token: str, message: JSON, params: JSON, markup: JSON | None) -> None:
        connection_id = params.get("business_connection_id")
        if connection_id:  # sent by the bot on behalf of a business account
            owner = self.business_connections.get(str(connection_id))
            if owner is None or owner[0] != token:
                raise _bad("business connection not found")
            message["business_connection_id"] = str(connection_id)
            message["from"] = self.user(owner[1]).to_dict()
            message["sender_business_bot"] = self.bots[token].to_user_dict()
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if _as_bool(params.get("protect_content", False)):
            message["has_protected_content"] = True
        thread_id = params.get("message_thread_id")
        if thread_id:
            message["message_thread_id"] = thread_id
        reply_to = params.get("reply_parameters")
        reply_id = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        if reply_id is not None:
            entry = self._messages.get((token, message["chat"]["id"], _as_int(reply_id, "id")))
            if entry is not None:
                message["reply_to_message"] = {
                    k: v for k, v in entry[0].items() if k != "reply_to_message"
                }
            elif not (isinstance(reply_to, dict) and reply_to.get("allow_sending_without_reply")):
                raise _bad("message to be replied not found")

    def _store_sent(
        self,
        call: _Call,
        chat: FakeChat,
        message: JSON,
        *,
        text: str | None,
        markup: JSON | None,
        media: list[SentMedia],
        media_group_id: str | None = None,
    ) -> SentMessage:
        params = call.params
        sent = SentMessage(
            bot_token=call.bot.token,
            method=call.method,
            chat_id=chat.id,
            message_id=message["message_id"],
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            protect_content=_as_bool(params.get("protect_content", False)),
            disable_notification=_as_bool(params.get("disable_notification", False)),
            media=media,
            at=self.clock(),
            params=dict(params),
            message=message,
            media_group_id=media_group_id,
        )
        self._sent.append(sent)
        self._sent_per_bot[sent.bot_token] += 1
        self._messages[(call.bot.token, chat.id, message["message_id"])] = (message, sent)
        return sent

    # ------------------------------------------------------------------ files

    def _new_file(self, kind: str, **kwargs: Any) -> _FileRecord:
        n = next(self._file_seq)
        record = _FileRecord(
            file_id=f"FAKE{kind.upper()}{n:06d}{secrets.token_hex(6)}",
            file_unique_id=f"U{kind[:2].upper()}{n:06d}",
            kind=kind,
            **kwargs,
        )
        self._files[record.file_id] = record
        return record

    def _resolve_input_file(
        self, kind: str, value: Any, files: dict[str, tuple[str, bytes]], field_name: str
    ) -> tuple[_FileRecord, SentMedia]:
        if value is None or value == "":
            if field_name in files:
                value = f"attach://{field_name}"
            else:
                raise _bad(f"there is no {kind} in the request")
        if not isinstance(value, str):
            raise _bad(f"wrong type of the {field_name} field")
        if value.startswith("attach://"):
            key = value.removeprefix("attach://")
            if key not in files:
                raise _bad("wrong file identifier/HTTP URL specified")
            filename, data = files[key]
            record = self._new_file(kind, filename=filename, data=data)
            return record, SentMedia(kind, record.file_id, "upload", filename=filename, data=data)
        if re.match(r"^https?://", value):
            file_id = self._url_files.get(value)
            if file_id is None:
                record = self._new_file(kind, url=value)
                self._url_files[value] = record.file_id
            else:
                record = self._files[file_id]
            return record, SentMedia(kind, record.file_id, "url", url=value)
        record_or_none = self._files.get(value)
        if record_or_none is None:
            if self.strict_file_ids or len(value) < 4 or " " in value:
                raise _bad("wrong file identifier/HTTP URL specified")
            record_or_none = _FileRecord(
                file_id=value, file_unique_id=f"U{abs(hash(value)) % 10**10}", kind=kind
            )
            self._files[value] = record_or_none
        return record_or_none, SentMedia(kind, value, "file_id")

    @staticmethod
    def _media_object(kind: str, record: _FileRecord, params: JSON) -> tuple[str, Any]:
        base: JSON = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
        }
        duration = params.get("duration") or 1
        width = params.get("width") or 1280
        height = params.get("height") or 720
        if kind == "photo":
            thumb = {
                **base,
                "file_id": record.file_id + "_s",
                "file_unique_id": record.file_unique_id + "s",
                "width": 90,
                "height": 51,
            }
            return "photo", [thumb, {**base, "width": 1280, "height": 720}]
        if kind in ("video", "animation"):
            obj = {
                **base,
                "width": width,
                "height": height,
                "duration": duration,
                "mime_type": "video/mp4",
            }
            if record.filename:
                obj["file_name"] = record.filename
            return kind, obj
        if kind == "voice":
            return kind, {**base, "duration": duration, "mime_type": "audio/ogg"}
        if kind == "audio":
            obj = {**base, "duration": duration, "mime_type": "audio/mpeg"}
            for key in ("title", "performer"):
                if params.get(key):
                    obj[key] = params[key]
            if record.filename:
                obj["file_name"] = record.filename
            return kind, obj
        if kind == "video_note":
            return kind, {**base, "length": params.get("length") or 240, "duration": duration}
        if kind == "sticker":
            return kind, {
                **base,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        obj = {**base, "file_name": record.filename or "document" + _guess_ext(kind, None)}
        obj["mime_type"] = "application/octet-stream"
        return "document", obj

    # ------------------------------------------------------------------ methods: bot & updates

    async def _m_true(self, call: _Call) -> Any:
        return True

    async def _m_get_me(self, call: _Call) -> Any:
        return call.bot.to_get_me()

    def _effective_allowed(self, allowed: list[str] | None) -> Callable[[str], bool]:
        if allowed:
            allowed_set = set(allowed)
            return lambda kind: kind in allowed_set
        return lambda kind: kind not in ALL_DEFAULT_UPDATE_TYPES_EXCLUDED

    def _wake_pollers(self, token: str, reason: str) -> None:
        for waiter in self._poll_waiters.get(token, set()):
            if not waiter.done():
                waiter.set_result(reason)

    async def _m_get_updates(self, call: _Call) -> Any:
        bot = call.bot
        params = call.params
        if bot.webhook_url:
            raise _APIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        # A new getUpdates terminates the one still waiting (like Telegram does).
        self._wake_pollers(bot.token, "conflict")
        offset = _as_int(params.get("offset", 0) or 0, "offset")
        limit = max(1, min(100, _as_int(params.get("limit", 100) or 100, "limit")))
        timeout = max(0.0, float(params.get("timeout", 0) or 0))
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            allowed = params["allowed_updates"]
            bot.allowed_updates = list(allowed) if isinstance(allowed, list) else None
        if offset > 0:
            bot.pending_updates = [u for u in bot.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            bot.pending_updates = bot.pending_updates[offset:]

        def ready() -> list[JSON]:
            is_allowed = self._effective_allowed(bot.allowed_updates)
            bot.pending_updates = [u for u in bot.pending_updates if is_allowed(_update_type(u))]
            return bot.pending_updates[:limit]

        result = ready()
        if result or timeout == 0 or self._closing.is_set():
            return result
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiters = self._poll_waiters.setdefault(bot.token, set())
        waiters.add(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiters.discard(waiter)
        reason = waiter.result() if done else "timeout"
        if not done:
            waiter.cancel()
        if reason == "conflict":
            raise _APIError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        if reason in ("closed", "webhook"):
            return []
        return ready()

    async def _m_set_webhook(self, call: _Call) -> Any:
        bot = call.bot
        params = call.params
        url = str(params.get("url") or "")
        if not url:
            return await self._m_delete_webhook(call)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOCAL_HOSTS:
            raise _bad("bad webhook: the fake Bot API only delivers to 127.0.0.1/localhost")
        secret = params.get("secret_token")
        if secret is not None and (
            not isinstance(secret, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
        ):
            raise _bad("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        bot.webhook_url = url
        bot.webhook_secret = secret or None
        bot.webhook_allowed_updates = list(allowed) if isinstance(allowed, list) else None
        bot.webhook_max_connections = _as_int(params.get("max_connections", 40) or 40, "max")
        bot.webhook_last_error_date = bot.webhook_last_error_message = None
        if _as_bool(params.get("drop_pending_updates", False)):
            bot.pending_updates.clear()
        self._wake_pollers(bot.token, "webhook")
        self._ensure_webhook_worker(bot)
        self._webhook_wakeups[bot.token].set()
        return True

    async def _m_delete_webhook(self, call: _Call) -> Any:
        bot = call.bot
        bot.webhook_url = ""
        bot.webhook_secret = None
        if _as_bool(call.params.get("drop_pending_updates", False)):
            bot.pending_updates.clear()
        task = self._webhook_tasks.pop(bot.token, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # (called from a webhook reply, the worker simply stops by itself)
        self._wake_pollers(bot.token, "webhook")
        return True

    async def _m_get_webhook_info(self, call: _Call) -> Any:
        bot = call.bot
        info: JSON = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending_updates),
        }
        if bot.webhook_url:
            info["max_connections"] = bot.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if bot.webhook_allowed_updates:
                info["allowed_updates"] = bot.webhook_allowed_updates
        if bot.webhook_last_error_date is not None:
            info["last_error_date"] = bot.webhook_last_error_date
            info["last_error_message"] = bot.webhook_last_error_message
        return info

    def _ensure_webhook_worker(self, bot: FakeBot) -> None:
        self._webhook_wakeups.setdefault(bot.token, asyncio.Event())
        task = self._webhook_tasks.get(bot.token)
        if task is None or task.done():
            self._webhook_tasks[bot.token] = asyncio.get_running_loop().create_task(
                self._webhook_worker(bot), name=f"fake-telegram-webhook-{bot.id}"
            )

    async def _webhook_worker(self, bot: FakeBot) -> None:
        wakeup = self._webhook_wakeups[bot.token]
        while bot.webhook_url and not self._closing.is_set():
            is_allowed = self._effective_allowed(bot.webhook_allowed_updates)
            bot.pending_updates = [u for u in bot.pending_updates if is_allowed(_update_type(u))]
            if not bot.pending_updates:
                wakeup.clear()
                await wakeup.wait()
                continue
            update = bot.pending_updates[0]
            if await self._deliver_webhook(bot, update):
                if bot.pending_updates and bot.pending_updates[0] is update:
                    bot.pending_updates.pop(0)
            else:
                await self._sleep(self.webhook_retry_delay)

    async def _deliver_webhook(self, bot: FakeBot, update: JSON) -> bool:
        url = bot.webhook_url
        if urlsplit(url).hostname not in LOCAL_HOSTS or self._client is None:
            return False
        headers = {"Content-Type": "application/json"}
        if bot.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret
        self.webhook_requests.append((bot.token, update, headers))
        bot.webhook_deliveries += 1
        try:
            async with self._client.post(
                url,
                data=json.dumps(update),
                headers=headers,
                timeout=ClientTimeout(total=self.webhook_timeout),
            ) as response:
                if not 200 <= response.status < 300:
                    bot.webhook_last_error_date = self._date()
                    bot.webhook_last_error_message = (
                        f"Wrong response from the webhook: {response.status} {response.reason}"
                    )
                    return False
                await self._run_webhook_reply(bot, response)
                return True
        except (ClientError, TimeoutError) as exc:
            bot.webhook_last_error_date = self._date()
            bot.webhook_last_error_message = f"Connection failed: {type(exc).__name__}"
            return False

    async def _run_webhook_reply(self, bot: FakeBot, response: Any) -> None:
        """Telegram executes a method returned in the webhook response body."""
        params: JSON = {}
        files: dict[str, tuple[str, bytes]] = {}
        content_type = response.content_type
        if content_type == "application/json":
            body = await response.json(content_type=None)
            if isinstance(body, dict):
                params.update(body)
        elif content_type == "multipart/form-data":
            reader = MultipartReader(response.headers, response.content)
            await self._read_multipart(reader, params, files)
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return
        record = RecordedRequest(
            bot.token, method, params, files, content_type, self.clock(), via="webhook_reply"
        )
        self._requests.append(record)
        record.status, record.response = await self._execute(bot, method, params, files)

    # ------------------------------------------------------------------ methods: sending

    async def _m_send_message(self, call: _Call) -> Any:
        params = call.params
        chat = self._resolve_chat(params.get("chat_id"))
        self._check_not_blocked(call.bot, chat)
        raw_text = params.get("text")
        if raw_text is None or str(raw_text) == "":
            raise _bad("message text is empty")
        text, entities = self._render(
            str(raw_text), params.get("parse_mode"), params.get("entities")
        )
        if not text.strip():
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("message is too long")
        markup = self._validate_markup(params.get("reply_markup"))
        self._check_rate_limit(call.bot, chat)
        message = self._new_message(call.bot, chat)
        message["text"] = text
        if entities:
            message["entities"] = entities
        link_preview = params.get("link_preview_options")
        if isinstance(link_preview, dict) and link_preview:
            message["link_preview_options"] = link_preview
        self._apply_common(call.bot.token, message, params, markup)
        self._store_sent(call, chat, message, text=str(raw_text), markup=markup, media=[])
        return message

    def _caption(self, params: JSON) -> tuple[str | None, str | None, list[JSON]]:
        raw = params.get("caption")
        if raw is None or raw == "":
            return None, None, []
        text, entities = self._render(
            str(raw), params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(text) > 1024:
            raise _bad("message caption is too long")
        return str(raw), text, entities

    async def _m_send_media(self, call: _Call) -> Any:
        params = call.params
        kind = {
            "sendphoto": "photo",
            "sendvideo": "video",
            "senddocument": "document",
            "sendvoice": "voice",
            "sendaudio": "audio",
            "sendanimation": "animation",
            "sendsticker": "sticker",
            "sendvideonote": "video_note",
        }[call.method.lower()]
        chat = self._resolve_chat(params.get("chat_id"))
        self._check_not_blocked(call.bot, chat)
        raw_caption, caption, entities = self._caption(params)
        markup = self._validate_markup(params.get("reply_markup"))
        record, media = self._resolve_input_file(kind, params.get(kind), call.files, kind)
        self._check_rate_limit(call.bot, chat)
        message = self._new_message(call.bot, chat)
        key, obj = self._media_object(kind, record, params)
        message[key] = obj
        if kind == "animation":
            message["document"] = {**obj, "file_name": record.filename or "animation.mp4"}
        if caption is not None:
            message["caption"] = caption
            media.caption = raw_caption
            if entities:
                message["caption_entities"] = entities
        if _as_bool(params.get("has_spoiler", False)):
            message["has_media_spoiler"] = True
        self._apply_common(call.bot.token, message, params, markup)
        self._store_sent(call, chat, message, text=raw_caption, markup=markup, media=[media])
        return message

    async def _m_send_media_group(self, call: _Call) -> Any:
        params = call.params
        chat = self._resolve_chat(params.get("chat_id"))
        self._check_not_blocked(call.bot, chat)
        items = params.get("media")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise _bad("wrong number of media in the album: must include 2-10 items")
        prepared: list[tuple[JSON, _FileRecord, SentMedia, str | None, str | None, list[JSON]]]
        prepared = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") not in (
                "photo",
                "video",
                "document",
                "audio",
            ):
                raise _bad(f"can't parse InputMedia: media #{index} has unsupported type")
            kind = str(item["type"])
            record, media = self._resolve_input_file(
                kind, item.get("media"), call.files, f"media#{index}"
            )
            raw_caption, caption, entities = self._caption(item)
            prepared.append((item, record, media, raw_caption, caption, entities))
        self._check_rate_limit(call.bot, chat)
        group_id = str(next(self._media_group_seq))
        messages: list[JSON] = []
        for item, record, media, raw_caption, caption, entities in prepared:
            message = self._new_message(call.bot, chat)
            message["media_group_id"] = group_id
            key, obj = self._media_object(str(item["type"]), record, item)
            message[key] = obj
            if caption is not None:
                message["caption"] = caption
                media.caption = raw_caption
                if entities:
                    message["caption_entities"] = entities
            if _as_bool(params.get("protect_content", False)):
                message["has_protected_content"] = True
            self._store_sent(
                call,
                chat,
                message,
                text=raw_caption,
                markup=None,
                media=[media],
                media_group_id=group_id,
            )
            messages.append(message)
        return messages

    async def _m_copy_message(self, call: _Call) -> Any:
        params = call.params
        chat = self._resolve_chat(params.get("chat_id"))
        source_chat = self._resolve_chat(params.get("from_chat_id"), "from_chat_id")
        self._check_not_blocked(call.bot, chat)
        entry = self._messages.get(
            (call.bot.token, source_chat.id, _as_int(params.get("message_id"), "message_id"))
        )
        if entry is None:
            raise _bad("message to copy not found")
        markup = self._validate_markup(params.get("reply_markup"))
        self._check_rate_limit(call.bot, chat)
        original = entry[0]
        message = self._new_message(call.bot, chat)
        for key in ("text", "entities", "caption", "caption_entities", *_MEDIA_KINDS):
            if key in original:
                message[key] = original[key]
        if params.get("caption") is not None:
            _, caption, entities = self._caption(params)
            message["caption"] = caption
            message.pop("caption_entities", None)
            if entities:
                message["caption_entities"] = entities
        self._apply_common(call.bot.token, message, params, markup)
        self._store_sent(
            call,
            chat,
            message,
            text=message.get("text", message.get("caption")),
            markup=markup,
            media=[],
        )
        return {"message_id": message["message_id"]}

    async def _m_send_chat_action(self, call: _Call) -> Any:
        chat = self._resolve_chat(call.params.get("chat_id"))
        self._check_not_blocked(call.bot, chat)
        return True

    # ------------------------------------------------------------------ methods: editing

    def _editable(self, call: _Call) -> tuple[FakeChat, JSON, SentMessage | None]:
        params = call.params
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the fake Bot API")
        chat = self._resolve_chat(params.get("chat_id"))
        self._check_not_blocked(call.bot, chat)
        message_id = _as_int(params.get("message_id"), "message_id")
        entry = self._messages.get((call.bot.token, chat.id, message_id))
        if entry is None:
            raise _bad("message to edit not found")
        message, sent = entry
        sender = message.get("from", {})
        if sender.get("id") != call.bot.id and "sender_chat" not in message:
            raise _bad("message can't be edited")
        return chat, message, sent

    @staticmethod
    def _not_modified() -> _APIError:
        return _bad(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _commit_edit(
        self,
        message: JSON,
        sent: SentMessage | None,
        call: _Call,
        changes: JSON,
        markup: JSON | None,
        raw_text: str | None,
        text_key: str | None,
    ) -> JSON:
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        current = {k: message.get(k) for k in changes} | {
            "reply_markup": message.get("reply_markup")
        }
        proposed = dict(changes) | {"reply_markup": new_markup}
        if current == proposed:
            raise self._not_modified()
        for key, value in changes.items():
            if value in (None, []):
                message.pop(key, None)
            else:
                message[key] = value
        if new_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = new_markup
        message["edit_date"] = self._date()
        if sent is not None:
            sent.edits.append({"method": call.method, **call.params})
            sent.reply_markup = markup
            if text_key is not None:
                sent.text = raw_text
                sent.parse_mode = call.params.get("parse_mode")
        return message

    async def _m_edit_message_text(self, call: _Call) -> Any:
        _, message, sent = self._editable(call)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        raw = call.params.get("text")
        if raw is None or str(raw) == "":
            raise _bad("message text is empty")
        text, entities = self._render(
            str(raw), call.params.get("parse_mode"), call.params.get("entities")
        )
        if not text.strip():
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("message is too long")
        markup = self._validate_markup(call.params.get("reply_markup"))
        changes = {"text": text, "entities": entities or None}
        return self._commit_edit(message, sent, call, changes, markup, str(raw), "text")

    async def _m_edit_message_caption(self, call: _Call) -> Any:
        _, message, sent = self._editable(call)
        if not any(kind in message for kind in _MEDIA_KINDS):
            raise _bad("there is no caption in the message to edit")
        raw, caption, entities = self._caption(call.params)
        markup = self._validate_markup(call.params.get("reply_markup"))
        changes = {"caption": caption, "caption_entities": entities or None}
        return self._commit_edit(message, sent, call, changes, markup, raw, "caption")

    async def _m_edit_message_reply_markup(self, call: _Call) -> Any:
        _, message, sent = self._editable(call)
        markup = self._validate_markup(call.params.get("reply_markup"))
        return self._commit_edit(message, sent, call, {}, markup, None, None)

    async def _m_delete_message(self, call: _Call) -> Any:
        chat = self._resolve_chat(call.params.get("chat_id"))
        message_id = _as_int(call.params.get("message_id"), "message_id")
        entry = self._messages.pop((call.bot.token, chat.id, message_id), None)
        if entry is None:
            raise _bad("message to delete not found")
        if entry[1] is not None:
            entry[1].deleted = True
        return True

    async def _m_delete_messages(self, call: _Call) -> Any:
        chat = self._resolve_chat(call.params.get("chat_id"))
        ids = call.params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            entry = self._messages.pop((call.bot.token, chat.id, _as_int(message_id, "id")), None)
            if entry is not None and entry[1] is not None:
                entry[1].deleted = True
        return True

    async def _m_answer_callback_query(self, call: _Call) -> Any:
        params = call.params
        query_id = str(params.get("callback_query_id") or "")
        if self._pending_callbacks.get(query_id) != call.bot.token:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        del self._pending_callbacks[query_id]
        cache_time = params.get("cache_time")
        self.callback_answers.append(
            CallbackAnswer(
                bot_token=call.bot.token,
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=_as_bool(params.get("show_alert", False)),
                url=params.get("url"),
                cache_time=None if cache_time is None else _as_int(cache_time, "cache_time"),
            )
        )
        return True

    # ------------------------------------------------------------------ methods: chats & links

    def _group_chat(self, call: _Call) -> FakeChat:
        chat = self._resolve_chat(call.params.get("chat_id"))
        if chat.type == "private":
            raise _bad("chat not found")
        return chat

    def _lookup_link(self, link: InviteLink | str | None) -> InviteLink | None:
        if link is None or isinstance(link, InviteLink):
            return link
        found = self.invite_links.get(link)
        if found is None:
            raise ValueError(f"unknown invite link {link!r}")
        return found

    def _check_link_usable(self, link: InviteLink) -> None:
        if link.is_revoked:
            raise ValueError("invite link was revoked")
        if link.expire_date is not None and link.expire_date <= self._date():
            raise ValueError("invite link has expired")
        if link.member_limit is not None and len(link.joined) >= link.member_limit:
            raise ValueError("invite link member limit reached")

    def _link_options(self, params: JSON, link: InviteLink) -> None:
        name = params.get("name")
        if name is not None:
            if len(str(name)) > 32:
                raise _bad("invite link name is too long")
            link.name = str(name) or None
        if params.get("expire_date") is not None:
            link.expire_date = _as_int(params["expire_date"], "expire_date")
        if params.get("creates_join_request") is not None:
            link.creates_join_request = _as_bool(params["creates_join_request"])
        if params.get("member_limit") is not None:
            limit = _as_int(params["member_limit"], "member_limit")
            if not 1 <= limit <= 99999:
                raise _bad("member limit must be between 1 and 99999")
            link.member_limit = limit
        if link.creates_join_request and link.member_limit is not None:
            raise _bad("member limit can't be specified for links requiring administrator approval")

    async def _m_create_chat_invite_link(self, call: _Call) -> Any:
        chat = self._group_chat(call)
        link = InviteLink(
            bot_token=call.bot.token,
            chat_id=chat.id,
            invite_link=f"https://t.me/+{secrets.token_urlsafe(12)}",
            creator=call.bot.to_user_dict(),
        )
        self._link_options(call.params, link)
        self.invite_links[link.invite_link] = link
        return link.to_dict()

    def _own_link(self, call: _Call, chat: FakeChat) -> InviteLink:
        link = self.invite_links.get(str(call.params.get("invite_link") or ""))
        if link is None or link.chat_id != chat.id:
            raise _bad("INVITE_HASH_EXPIRED")
        return link

    async def _m_edit_chat_invite_link(self, call: _Call) -> Any:
        chat = self._group_chat(call)
        link = self._own_link(call, chat)
        if "member_limit" not in call.params and "creates_join_request" in call.params:
            link.member_limit = None
        self._link_options(call.params, link)
        return link.to_dict()

    async def _m_revoke_chat_invite_link(self, call: _Call) -> Any:
        chat = self._group_chat(call)
        link = self._own_link(call, chat)
        link.is_revoked = True
        return link.to_dict()

    def _set_member(
        self, chat: FakeChat, user: FakeUser, status: str, link: InviteLink | None
    ) -> None:
        old = self._members.get((chat.id, user.id), "left")
        self._members[(chat.id, user.id)] = status
        tokens = {link.bot_token} if link is not None else set()
        tokens |= {t for (t, c) in self._message_counters if c == chat.id}
        for token in sorted(tokens):
            update: JSON = {
                "chat": chat.to_dict(),
                "from": user.to_dict(),
                "date": self._date(),
                "old_chat_member": self._member_dict(old, user.to_dict()),
                "new_chat_member": self._member_dict(status, user.to_dict()),
            }
            if link is not None:
                update["invite_link"] = link.to_dict()
            self.push_update(token, {"chat_member": update})

    async def _resolve_join(self, call: _Call, approve: bool) -> Any:
        chat = self._group_chat(call)
        user_id = _as_int(call.params.get("user_id"), "user_id")
        pending = self._join_requests.get((chat.id, user_id))
        if pending is None or call.bot.token not in pending[0]:
            raise _bad("HIDE_REQUESTER_MISSING")
        del self._join_requests[(chat.id, user_id)]
        link = pending[1]
        if link is not None and user_id in link.pending:
            link.pending.remove(user_id)
        if approve:
            if link is not None:
                link.joined.append(user_id)
            self._set_member(chat, self.user(user_id), "member", link)
        return True

    async def _m_approve_join_request(self, call: _Call) -> Any:
        return await self._resolve_join(call, approve=True)

    async def _m_decline_join_request(self, call: _Call) -> Any:
        return await self._resolve_join(call, approve=False)

    async def _m_ban_chat_member(self, call: _Call) -> Any:
        chat = self._group_chat(call)
        user = self.user(_as_int(call.params.get("user_id"), "user_id"))
        self._members[(chat.id, user.id)] = "kicked"
        return True

    async def _m_unban_chat_member(self, call: _Call) -> Any:
        chat = self._group_chat(call)
        user = self.user(_as_int(call.params.get("user_id"), "user_id"))
        status = self._members.get((chat.id, user.id), "left")
        only_if_banned = _as_bool(call.params.get("only_if_banned", False))
        if status == "kicked" or (not only_if_banned and status in ("member", "restricted")):
            self._members[(chat.id, user.id)] = "left"
        return True

    async def _m_get_chat(self, call: _Call) -> Any:
        chat = self._resolve_chat(call.params.get("chat_id"))
        return {
            **chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    @staticmethod
    def _member_dict(status: str, user: JSON) -> JSON:
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = {
                name: True
                for name in (
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_send_welcome_messages",
                )
            }
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                **rights,
            }
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        if status == "restricted":
            perms = {
                name: False
                for name in (
                    "is_member",
                    "can_send_messages",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_manage_topics",
                    "can_edit_tag",
                )
            }
            return {"status": "restricted", "user": user, "until_date": 0, **perms}
        if status in ("member", "left"):
            return {"status": status, "user": user}
        raise ValueError(f"unknown member status {status!r}")

    async def _m_get_chat_member(self, call: _Call) -> Any:
        chat = self._resolve_chat(call.params.get("chat_id"))
        user_id = _as_int(call.params.get("user_id"), "user_id")
        if user_id == call.bot.id:
            status = "member" if chat.type == "private" else "administrator"
            return self._member_dict(status, call.bot.to_user_dict())
        if chat.type == "private" and user_id != chat.id:
            raise _bad("user not found")
        user = self.user(user_id)
        default = "member" if chat.type == "private" else "left"
        return self._member_dict(self._members.get((chat.id, user_id), default), user.to_dict())

    def _push_my_chat_member(self, bot: FakeBot, user: FakeUser, old: str, new: str) -> JSON:
        chat = self._private_chat(user)
        update = {
            "chat": chat.to_dict(),
            "from": user.to_dict(),
            "date": self._date(),
            "old_chat_member": self._member_dict(old, bot.to_user_dict()),
            "new_chat_member": self._member_dict(new, bot.to_user_dict()),
        }
        return self.push_update(bot, {"my_chat_member": update})

    def _auto_unblock(self, bot: FakeBot, user: FakeUser) -> None:
        """Writing to a bot you blocked means pressing "Restart": Telegram unblocks first."""
        if user.id in bot.blocked_by:
            self.user_unblocks_bot(bot, user)

    # ------------------------------------------------------------------ methods: commands, files

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _m_set_my_commands(self, call: _Call) -> Any:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(
                r"[a-z0-9_]{1,32}", str(command.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        call.bot.commands[self._commands_key(call.params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _m_get_my_commands(self, call: _Call) -> Any:
        return call.bot.commands.get(self._commands_key(call.params), [])

    async def _m_delete_my_commands(self, call: _Call) -> Any:
        call.bot.commands.pop(self._commands_key(call.params), None)
        return True

    async def _m_get_file(self, call: _Call) -> Any:
        record = self._files.get(str(call.params.get("file_id") or ""))
        if record is None:
            raise _bad("invalid file_id")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": record.path,
        }
