"""ManagerAccountConnector against real Telethon, faked at the MTProto sender (no network)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import telethon
from telethon import TelegramClient, functions, types
from telethon.network.mtprotosender import MTProtoSender

from connectors.base import (
    ConnectorState,
    InlineButton,
    Media,
    MediaKind,
    OutgoingMessage,
    SendErrorKind,
)
from connectors.telegram_user import (
    ApiCredentialsError,
    ManagerAccountConnector,
    SessionInvalidError,
    SessionRevokedError,
    plain_text,
    render_text,
)
from engine.events import ChannelKind, ChannelRef, ContactMessage, Event, ManagerMessage
from tests.fakes.telethon_wire import (
    API_HASH,
    API_ID,
    CLIENT_PRIVATE_ATTRS,
    SENDER_METHODS,
    FakeTelegramAccount,
    make_session_string,
    sender_of,
)

ANNA = 42
BORIS = 43


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def submit(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Event]:
        async def _wait() -> None:
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_wait(), timeout)
        return self.events


async def settle(rounds: int = 30) -> None:
    """Let Telethon's update loop process what was pushed."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def channel(name: str = "maria", channel_id: str = "500") -> ChannelRef:
    return ChannelRef(
        project="ema", kind=ChannelKind.MANAGER_ACCOUNT, channel_id=channel_id, name=name
    )


def make_account(user_id: int = 500) -> FakeTelegramAccount:
    account = FakeTelegramAccount.create(user_id=user_id)
    account.add_user(ANNA, "Анна", "Иванова", "anna_iv")
    account.add_user(BORIS, "Борис")
    account.add_user(93372553, "BotFather", username="BotFather", bot=True)
    account.add_group(700, "Клуб")
    return account


def make_connector(
    account: FakeTelegramAccount, session: str | None = None, **kwargs: Any
) -> ManagerAccountConnector:
    return ManagerAccountConnector(
        channel(channel_id=str(account.me.id)),
        make_session_string() if session is None else session,
        API_ID,
        API_HASH,
        client_factory=account.client_factory(),
        **kwargs,
    )


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refuse)
    yield


@pytest.fixture
def account() -> FakeTelegramAccount:
    return make_account()


@pytest.fixture
async def running(
    account: FakeTelegramAccount,
) -> AsyncIterator[tuple[ManagerAccountConnector, Sink]]:
    connector = make_connector(account)
    sink = Sink()
    await connector.start(sink)
    yield connector, sink
    await connector.stop()


def outgoing(
    text: str = "Привет!", chat_id: int = ANNA, via: ChannelRef | None = None, **kwargs: Any
) -> OutgoingMessage:
    return OutgoingMessage(
        channel=via or channel(), chat_id=chat_id, text=text, idempotency_key=f"k-{text}", **kwargs
    )


# --- the private Telethon hooks this code and its tests rely on ----------------------------


def test_telethon_private_hooks_still_exist() -> None:
    """Telethon is pinned to 1.45.x in pyproject; on an upgrade this names what moved."""
    assert telethon.__version__.startswith("1.45."), telethon.__version__
    client = TelegramClient(telethon.sessions.StringSession(), API_ID, API_HASH)
    for attr in CLIENT_PRIVATE_ATTRS:
        assert hasattr(client, attr), (
            f"TelegramClient lost {attr}: update tests/fakes/telethon_wire"
        )
    assert isinstance(client._sender, MTProtoSender)
    for name in SENDER_METHODS:
        assert hasattr(MTProtoSender, name), f"MTProtoSender lost {name}"
    assert isinstance(client._updates_queue, asyncio.Queue)
    assert client._sender._updates_queue is client._updates_queue
    # the connector reads why the update loop stopped (health after a revoked session)
    assert "_updates_error" in TelegramClient._update_loop.__code__.co_names


# --- receiving --------------------------------------------------------------------------


