"""TelegramBotConnector against the fake Bot API server, with real aiogram underneath."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from connectors.base import (
    ConnectorError,
    ConnectorState,
    InlineButton,
    Media,
    MediaKind,
    OutgoingMessage,
    SendErrorKind,
)
from connectors.telegram_bot import (
    SECRET_HEADER,
    TelegramBotConfig,
    TelegramBotConnector,
    UpdateMode,
)
from engine.events import (
    ButtonPress,
    ChannelKind,
    ChannelRef,
    ChatMemberChange,
    ContactMessage,
    Event,
    JoinRequest,
    MemberChange,
    PersonalLinkArrival,
    Start,
)
from tests.fakes import FakeBot, FakeTelegramBotAPI, Fault

TOKEN = "7000000123:AAHsecretSECRETsecret_0123456789abcd"


class RecordingSink:
    """The engine boundary: records events; fails for chosen update ids."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_update_ids: set[int] = set()
        self.attempts: list[int | None] = []

    async def submit(self, event: Event) -> None:
        self.attempts.append(event.update_id)
        if event.update_id in self.fail_update_ids:
            raise RuntimeError("database is locked")
        self.events.append(event)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramBotAPI]:
    async with FakeTelegramBotAPI(rate_limits=False) as server:
        yield server


@pytest.fixture
def tg_bot(fake: FakeTelegramBotAPI) -> FakeBot:
    return fake.add_bot(TOKEN, username="funnel_bot")


def make(
    fake: FakeTelegramBotAPI, bot: FakeBot, *, api_base: str | None = None, **kw: Any
) -> TelegramBotConnector:
    channel = ChannelRef(
        project="demo", kind=ChannelKind.BOT, channel_id=str(bot.id), name=bot.username
    )
    options: dict[str, Any] = {
        "poll_timeout": 5,
        "send_timeout": 2.0,
        "retry_min": 0.02,
        "retry_max": 0.1,
        "stop_grace": 2.0,
        **kw,
    }
    config = TelegramBotConfig(
        token=bot.token,
        username=bot.username,
        channel=channel,
        api_base=api_base or fake.base_url,
        **options,
    )
    return TelegramBotConnector(config)


@pytest.fixture
async def conn(fake: FakeTelegramBotAPI, tg_bot: FakeBot) -> AsyncIterator[TelegramBotConnector]:
    connector = make(fake, tg_bot)
    yield connector
    await connector.stop()


def msg(conn: TelegramBotConnector, chat_id: int, key: str = "k1", **kw: Any) -> OutgoingMessage:
    kw.setdefault("text", "Hello <b>there</b>")
    return OutgoingMessage(channel=conn.channel, chat_id=chat_id, idempotency_key=key, **kw)


