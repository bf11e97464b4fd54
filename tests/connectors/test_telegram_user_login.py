"""The login flow against real Telethon, faked at the MTProto sender (no network)."""

from __future__ import annotations

import pytest
from telethon import functions
from telethon.sessions import StringSession

from connectors.telegram_user import SessionInvalidError
from connectors.telegram_user_login import (
    ApiCredentialsLoginError,
    CodeExpiredError,
    LoggedIn,
    LoginFloodWaitError,
    LoginStateError,
    PasswordNeeded,
    PhoneNumberError,
    WrongCodeError,
    WrongPasswordError,
    cancel_login,
    logout,
    start_login,
    submit_code,
    submit_password,
)
from tests.connectors.test_telegram_user import Sink, make_connector, no_sockets  # noqa: F401
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

PHONE = "+7 999 000-00-00"


@pytest.fixture
def account() -> FakeTelegramAccount:
    account = FakeTelegramAccount.create(user_id=500, first_name="Мария")
    account.authorized = False  # a fresh key: Telegram does not know it yet
    return account


async def test_code_login_returns_a_working_session(account: FakeTelegramAccount) -> None:
    state = await start_login(API_ID, API_HASH, PHONE, client_factory=account.client_factory())
    [send_code] = account.requests_of(functions.auth.SendCodeRequest)
    assert send_code.phone_number == "79990000000"  # Telethon strips the +
    assert (send_code.api_id, send_code.api_hash) == (API_ID, API_HASH)
    assert state.code_length == 5
    assert "hash" not in repr(state) and "client" not in repr(state)

    with pytest.raises(WrongCodeError, match="wrong"):
        await submit_code(state, "00000")
    outcome = await submit_code(state, " 12345 ")  # retry on the same state
    assert isinstance(outcome, LoggedIn)
    assert (outcome.user_id, outcome.first_name, outcome.username) == (500, "Мария", "manager500")
    [_, sign_in] = account.requests_of(functions.auth.SignInRequest)
    assert sign_in.phone_code == "12345" and sign_in.phone_code_hash == state.phone_code_hash
    assert "12345" not in repr(outcome) and outcome.session.get_secret_value() not in repr(outcome)
    assert StringSession(outcome.session.get_secret_value()).auth_key is not None
    assert not state.client.is_connected()
    with pytest.raises(LoginStateError):
        await submit_code(state, "12345")

    # the stored session runs a manager account
    connector = make_connector(account, session=outcome.session.get_secret_value())
    await connector.start(Sink())
    assert connector.me is not None and connector.me.id == 500
    await connector.stop()


async def test_two_step_password(account: FakeTelegramAccount) -> None:
    account.password = "correct horse"
    account.password_hint = "лошадь"
    state = await start_login(API_ID, API_HASH, PHONE, client_factory=account.client_factory())
    with pytest.raises(LoginStateError):
        await submit_password(state, "correct horse")  # not asked yet
    outcome = await submit_code(state, "12345")
    assert outcome == PasswordNeeded(hint="лошадь")
    with pytest.raises(WrongPasswordError):
        await submit_password(state, "wrong horse")
    logged_in = await submit_password(state, "correct horse")
    assert isinstance(logged_in, LoggedIn) and logged_in.user_id == 500
    assert len(account.requests_of(functions.auth.CheckPasswordRequest)) == 2
    assert account.authorized


async def test_flood_wait_tells_how_long(account: FakeTelegramAccount) -> None:
    account.fail_next(functions.auth.SendCodeRequest, (420, "FLOOD_WAIT_3725"))
    with pytest.raises(LoginFloodWaitError) as caught:
        await start_login(API_ID, API_HASH, PHONE, client_factory=account.client_factory())
    assert caught.value.seconds == 3725
    assert "1 h 2 min 5 s" in str(caught.value)
    state = await start_login(API_ID, API_HASH, PHONE, client_factory=account.client_factory())
    account.fail_next(functions.auth.SignInRequest, (420, "FLOOD_WAIT_60"))
    with pytest.raises(LoginFloodWaitError, match="1 min"):
        await submit_code(state, "12345")
    await cancel_login(state)


async def test_bad_phone_api_id_and_expired_code(account: FakeTelegramAccount) -> None:
    factory = account.client_factory()
    with pytest.raises(PhoneNumberError):
        await start_login(API_ID, API_HASH, "+1 555", client_factory=factory)
    with pytest.raises(ApiCredentialsLoginError, match="api_id"):
        await start_login(API_ID, "f" * 32, PHONE, client_factory=factory)
    state = await start_login(API_ID, API_HASH, PHONE, client_factory=factory)
    account.fail_next(functions.auth.SignInRequest, (400, "PHONE_CODE_EXPIRED"))
    with pytest.raises(CodeExpiredError, match="start the login again"):
        await submit_code(state, "12345")
    assert not state.client.is_connected()


async def test_logout_revokes(account: FakeTelegramAccount) -> None:
    state = await start_login(API_ID, API_HASH, PHONE, client_factory=account.client_factory())
    outcome = await submit_code(state, "12345")
    assert isinstance(outcome, LoggedIn)
    assert await logout(outcome.session, API_ID, API_HASH, client_factory=account.client_factory())
    assert account.logged_out and account.requests_of(functions.auth.LogOutRequest)
    # already dead: nothing to revoke
    assert not await logout(
        outcome.session, API_ID, API_HASH, client_factory=account.client_factory()
    )
    with pytest.raises(SessionInvalidError):
        await logout("garbage", API_ID, API_HASH, client_factory=account.client_factory())