async def test_start_connects_through_the_real_client(
    running: Any, account: FakeTelegramAccount
) -> None:
    connector, _ = running
    names = [type(r).__name__ for r in account.requests]
    assert names[0] == "InvokeWithLayerRequest"
    assert "GetStateRequest" in names and "GetUsersRequest" in names
    assert connector.me is not None and connector.me.id == account.me.id
    health = connector.health()
    assert health.state is ConnectorState.RUNNING and health.last_error is None


async def test_manager_code_phrase_from_phone_becomes_manager_message(
    running: Any, account: FakeTelegramAccount
) -> None:
    connector, sink = running
    update = account.manager_writes_elsewhere(ANNA, "оплату за Таро получила")
    [event] = await sink.wait_for(1)
    assert isinstance(event, ManagerMessage)
    assert event.channel == connector.channel
    assert event.text == "оплату за Таро получила"
    assert event.message_id == update.id
    assert event.contact.user_id == ANNA
    assert (event.contact.first_name, event.contact.last_name) == ("Анна", "Иванова")
    assert event.contact.username == "anna_iv"
    assert event.occurred_at.tzinfo is not None
    assert event.dedup_key == f"ema/manager_account/500|manager_message|{ANNA}:{update.id}"
    assert connector.health().last_event_at is not None


async def test_full_form_outgoing_message_uses_users_of_the_update(
    running: Any, account: FakeTelegramAccount
) -> None:
    _, sink = running
    account.manager_writes_full(BORIS, "оплату за курс получила")
    [event] = await sink.wait_for(1)
    assert isinstance(event, ManagerMessage)
    assert event.contact.user_id == BORIS and event.contact.first_name == "Борис"


async def test_contact_message_becomes_contact_message(
    running: Any, account: FakeTelegramAccount
) -> None:
    _, sink = running
    account.contact_writes(ANNA, "расскажи подробнее")
    account.contact_writes(BORIS, "12.03.1990", short=True)
    first, second = await sink.wait_for(2)
    assert isinstance(first, ContactMessage) and isinstance(second, ContactMessage)
    assert first.channel.kind is ChannelKind.MANAGER_ACCOUNT
    assert (first.contact.user_id, first.text) == (ANNA, "расскажи подробнее")
    assert first.contact.language_code == "ru"
    assert (second.contact.user_id, second.text) == (BORIS, "12.03.1990")


async def test_groups_bots_saved_messages_are_skipped(
    running: Any, account: FakeTelegramAccount
) -> None:
    _, sink = running
    account.group_message(700, ANNA, "оплату за Таро получила")
    account.group_message(700, account.me.id, "оплату за Таро получила", out=True)
    account.contact_writes(93372553, "/start")  # a bot writing to the manager
    account.manager_writes_elsewhere(account.me.id, "note to self")  # Saved Messages
    account.contact_writes(ANNA, "после группы")
    await sink.wait_for(1)
    await settle()
    assert [e.text for e in sink.events] == ["после группы"]  # type: ignore[union-attr]


async def test_order_of_one_contacts_messages_is_kept(
    running: Any, account: FakeTelegramAccount
) -> None:
    _, sink = running
    for i in range(10):
        if i % 2:
            account.contact_writes(ANNA, f"m{i}")
        else:
            account.manager_writes_elsewhere(ANNA, f"m{i}")
    events = await sink.wait_for(10)
    assert [e.text for e in events] == [f"m{i}" for i in range(10)]  # type: ignore[union-attr]


# --- sending ----------------------------------------------------------------------------


async def test_send_text_with_html(running: Any, account: FakeTelegramAccount) -> None:
    connector, _ = running
    result = await connector.send(outgoing("<b>Ваш</b> анализ готов", disable_link_preview=True))
    assert result.ok and result.message_id is not None
    [request] = account.sent_messages()
    assert request.message == "Ваш анализ готов"
    assert isinstance(request.entities[0], types.MessageEntityBold)
    assert request.no_webpage is True
    assert isinstance(request.peer, types.InputPeerUser) and request.peer.user_id == ANNA
    assert connector.health().last_send_at is not None