async def until(predicate: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# --- receiving -----------------------------------------------------------------------------


async def test_updates_arrive_as_engine_events(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    sink = RecordingSink()
    await conn.start(sink)
    user = fake.add_user(501, "Ann", username="ann")
    fake.user_sends_start(tg_bot, user, "ads_vk-1")
    fake.user_sends_start(tg_bot, user, "pl-tok_42")
    fake.user_sends_text(tg_bot, user, "how much?")
    group = fake.add_chat(type="supergroup")
    fake.push_update(
        tg_bot,
        {
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": group.to_dict(),
                "from": user.to_dict(),
                "text": "group chatter",
            }
        },
    )
    fake.user_blocks_bot(tg_bot, user)
    fake.user_unblocks_bot(tg_bot, user)
    await until(lambda: len(sink.events) == 5)
    start, arrival, text, blocked, unblocked = sink.events
    assert isinstance(start, Start) and start.payload == "ads_vk-1"
    assert start.contact.user_id == 501 and start.contact.username == "ann"
    assert start.channel == conn.channel and start.update_id is not None
    assert isinstance(arrival, PersonalLinkArrival) and arrival.token == "tok_42"
    assert isinstance(text, ContactMessage) and text.text == "how much?"
    assert isinstance(blocked, ChatMemberChange) and blocked.change is MemberChange.BLOCKED
    assert isinstance(unblocked, ChatMemberChange) and unblocked.change is MemberChange.UNBLOCKED
    assert blocked.chat_id is None
    await fake.wait_until_delivered(tg_bot)
    health = conn.health()
    assert health.state is ConnectorState.RUNNING and health.last_event_at is not None


async def test_button_press_is_an_event_and_answered(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    sink = RecordingSink()
    await conn.start(sink)
    fake.user_sends_start(tg_bot, 502)
    await until(lambda: len(sink.events) == 1)
    button = InlineButton(text="Buy", callback_data="buy:1")
    sent = await conn.send(msg(conn, 502, inline_buttons=((button,),)))
    assert sent.ok and sent.message_id is not None
    fake.user_presses_button(tg_bot, 502, sent.message_id, "buy:1")
    await until(lambda: len(sink.events) == 2)
    press = sink.events[1]
    assert isinstance(press, ButtonPress)
    assert press.callback_data == "buy:1" and press.message_id == sent.message_id
    await until(lambda: len(fake.callback_answers) == 1)
    assert fake.callback_answers[0].callback_query_id == press.callback_query_id
    await conn.answer_button(press.callback_query_id, "late")  # no second answer, no error
    assert len(fake.callback_answers) == 1


async def test_engine_answer_within_submit_wins(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    class AnsweringSink(RecordingSink):
        async def submit(self, event: Event) -> None:
            await super().submit(event)
            if isinstance(event, ButtonPress):
                await conn.answer_button(event.callback_query_id, "Added to cart")

    sink = AnsweringSink()
    await conn.start(sink)
    fake.user_sends_start(tg_bot, 503)
    sent = await conn.send(
        msg(conn, 503, inline_buttons=((InlineButton(text="A", callback_data="a"),),))
    )
    assert sent.message_id is not None
    fake.user_presses_button(tg_bot, 503, sent.message_id, "a")
    await until(lambda: len(fake.callback_answers) == 1)
    await asyncio.sleep(0.05)
    assert [a.text for a in fake.callback_answers] == ["Added to cart"]


async def test_broken_update_is_skipped_not_fatal(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector, caplog: Any
) -> None:
    sink = RecordingSink()
    await conn.start(sink)
    fake.push_update(tg_bot, {"message": {"message_id": 1}})  # no chat, no date
    fake.push_update(tg_bot, {"callback_query": {"id": "x"}})  # no sender
    fake.push_update(tg_bot, {"poll": {"id": "1"}})  # a kind we do not handle
    fake.user_sends_text(tg_bot, 504, "still alive")
    await until(lambda: len(sink.events) == 1)
    assert isinstance(sink.events[0], ContactMessage)
    await fake.wait_until_delivered(tg_bot)
    assert "skipping broken update" in caplog.text


async def test_personal_links_and_invite_links(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    assert await conn.create_personal_link("abc-1") == "https://t.me/funnel_bot?start=pl-abc-1"
    with pytest.raises(ConnectorError):
        await conn.create_personal_link("x" * 62)  # pl- + 62 > 64
    sink = RecordingSink()
    await conn.start(sink)
    chat = fake.add_chat(type="supergroup", title="Paid club")
    one_person = await conn.create_personal_invite_link("tokA", chat.id)
    stored = fake.invite_links[one_person]
    assert stored.member_limit == 1 and stored.expire_date is not None
    assert conn.token_for_invite_link(one_person) == "tokA"
    fake.user_joins_via_link(chat, 601, one_person)
    with pytest.raises(ValueError):
        fake.user_joins_via_link(chat, 602, one_person)  # one person only
    by_request = await conn.create_personal_invite_link("tokB", chat.id, join_request=True)
    fake.user_requests_join(chat, 603, by_request)
    await until(lambda: len(sink.events) == 2)
    joined, request = sink.events
    assert isinstance(joined, ChatMemberChange) and joined.change is MemberChange.JOINED
    assert joined.contact.user_id == 601 and joined.chat_id == chat.id
    assert isinstance(request, JoinRequest) and request.invite_link == by_request
    assert conn.token_for_invite_link(request.invite_link or "") == "tokB"
    assert await conn.approve_join_request(chat.id, 603)
    assert fake.is_member(chat, 603)


# --- offsets: nothing lost ------------------------------------------------------------------


async def test_failed_submit_is_redelivered_after_restart(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot
) -> None:
    first = make(fake, tg_bot)
    sink = RecordingSink()
    ok = fake.user_sends_text(tg_bot, 701, "one")
    failing = fake.user_sends_text(tg_bot, 701, "two")
    after = fake.user_sends_text(tg_bot, 701, "three")
    other = fake.user_sends_text(tg_bot, 702, "other contact")
    sink.fail_update_ids.add(failing["update_id"])
    await first.start(sink)
    await until(lambda: sink.attempts.count(failing["update_id"]) >= 2)  # retried in place
    await first.stop()
    assert [e.update_id for e in sink.events if e.contact.user_id == 701] == [ok["update_id"]]
    assert first.health().last_error is not None and "database is locked" in (
        first.health().last_error or ""
    )
    assert after["update_id"] not in sink.attempts  # the same contact waits, in order
    pending = [u["update_id"] for u in fake.pending_updates(tg_bot)]
    assert pending[0] == failing["update_id"] and after["update_id"] in pending

    second = make(fake, tg_bot)
    sink2 = RecordingSink()
    await second.start(sink2)
    await until(lambda: after["update_id"] in [e.update_id for e in sink2.events])
    await fake.wait_until_delivered(tg_bot)
    await second.stop()
    got = [e.update_id for e in sink2.events]
    assert got[0] == failing["update_id"]
    assert ok["update_id"] not in got  # confirmed before the failure, not redelivered
    assert other["update_id"] in [e.update_id for e in sink.events + sink2.events]


async def test_offset_is_confirmed_on_stop(fake: FakeTelegramBotAPI, tg_bot: FakeBot) -> None:
    first = make(fake, tg_bot)
    sink = RecordingSink()
    await first.start(sink)
    fake.user_sends_text(tg_bot, 703, "hello")
    await until(lambda: len(sink.events) == 1)
    await first.stop()
    assert fake.pending_updates(tg_bot) == []


# --- sending ---------------------------------------------------------------------------------


async def test_text_with_inline_keyboard_and_protect_content(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    buttons = (
        (
            InlineButton(text="Yes", callback_data="yes"),
            InlineButton(text="No", callback_data="no"),
        ),
        (InlineButton(text="Site", url="https://example.com/a"),),
    )
    result = await conn.send(
        msg(conn, 801, inline_buttons=buttons, protect_content=True, disable_link_preview=True)
    )
    assert result.ok
    sent = fake.last_sent(tg_bot, 801)
    assert sent.method.lower() == "sendmessage" and sent.message_id == result.message_id
    assert sent.parse_mode == "HTML" and sent.rendered_text == "Hello there"
    assert sent.protect_content is True
    assert sent.callback_data == ["yes", "no"]
    assert sent.buttons[2]["url"] == "https://example.com/a"
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert conn.health().last_send_at is not None


async def test_reply_keyboard_and_removal(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    assert (await conn.send(msg(conn, 802, reply_keyboard=(("A", "B"),)))).ok
    markup = fake.last_sent(tg_bot, 802).reply_markup or {}
    assert markup["keyboard"] == [[{"text": "A"}, {"text": "B"}]]
    assert (await conn.send(msg(conn, 802, "k2", remove_keyboard=True))).ok
    assert (fake.last_sent(tg_bot, 802).reply_markup or {}).get("remove_keyboard") is True


async def test_photo_by_file_id_url_and_upload(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector, tmp_path: Path
) -> None:
    by_id = await conn.send(
        msg(conn, 803, media=(Media(kind=MediaKind.PHOTO, source="AgACAgIAAxkBAAIB"),))
    )
    assert by_id.ok
    sent = fake.last_sent(tg_bot, 803)
    assert sent.method.lower() == "sendphoto" and sent.media[0].source == "file_id"
    assert sent.text == "Hello <b>there</b>"  # caption, HTML

    picture = tmp_path / "offer.jpg"
    picture.write_bytes(b"\xff\xd8\xff fake jpeg")
    media = (Media(kind=MediaKind.PHOTO, source=str(picture)),)
    assert (await conn.send(msg(conn, 803, "k2", media=media))).ok
    upload = fake.last_sent(tg_bot, 803).media[0]
    assert upload.source == "upload" and upload.data == picture.read_bytes()
    assert (await conn.send(msg(conn, 803, "k3", media=media))).ok  # uploaded once
    assert fake.last_sent(tg_bot, 803).media[0].source == "file_id"

    url = (Media(kind=MediaKind.DOCUMENT, source="https://example.com/price.pdf"),)
    assert (await conn.send(msg(conn, 803, "k4", media=url, text=""))).ok
    assert fake.last_sent(tg_bot, 803).media[0].source == "url"

    missing = (Media(kind=MediaKind.PHOTO, source="media/nope.jpg"),)
    result = await conn.send(msg(conn, 803, "k5", media=missing))
    assert result.error is not None and result.error.kind is SendErrorKind.BAD_REQUEST


async def test_long_caption_album_and_partial_retry(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    long_text = "x" * 1500
    button = InlineButton(text="Go", callback_data="go")
    media = (Media(kind=MediaKind.VIDEO, source="BAACAgIAAxkBAAIC"),)
    fake.add_fault("sendMessage", Fault.server_error())  # the text part fails once
    first = await conn.send(
        msg(conn, 804, media=media, text=long_text, inline_buttons=((button,),))
    )
    assert first.error is not None and first.error.kind is SendErrorKind.SERVER_ERROR
    again = await conn.send(
        msg(conn, 804, media=media, text=long_text, inline_buttons=((button,),))
    )
    assert again.ok
    methods = [m.method.lower() for m in fake.sent(tg_bot, 804)]
    assert methods == ["sendvideo", "sendmessage"]  # the video was not sent twice
    assert fake.last_sent(tg_bot, 804).callback_data == ["go"]

    album = tuple(Media(kind=MediaKind.PHOTO, source=f"AgACAgIAAxkBAAI{i}") for i in range(3))
    assert (await conn.send(msg(conn, 805, "album", media=album, text="Three"))).ok
    sent = fake.sent(tg_bot, 805)
    assert len(sent) == 3 and sent[0].media_group_id is not None
    assert sent[0].text == "Three"


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind", "detail"),
    [
        (Fault.too_many_requests(7), SendErrorKind.RETRY_AFTER, "Retry in 7 seconds"),
        (Fault.forbidden(), SendErrorKind.BLOCKED, "blocked by the user"),
        (Fault.bad_request("chat not found"), SendErrorKind.BAD_REQUEST, "chat not found"),
        (Fault.server_error(), SendErrorKind.SERVER_ERROR, "Internal Server Error"),
        (Fault.server_error(502), SendErrorKind.SERVER_ERROR, "Bad Gateway"),
    ],
)
async def test_api_errors_become_send_results(
    fake: FakeTelegramBotAPI,
    tg_bot: FakeBot,
    conn: TelegramBotConnector,
    fault: Fault,
    kind: SendErrorKind,
    detail: str,
) -> None:
    fake.add_fault("sendMessage", fault)
    result = await conn.send(msg(conn, 901))
    assert not result.ok and result.error is not None
    assert result.error.kind is kind and detail in result.error.description
    assert not result.error.maybe_delivered
    if kind is SendErrorKind.RETRY_AFTER:
        assert result.error.retry_after == 7.0
    assert (await conn.send(msg(conn, 901, "k2"))).ok  # next send goes through


async def test_real_block_is_reported(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    fake.user_blocks_bot(tg_bot, 902)
    result = await conn.send(msg(conn, 902))
    assert result.error is not None and result.error.kind is SendErrorKind.BLOCKED


async def test_dropped_connection_may_have_delivered(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, conn: TelegramBotConnector
) -> None:
    fake.add_fault("sendMessage", Fault.drop())
    result = await conn.send(msg(conn, 903))
    assert result.error is not None and result.error.kind is SendErrorKind.NETWORK
    assert result.error.maybe_delivered


async def test_slow_reply_times_out_as_maybe_delivered(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot
) -> None:
    conn = make(fake, tg_bot, send_timeout=0.3)
    try:
        fake.add_fault("sendMessage", Fault.slow(1.0))
        result = await conn.send(msg(conn, 904))
        assert result.error is not None and result.error.kind is SendErrorKind.NETWORK
        assert result.error.maybe_delivered  # and indeed the fake delivers it later:
        await fake.wait_for_sent(1, tg_bot, 904)
    finally:
        await conn.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_was_not_delivered(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot
) -> None:
    conn = make(fake, tg_bot, api_base=f"http://127.0.0.1:{_closed_port()}")
    try:
        result = await conn.send(msg(conn, 905))
        assert result.error is not None and result.error.kind is SendErrorKind.NETWORK
        assert not result.error.maybe_delivered
    finally:
        await conn.stop()


async def test_revoked_token_is_unauthorized(fake: FakeTelegramBotAPI, tg_bot: FakeBot) -> None:
    conn = make(fake, tg_bot)
    del fake.bots[tg_bot.token]  # Telegram now answers 401
    try:
        result = await conn.send(msg(conn, 906))
        assert result.error is not None and result.error.kind is SendErrorKind.UNAUTHORIZED
        assert conn.health().state is ConnectorState.UNAUTHORIZED
    finally:
        await conn.stop()


async def test_token_never_logged_or_reported(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = TOKEN.partition(":")[2]
    texts: list[str] = []
    conn = make(fake, tg_bot, send_timeout=0.3)
    sink = RecordingSink()
    fake.add_fault("getUpdates", Fault.server_error(), times=2)
    await conn.start(sink)
    failing = fake.user_sends_text(tg_bot, 907, "hi")
    sink.fail_update_ids.add(failing["update_id"])
    await until(lambda: len(sink.attempts) >= 2)
    for fault in (
        Fault.too_many_requests(3),
        Fault.forbidden(),
        Fault.bad_request(),
        Fault.server_error(),
        Fault.drop(),
        Fault.slow(1.0),
    ):
        fake.add_fault("sendMessage", fault)
        result = await conn.send(msg(conn, 907))
        assert result.error is not None
        texts.append(result.error.model_dump_json())
    texts.append(repr(conn))
    texts.append(repr(conn._config))
    texts.append(str(conn.health().model_dump()))
    await conn.stop()
    bad = make(fake, tg_bot, api_base=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ConnectorError) as info:
        await bad.create_personal_invite_link("t", -100123)
    texts.append(str(info.value))
    texts.append((await bad.send(msg(bad, 907))).model_dump_json())
    await bad.stop()
    del fake.bots[tg_bot.token]
    revoked = make(fake, tg_bot)
    await revoked.start(RecordingSink())
    await until(lambda: revoked.health().state is ConnectorState.UNAUTHORIZED)
    texts.append(str(revoked.health().model_dump()))
    await revoked.stop()
    # aiohttp.server records are the fake Telegram's own (it knows the token); ours are the rest.
    ours = [r for r in caplog.records if not r.name.startswith("aiohttp.server")]
    logged = "\n".join(caplog.handler.format(r) for r in ours)
    everything = logged + "\n".join(texts)
    assert "getUpdates" in logged  # the polling failures were logged
    assert TOKEN not in everything and secret not in everything


# --- webhook -----------------------------------------------------------------------------------


async def test_webhook_mode_delivers_and_checks_secret(
    fake: FakeTelegramBotAPI, tg_bot: FakeBot
) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/tg"
    conn = make(
        fake, tg_bot, mode=UpdateMode.WEBHOOK, webhook_url=url, webhook_secret="s3cret-Value_1"
    )
    runner = web.AppRunner(conn.webhook_app("/tg"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sink = RecordingSink()
    try:
        await conn.start(sink)
        assert tg_bot.webhook_url == url and tg_bot.webhook_secret == "s3cret-Value_1"
        fake.user_sends_start(tg_bot, 1001, "pl-web")
        await until(lambda: len(sink.events) == 1)
        assert isinstance(sink.events[0], PersonalLinkArrival)

        # The sink fails once: 500, Telegram (the fake) retries, nothing is lost.
        update = fake.user_sends_text(tg_bot, 1001, "retry me")
        sink.fail_update_ids.add(update["update_id"])
        await until(lambda: sink.attempts.count(update["update_id"]) >= 1)
        sink.fail_update_ids.clear()
        await until(lambda: len(sink.events) == 2)
        assert isinstance(sink.events[1], ContactMessage)
        await fake.wait_until_delivered(tg_bot)

        async with ClientSession() as client:
            for headers in ({SECRET_HEADER: "wrong"}, {}):
                async with client.post(url, json=update, headers=headers) as response:
                    assert response.status == 403
        assert len(sink.events) == 2
    finally:
        await conn.stop()
        await runner.cleanup()
