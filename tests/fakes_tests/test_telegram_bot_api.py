"""Real aiogram against the fake Telegram Bot API."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    ChatJoinRequest,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram_bot_api import (
    FakeClock,
    FakeTelegramBotAPI,
    Fault,
    RateLimits,
)
from tests.fakes.telegram_html import parse_html
from tests.fakes_tests.conftest import MakeBot, close_quickly

TOKEN = "123456:AAtest-token"
OTHER = "654321:BBother-token"


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs]
    )


# ------------------------------------------------------------------------------ basics


async def test_get_me_per_bot(fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot) -> None:
    fake_telegram.add_bot(TOKEN, username="funnel_bot", first_name="Funnel")
    fake_telegram.add_bot(OTHER, username="other_bot")
    me = await make_bot(TOKEN).get_me()
    other = await make_bot(OTHER).get_me()
    assert (me.id, me.username, me.first_name, me.is_bot) == (123456, "funnel_bot", "Funnel", True)
    assert (other.id, other.username) == (654321, "other_bot")
    assert [r.method for r in fake_telegram.requests(TOKEN)] == ["getMe"]


async def test_unknown_token_is_unauthorized(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
        await make_bot("999:nope").get_me()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake_telegram.base_url}/bot999:nope/getMe") as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


async def test_unknown_method_is_not_found_and_json_bodies_work(
    fake_telegram: FakeTelegramBotAPI,
) -> None:
    fake_telegram.add_bot(TOKEN)
    async with aiohttp.ClientSession() as http:
        url = f"{fake_telegram.base_url}/bot{TOKEN}"
        async with http.post(f"{url}/frobnicate", json={}) as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
        async with http.post(f"{url}/sendMessage", json={"chat_id": 5, "text": "123"}) as resp:
            body = await resp.json()
            assert body["ok"] and body["result"]["text"] == "123"
        async with http.get(f"{url}/getme") as resp:  # GET and any case, like Telegram
            assert (await resp.json())["result"]["id"] == 123456


# ------------------------------------------------------------------------------ sending


async def test_send_text_with_keyboard_and_protect_content_is_recorded(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    user = fake_telegram.add_user(42, "Anna", username="anna")
    bot = make_bot(TOKEN)
    first = await bot.send_message(
        user.id,
        "<b>Привет</b>, Anna!",
        parse_mode="HTML",
        protect_content=True,
        reply_markup=keyboard(("Go", "step:2")),
    )
    second = await bot.send_message(user.id, "plain 123")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Привет, Anna!"
    assert first.entities is not None and first.entities[0].type == "bold"
    assert first.has_protected_content is True
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "step:2"
    assert first.from_user is not None and first.from_user.id == 123456
    assert first.chat.type == "private" and first.chat.first_name == "Anna"

    sent = fake_telegram.sent(TOKEN, 42)
    assert [m.text for m in sent] == ["<b>Привет</b>, Anna!", "plain 123"]
    record = sent[0]
    assert record.method == "sendMessage" and record.chat_id == 42
    assert record.parse_mode == "HTML" and record.protect_content
    assert record.callback_data == ["step:2"]
    assert record.rendered_text == "Привет, Anna!"
    assert sent[1].protect_content is False and sent[1].reply_markup is None
    assert fake_telegram.sent(TOKEN, 43) == [] and fake_telegram.sent(OTHER) == []


async def test_send_photo_upload_file_id_and_url(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    uploaded = await bot.send_photo(
        7,
        BufferedInputFile(b"\x89PNG fake", filename="cat.png"),
        caption="<i>cat</i>",
        parse_mode="HTML",
        protect_content=True,
        reply_markup=keyboard(("More", "more")),
    )
    assert uploaded.photo is not None
    file_id = uploaded.photo[-1].file_id
    assert uploaded.caption == "cat" and uploaded.has_protected_content
    again = await bot.send_photo(7, file_id)
    assert again.photo is not None and again.photo[-1].file_id == file_id
    by_url = await bot.send_video(7, "https://example.com/v.mp4")
    assert by_url.video is not None

    first, second, third = fake_telegram.sent(TOKEN, 7)
    assert first.media[0].source == "upload" and first.media[0].data == b"\x89PNG fake"
    assert first.media[0].filename == "cat.png" and first.text == "<i>cat</i>"
    assert first.protect_content and first.callback_data == ["more"]
    assert fake_telegram.requests(TOKEN, "sendPhoto")[0].content_type == "multipart/form-data"
    assert second.media[0].source == "file_id" and second.media[0].file_id == file_id
    assert third.method == "sendVideo" and third.media[0].url == "https://example.com/v.mp4"
    downloaded = await bot.download(file_id)
    assert downloaded is not None and downloaded.read() == b"\x89PNG fake"


async def test_media_group(fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot) -> None:
    fake_telegram.add_bot(TOKEN)
    messages = await make_bot(TOKEN).send_media_group(
        9,
        [
            InputMediaPhoto(media=BufferedInputFile(b"a", "a.jpg"), caption="one"),
            InputMediaPhoto(media="https://example.com/b.jpg"),
        ],
    )
    assert [m.message_id for m in messages] == [1, 2]
    assert messages[0].media_group_id == messages[1].media_group_id is not None
    assert [m.text for m in fake_telegram.sent(TOKEN, 9)] == ["one", None]


async def test_html_validation(fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>bold <i>both</b></i>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>never closed", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "div"'):
        await bot.send_message(1, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, "<b></b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1, "x", reply_markup=keyboard(("x", "d" * 65)))
    assert fake_telegram.sent() == []
    ok = await bot.send_message(1, "<a>a &lt; b</a>", parse_mode="HTML")  # no href: plain text
    assert ok.text == "a < b"


def test_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html(
        '😀 <b>hi</b> <a href="https://x.io">l</a> <pre><code class="language-py">x=1</code></pre>'
    )
    assert text == "😀 hi l x=1"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "text_link", "offset": 6, "length": 1, "url": "https://x.io"},
        {"type": "pre", "offset": 8, "length": 3, "language": "py"},
    ]


async def test_edit_and_delete(fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    msg = await bot.send_message(5, "v1", reply_markup=keyboard(("a", "a")))
    edited = await bot.edit_message_text(
        text="v2", chat_id=5, message_id=msg.message_id, reply_markup=keyboard(("b", "b"))
    )
    assert isinstance(edited, Message) and edited.text == "v2" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="v2", chat_id=5, message_id=msg.message_id, reply_markup=keyboard(("b", "b"))
        )
    await bot.edit_message_reply_markup(chat_id=5, message_id=msg.message_id)
    record = fake_telegram.last_sent(TOKEN, 5)
    assert record.text == "v2" and record.reply_markup is None and len(record.edits) == 2
    assert "reply_markup" not in record.message
    assert await bot.delete_message(5, msg.message_id) is True
    assert record.deleted and fake_telegram.sent(TOKEN, 5, include_deleted=False) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(5, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=5, message_id=99)


# ------------------------------------------------------------------------------ updates


async def test_get_updates_offset_limit_timeout_and_allowed_updates(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    u1 = fake_telegram.user_sends_text(TOKEN, 1, "one")
    u2 = fake_telegram.user_sends_text(TOKEN, 2, "two")
    u3 = fake_telegram.user_sends_start(TOKEN, 3, payload="ref42")
    assert u2["update_id"] == u1["update_id"] + 1
    assert u3["message"]["from"]["language_code"] == "ru"
    assert [u.update_id for u in await bot.get_updates()] == [
        u1["update_id"],
        u2["update_id"],
        u3["update_id"],
    ]
    # Not confirmed yet: same updates again; limit applies.
    assert len(await bot.get_updates(limit=1)) == 1
    # offset confirms everything below it.
    rest = await bot.get_updates(offset=u2["update_id"])
    assert [u.update_id for u in rest] == [u2["update_id"], u3["update_id"]]
    assert rest[1].message is not None and rest[1].message.text == "/start ref42"
    assert len(fake_telegram.pending_updates(TOKEN)) == 2
    assert await bot.get_updates(offset=u3["update_id"] + 1, timeout=0) == []
    assert fake_telegram.pending_updates(TOKEN) == []

    # Long poll: returns as soon as an update arrives, not after the timeout.
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, fake_telegram.user_sends_text, TOKEN, 1, "late")
    started = loop.time()
    got = await bot.get_updates(timeout=5)
    assert loop.time() - started < 2
    assert got[0].message is not None and got[0].message.text == "late"

    # allowed_updates filters (and is remembered like Telegram does).
    fake_telegram.user_presses_button(TOKEN, 1, message_id=1, data="x")
    fake_telegram.user_sends_text(TOKEN, 1, "kept")
    only_messages = await bot.get_updates(offset=got[0].update_id + 1, allowed_updates=["message"])
    assert [u.message.text for u in only_messages if u.message] == ["kept"]
    assert len(only_messages) == 1


async def test_dispatcher_polling_handles_message_and_callback(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN, username="funnel_bot")
    user = fake_telegram.add_user(77, "Ivan", username="ivan", language_code="en")
    bot = make_bot(TOKEN)
    router = Router()
    seen: list[str] = []

    @router.message(CommandStart())
    async def on_start(message: Message, command: CommandObject) -> None:
        seen.append(f"start:{command.args}")
        await message.answer("Choose", reply_markup=keyboard(("Yes", "yes")))

    @router.callback_query(F.data == "yes")
    async def on_yes(query: CallbackQuery) -> None:
        seen.append(f"cb:{query.from_user.language_code}")
        await query.answer("ok")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Chosen: yes")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    try:
        fake_telegram.user_sends_start(TOKEN, user, payload="promo")
        [choose] = await fake_telegram.wait_for_sent(1, TOKEN, user)
        fake_telegram.user_presses_button(TOKEN, user, choose.message_id, "yes")
        await fake_telegram.wait_for(lambda: choose.text == "Chosen: yes")
        await fake_telegram.wait_until_delivered(TOKEN)
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)
    assert seen == ["start:promo", "cb:en"]
    assert [a.text for a in fake_telegram.callback_answers] == ["ok"]
    # The /start message took id 1; editing without reply_markup drops the keyboard (Telegram).
    assert (choose.chat_id, choose.message_id, choose.callback_data) == (77, 2, [])
    assert choose.edits[0]["text"] == "Chosen: yes"
    allowed = fake_telegram.requests(TOKEN, "getUpdates")[0].params["allowed_updates"]
    assert sorted(allowed) == ["callback_query", "message"]


async def test_block_unblock_and_automatic_403(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    await bot.send_message(10, "hi")
    fake_telegram.user_blocks_bot(TOKEN, 10)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(10, "still there?")
    fake_telegram.user_sends_start(TOKEN, 10)  # "Restart": unblocks first
    await bot.send_message(10, "welcome back")
    updates = await bot.get_updates()
    kinds = [u.event_type for u in updates]
    assert kinds == ["my_chat_member", "my_chat_member", "message"]
    blocked = updates[0].my_chat_member
    assert isinstance(blocked, ChatMemberUpdated)
    assert (blocked.old_chat_member.status, blocked.new_chat_member.status) == ("member", "kicked")
    assert blocked.new_chat_member.user.id == 123456


# ------------------------------------------------------------------------------ faults


async def test_faults_map_to_aiogram_errors(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    fake_telegram.add_fault("sendMessage", Fault.too_many_requests(retry_after=7), times=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(1, "x")
        assert retry.value.retry_after == 7
    await bot.send_message(1, "third time lucky")

    fake_telegram.add_fault("sendMessage", Fault.forbidden())
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "x")
    fake_telegram.add_fault("sendMessage", Fault.bad_request("chat not found"))
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(1, "x")
    fake_telegram.add_fault("sendMessage", Fault.server_error(500))
    with pytest.raises(TelegramServerError):
        await bot.send_message(1, "x")
    fake_telegram.add_fault("*", Fault.server_error(502))
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    # Per-chat fault only hits that chat.
    fake_telegram.add_fault("sendMessage", Fault.forbidden(), chat_id=2, times=None)
    await bot.send_message(3, "fine")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(2, "x")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(2, "x")
    fake_telegram.clear_faults()
    await bot.send_message(2, "fine now")
    assert [m.text for m in fake_telegram.sent(TOKEN)] == ["third time lucky", "fine", "fine now"]


async def test_dropped_connection_is_network_error(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    fake_telegram.add_fault("sendMessage", Fault.drop())
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1, "lost")
    assert fake_telegram.sent() == []
    await bot.send_message(1, "delivered")  # the client recovers on a new connection
    assert [m.text for m in fake_telegram.sent()] == ["delivered"]


async def test_slow_reply_past_timeout_is_network_error(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN, timeout=0.1)
    fake_telegram.add_fault("sendMessage", Fault.slow(0.4))
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(1, "slow")
    # Like Telegram, the message still goes out although the client gave up.
    await fake_telegram.wait_for_sent(1, timeout=2)
    fake_telegram.add_fault("getMe", Fault.slow(0.02))
    assert (await bot.get_me()).id == 123456


# ------------------------------------------------------------------------------ rate limits


async def test_global_rate_limit_35_sends_in_one_instant(
    fake_telegram_frozen: FakeTelegramBotAPI,
    fake_telegram_clock: FakeClock,
    make_frozen_bot: MakeBot,
) -> None:
    fake = fake_telegram_frozen
    fake.add_bot(TOKEN)
    bot = make_frozen_bot(TOKEN)
    results = await asyncio.gather(
        *(bot.send_message(1000 + i, "hi") for i in range(35)), return_exceptions=True
    )
    limited = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert len(limited) == 5 and all(r.retry_after >= 1 for r in limited)
    assert len(fake.sent(TOKEN)) == 30
    fake_telegram_clock.advance(1.0)
    await bot.send_message(2000, "after a second")


async def test_private_and_group_rate_limits(
    fake_telegram_frozen: FakeTelegramBotAPI,
    fake_telegram_clock: FakeClock,
    make_frozen_bot: MakeBot,
) -> None:
    fake = fake_telegram_frozen
    fake.rate_limits = RateLimits(per_private_chat_burst=2)
    fake.add_bot(TOKEN)
    bot = make_frozen_bot(TOKEN)
    await bot.send_message(1, "a")
    await bot.send_message(1, "b")
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(1, "c")
    assert retry.value.retry_after == 1
    fake_telegram_clock.advance(1.0)
    await bot.send_message(1, "c")

    group = fake.add_chat(type="supergroup", title="Club")
    for i in range(20):
        await bot.send_message(group.id, f"g{i}")
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(group.id, "one too many")
    assert retry.value.retry_after == 3  # 20/min refills one message every 3 s
    fake_telegram_clock.advance(3.0)
    await bot.send_message(group.id, "ok again")

    fake.rate_limits.enabled = False
    for _ in range(50):
        await bot.send_message(1, "unlimited")


# ------------------------------------------------------------------------------ webhook


async def test_webhook_delivery_with_secret_and_409_for_get_updates(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    received: list[tuple[dict[str, Any], str | None]] = []
    failures_left = [1]

    async def receive(request: web.Request) -> web.Response:
        if failures_left[0]:
            failures_left[0] -= 1
            return web.Response(status=500)
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(TelegramBadRequest, match="bad webhook"):
            await bot.set_webhook("https://example.com/hook")
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        update = fake_telegram.user_sends_text(TOKEN, 5, "via webhook")
        await fake_telegram.wait_until_delivered(TOKEN)
        assert received == [(update, "s3cr3t")]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert info.last_error_message is not None and "500" in info.last_error_message
        assert await bot.delete_webhook()
        fake_telegram.user_sends_text(TOKEN, 5, "polled")
        [polled] = await bot.get_updates()
        assert polled.message is not None and polled.message.text == "polled"
    finally:
        await runner.cleanup()


async def test_webhook_with_aiogram_dispatcher_and_reply_method(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"echo: {message.text}")  # answered in the webhook response

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="tok").register(
        app, path="/wh"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/wh", secret_token="tok")
        fake_telegram.user_sends_text(TOKEN, 8, "ping")
        [reply] = await fake_telegram.wait_for_sent(1, TOKEN, 8)
        assert reply.text == "echo: ping"
        assert fake_telegram.requests(TOKEN, "sendMessage")[0].via == "webhook_reply"
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------ chats


async def test_invite_links_join_requests_and_members(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    channel = fake_telegram.add_chat(type="channel", title="Paid club")
    link = await bot.create_chat_invite_link(channel.id, name="order-1", member_limit=1)
    assert link.member_limit == 1 and link.name == "order-1" and not link.creates_join_request
    assert link.invite_link.startswith("https://t.me/+") and link.creator.id == 123456
    fake_telegram.user_joins_via_link(channel, 501, link.invite_link)
    assert fake_telegram.is_member(channel, 501)
    with pytest.raises(ValueError, match="member limit"):
        fake_telegram.user_joins_via_link(channel, 502, link.invite_link)
    member = await bot.get_chat_member(channel.id, 501)
    assert member.status == "member"
    assert (await bot.get_chat_member(channel.id, 502)).status == "left"
    revoked = await bot.revoke_chat_invite_link(channel.id, link.invite_link)
    assert revoked.is_revoked

    with pytest.raises(TelegramBadRequest):
        await bot.create_chat_invite_link(channel.id, member_limit=1, creates_join_request=True)
    approval = await bot.create_chat_invite_link(channel.id, creates_join_request=True)
    fake_telegram.user_requests_join(channel, 503, approval.invite_link)
    [join] = [u for u in await bot.get_updates(allowed_updates=["chat_join_request"])]
    request = join.chat_join_request
    assert isinstance(request, ChatJoinRequest) and request.from_user.id == 503
    assert request.invite_link is not None
    assert request.invite_link.invite_link == approval.invite_link
    assert await request.approve()
    assert fake_telegram.is_member(channel, 503)
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await bot.approve_chat_join_request(channel.id, 503)


async def test_get_chat_commands_and_callback_answers(
    fake_telegram: FakeTelegramBotAPI, make_bot: MakeBot
) -> None:
    fake_telegram.add_bot(TOKEN)
    bot = make_bot(TOKEN)
    user = fake_telegram.add_user(31, "Olga", username="olga")
    chat = await bot.get_chat(user.id)
    assert (chat.type, chat.first_name, chat.username) == ("private", "Olga", "olga")
    assert await bot.set_my_commands([BotCommand(command="start", description="Begin")])
    assert fake_telegram.commands(TOKEN) == [{"command": "start", "description": "Begin"}]
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    update = fake_telegram.user_presses_button(TOKEN, user, 1, "data")
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, text="done", show_alert=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    [answer] = fake_telegram.callback_answers
    assert (answer.text, answer.show_alert) == ("done", True)


async def test_fake_closes_quickly_with_a_pending_long_poll() -> None:
    fake = FakeTelegramBotAPI()
    await fake.start()
    fake.add_bot(TOKEN)
    bot: Bot = fake.aiogram_bot(TOKEN)
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for(lambda: bool(fake.requests(TOKEN, "getUpdates")))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fake.close()
    assert await asyncio.wait_for(poll, 2) == []
    assert loop.time() - started < 2
    await close_quickly(bot)


async def test_raw_multipart_upload_in_the_field_itself(fake_telegram: FakeTelegramBotAPI) -> None:
    fake_telegram.add_bot(TOKEN)
    form = aiohttp.FormData()
    form.add_field("chat_id", "12")
    form.add_field("caption", "007")  # stays a string, not the number 7
    form.add_field("document", b"%PDF-1.4", filename="offer.pdf")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake_telegram.base_url}/bot{TOKEN}/sendDocument", data=form) as resp,
    ):
        body = await resp.json()
    assert body["ok"], body
    assert body["result"]["document"]["file_name"] == "offer.pdf"
    [sent] = fake_telegram.sent(TOKEN, 12)
    assert sent.text == "007" and sent.media[0].data == b"%PDF-1.4"