async def test_own_send_is_not_a_manager_message(
    running: Any, account: FakeTelegramAccount
) -> None:
    connector, sink = running
    result = await connector.send(outgoing("оплату за Таро получила"))
    assert result.ok
    account.contact_writes(ANNA, "спасибо")
    [event] = await sink.wait_for(1)
    await settle()
    assert isinstance(event, ContactMessage)
    assert len(sink.events) == 1


async def test_own_send_fetched_again_by_get_difference_is_ignored(
    running: Any, account: FakeTelegramAccount
) -> None:
    """The send's answer is lost (network): Telegram delivered it, the client never saw
    its pts. The next update opens a gap, Telethon fetches the difference — which holds
    our message as an outgoing one — and still no ManagerMessage comes of it."""
    connector, sink = running
    account.fail_next(functions.messages.SendMessageRequest, ConnectionError("lost"), apply=True)
    result = await connector.send(outgoing("оплату за <i>Таро</i> получила"))
    assert not result.ok and result.error is not None
    assert result.error.kind is SendErrorKind.NETWORK and result.error.maybe_delivered
    account.contact_writes(ANNA, "ответ клиента")  # pts gap → getDifference after 0.5 s
    [event] = await sink.wait_for(1)
    await asyncio.sleep(0.1)
    assert account.requests_of(functions.updates.GetDifferenceRequest)[-1].pts < account.pts
    assert isinstance(event, ContactMessage) and event.text == "ответ клиента"
    assert len(sink.events) == 1
    # the manager typing the same words later is a real trigger again
    account.manager_writes_elsewhere(ANNA, "оплату за Таро получила")
    events = await sink.wait_for(2)
    assert isinstance(events[1], ManagerMessage)


async def test_flood_wait_is_retry_after(running: Any, account: FakeTelegramAccount) -> None:
    connector, _ = running
    account.fail_next(functions.messages.SendMessageRequest, (420, "FLOOD_WAIT_37"))
    result = await connector.send(outgoing())
    assert result.error is not None and result.error.kind is SendErrorKind.RETRY_AFTER
    assert result.error.retry_after == 37
    assert result.error.retryable
    # Telethon remembers the wait: the next send fails early without a request
    before = len(account.requests)
    again = await connector.send(outgoing("ещё"))
    assert again.error is not None and again.error.kind is SendErrorKind.RETRY_AFTER
    assert len(account.requests) == before


@pytest.mark.parametrize(
    ("rpc", "kind", "words"),
    [
        ((400, "USER_IS_BLOCKED"), SendErrorKind.BLOCKED, "UserIsBlocked"),
        ((403, "USER_PRIVACY_RESTRICTED"), SendErrorKind.BLOCKED, "privacy"),
        ((400, "INPUT_USER_DEACTIVATED"), SendErrorKind.BLOCKED, "Deactivated"),
        ((400, "PEER_ID_INVALID"), SendErrorKind.BAD_REQUEST, "invalid peer"),
        ((400, "MESSAGE_TOO_LONG"), SendErrorKind.BAD_REQUEST, "too long"),
        ((500, "INTERDC_2_CALL_ERROR"), SendErrorKind.SERVER_ERROR, ""),
        ((401, "AUTH_KEY_UNREGISTERED"), SendErrorKind.UNAUTHORIZED, "log in again"),
    ],
)
async def test_send_errors_map_to_kinds(
    running: Any,
    account: FakeTelegramAccount,
    rpc: tuple[int, str],
    kind: SendErrorKind,
    words: str,
) -> None:
    connector, _ = running
    account.fail_next(functions.messages.SendMessageRequest, rpc)
    result = await connector.send(outgoing())
    assert result.error is not None and result.error.kind is kind
    assert words.lower() in result.error.description.lower()
    assert connector.health().last_error is not None
    if kind is SendErrorKind.UNAUTHORIZED:
        assert connector.health().state is ConnectorState.UNAUTHORIZED


async def test_buttons_become_links_or_are_dropped(
    running: Any, account: FakeTelegramAccount
) -> None:
    connector, _ = running
    message = outgoing(
        "Выберите:",
        inline_buttons=(
            (InlineButton(text="Оплатить", url="https://pay.example/?a=1&b=2"),),
            (InlineButton(text="Позже", callback_data="later"),),
        ),
    )
    assert (
        render_text(message)
        == 'Выберите:\n\n<a href="https://pay.example/?a=1&amp;b=2">Оплатить</a>'
    )
    assert (await connector.send(message)).ok
    [request] = account.sent_messages()
    assert request.message == "Выберите:\n\nОплатить"
    assert request.reply_markup is None
    [link] = [e for e in request.entities if isinstance(e, types.MessageEntityTextUrl)]
    assert link.url == "https://pay.example/?a=1&b=2"


async def test_send_photo_by_url_and_file(
    running: Any, account: FakeTelegramAccount, tmp_path: Any
) -> None:
    connector, _ = running
    by_url = outgoing(
        "Ваш <b>расклад</b>",
        media=(Media(kind=MediaKind.PHOTO, source="https://cdn.example/t.jpg"),),
    )
    result = await connector.send(by_url)
    assert result.ok
    [request] = account.requests_of(functions.messages.SendMediaRequest)
    assert isinstance(request.media, types.InputMediaPhotoExternal)
    assert request.media.url == "https://cdn.example/t.jpg"
    assert request.message == "Ваш расклад"

    path = tmp_path / "guide.pdf"
    path.write_bytes(b"%PDF-1.4 fake")
    by_path = outgoing("Гайд", media=(Media(kind=MediaKind.DOCUMENT, source=str(path)),))
    assert (await connector.send(by_path)).ok
    assert account.requests_of(functions.upload.SaveFilePartRequest)
    assert isinstance(
        account.requests_of(functions.messages.SendMediaRequest)[-1].media,
        types.InputMediaUploadedDocument,
    )

    bot_file_id = outgoing("x", media=(Media(kind=MediaKind.PHOTO, source="AgACAgIAAxkBAAIB"),))
    result = await connector.send(bot_file_id)
    assert result.error is not None and result.error.kind is SendErrorKind.BAD_REQUEST
    assert "file_id" in result.error.description


async def test_send_to_unknown_user_loads_dialogs_once(account: FakeTelegramAccount) -> None:
    connector = make_connector(account)
    await connector.start(Sink())
    try:
        # never seen in this process: only the dialogs can tell its access hash
        assert (await connector.send(outgoing(chat_id=BORIS))).ok
        assert len(account.requests_of(functions.messages.GetDialogsRequest)) == 1
        result = await connector.send(outgoing(chat_id=999))
        assert result.error is not None and result.error.kind is SendErrorKind.BAD_REQUEST
        assert "unknown to this account" in result.error.description
    finally:
        await connector.stop()


async def test_send_when_stopped_is_network_not_delivered(account: FakeTelegramAccount) -> None:
    connector = make_connector(account)
    result = await connector.send(outgoing())
    assert result.error is not None and result.error.kind is SendErrorKind.NETWORK
    assert not result.error.maybe_delivered
    assert account.requests == []


def test_plain_text_matches_what_telegram_stores() -> None:
    assert plain_text("  <b>оплату</b> за &lt;Таро&gt; ") == "оплату за <Таро>"


# --- failing accounts -------------------------------------------------------------------


async def test_corrupted_session_string(account: FakeTelegramAccount) -> None:
    for bad in ("not-a-session", "1AAAA", ""):
        connector = make_connector(account, session=bad)
        with pytest.raises(SessionInvalidError, match="log"):
            await connector.start(Sink())
        health = connector.health()
        assert health.state is ConnectorState.UNAUTHORIZED
        assert health.last_error and "session" in health.last_error
        if bad:
            assert bad not in health.last_error
    assert account.requests == []


async def test_revoked_session(account: FakeTelegramAccount) -> None:
    account.revoke()
    connector = make_connector(account)
    with pytest.raises(SessionRevokedError):
        await connector.start(Sink())
    assert connector.health().state is ConnectorState.UNAUTHORIZED
    assert "log" in (connector.health().last_error or "")


async def test_wrong_api_id(account: FakeTelegramAccount) -> None:
    account.api_id_valid = False
    connector = make_connector(account)
    with pytest.raises(ApiCredentialsError, match="api_id"):
        await connector.start(Sink())
    assert connector.health().state is ConnectorState.UNAUTHORIZED


async def test_one_failing_account_does_not_stop_another() -> None:
    good_account, bad_account = make_account(500), make_account(600)
    good, bad = make_connector(good_account), make_connector(bad_account)
    good_sink, bad_sink = Sink(), Sink()
    await good.start(good_sink)
    await bad.start(bad_sink)
    try:
        # the bad account's session is terminated; its next getDifference is refused
        bad_account.revoke()
        bad_account.contact_writes(ANNA, "gap")  # pts jump: not applied, difference needed
        bad_account.pts += 5
        bad_account.contact_writes(ANNA, "after gap")
        for _ in range(100):
            if bad.health().state is ConnectorState.UNAUTHORIZED:
                break
            await asyncio.sleep(0.05)
        assert bad.health().state is ConnectorState.UNAUTHORIZED
        assert "AuthKeyUnregistered" in (bad.health().last_error or "")

        good_account.manager_writes_elsewhere(ANNA, "оплату за Таро получила")
        [event] = await good_sink.wait_for(1)
        assert isinstance(event, ManagerMessage)
        assert (await good.send(outgoing())).ok
        assert good.health().state is ConnectorState.RUNNING
        failed = await bad.send(outgoing(via=bad.channel))
        assert failed.error is not None and failed.error.kind is SendErrorKind.UNAUTHORIZED
    finally:
        await good.stop()
        await bad.stop()
    assert good.health().state is ConnectorState.STOPPED


async def test_stop_is_idempotent_and_restart_works(account: FakeTelegramAccount) -> None:
    connector = make_connector(account)
    sink = Sink()
    await connector.start(sink)
    client = connector.client
    assert client is not None
    await connector.stop()
    await connector.stop()
    assert not sender_of(client).is_connected()
    assert connector.health().state is ConnectorState.STOPPED
    await connector.start(sink)
    account.contact_writes(ANNA, "снова")
    await sink.wait_for(1)
    await connector.stop()


async def test_uploaded_media_are_found_in_the_project_folder(
    account: FakeTelegramAccount, tmp_path: Any
) -> None:
    """Media uploaded through the API are stored as ``media/<sha256>/<name>`` relative to
    the project's folder (engine.media_store); the daemon passes that folder."""
    root = tmp_path / "projects" / "demo"
    stored = root / "media" / ("a" * 64) / "guide.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-1.4 uploaded")
    connector = make_connector(account, media_root=root)
    await connector.start(Sink())
    try:
        relative = f"media/{'a' * 64}/guide.pdf"
        sent = outgoing("Гайд", media=(Media(kind=MediaKind.DOCUMENT, source=relative),))
        assert (await connector.send(sent)).ok
        [request] = account.requests_of(functions.messages.SendMediaRequest)
        assert isinstance(request.media, types.InputMediaUploadedDocument)
        names = [
            a.file_name
            for a in request.media.attributes
            if isinstance(a, types.DocumentAttributeFilename)
        ]
        assert names == ["guide.pdf"]

        missing = outgoing("x", media=(Media(kind=MediaKind.PHOTO, source="media/b/gone.jpg"),))
        result = await connector.send(missing)
        assert result.error is not None and result.error.kind is SendErrorKind.BAD_REQUEST
        assert "media file not found: media/b/gone.jpg" in result.error.description
    finally:
        await connector.stop()
