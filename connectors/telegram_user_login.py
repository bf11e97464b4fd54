"""Logging a manager's Telegram account in (and out), as plain async functions.

The CLI and the desktop drive the steps; each returns a value or raises a typed
:class:`LoginError` whose message can be shown to the user as is::

    state = await start_login(api_id, api_hash, "+79991234567")   # Telegram sends a code
    outcome = await submit_code(state, "12345")                   # LoggedIn | PasswordNeeded
    if isinstance(outcome, PasswordNeeded):
        outcome = await submit_password(state, "cloud password")  # LoggedIn
    secret = box.encrypt(outcome.session)                         # the caller stores it

A wrong code or password raises :class:`WrongCodeError` / :class:`WrongPasswordError` and the
same ``state`` can be used again. :class:`LoginFloodWaitError` carries the seconds to wait.
``cancel_login(state)`` drops an unfinished login. ``logout(session, …)`` revokes a stored
session on Telegram's side (the account's "active sessions" list loses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr
from telethon import TelegramClient, errors, functions, types
from telethon.sessions import StringSession

from connectors.telegram_user import CLIENT_OPTIONS, ClientFactory, parse_session

_LOGIN_OPTIONS = {k: v for k, v in CLIENT_OPTIONS.items() if k != "request_retries"}


class LoginError(Exception):
    """A login step failed; the message is meant for the person logging in."""


class WrongCodeError(LoginError):
    """The code was wrong; ask again (same state)."""


class CodeExpiredError(LoginError):
    """The code expired; start the login again to get a new one."""


class WrongPasswordError(LoginError):
    """The 2FA password was wrong; ask again (same state)."""


class PhoneNumberError(LoginError):
    """Telegram does not accept this phone number (invalid, banned or not registered)."""


class ApiCredentialsLoginError(LoginError):
    """Telegram refused the api_id/api_hash pair."""


class LoginFloodWaitError(LoginError):
    """Too many attempts; Telegram asks to wait ``seconds``."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        super().__init__(f"too many attempts: Telegram asks to wait {_duration(seconds)}")


class LoginStateError(LoginError):
    """The step does not fit the state (already finished, cancelled, password not asked)."""


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs else "",
    ]
    return " ".join(p for p in parts if p) or "0 s"


@dataclass(frozen=True)
class PasswordNeeded:
    """The account has two-step verification: call :func:`submit_password`."""

    hint: str = ""


@dataclass(frozen=True)
class LoggedIn:
    """Done. ``session`` is the StringSession to encrypt and store (never log it)."""

    session: SecretStr
    user_id: int
    first_name: str
    username: str | None
    phone: str | None


@dataclass
class LoginState:
    """An unfinished login; holds a connected client. Not serialisable: keep it in memory."""

    phone: str
    client: TelegramClient = field(repr=False)
    phone_code_hash: str = field(repr=False)
    code_length: int | None = None
    password_needed: bool = False
    finished: bool = False


def _client(
    session: StringSession, api_id: int, api_hash: str, factory: ClientFactory
) -> TelegramClient:
    return factory(session, api_id, api_hash, **_LOGIN_OPTIONS)


def _translate(exc: BaseException) -> LoginError | None:
    if isinstance(exc, errors.FloodError):
        return LoginFloodWaitError(int(getattr(exc, "seconds", 0) or 1))
    if isinstance(exc, errors.ApiIdInvalidError):
        return ApiCredentialsLoginError(
            "Telegram refused the api_id/api_hash (check them on my.telegram.org)"
        )
    if isinstance(exc, errors.PhoneNumberInvalidError):
        return PhoneNumberError("Telegram does not accept this phone number; check it")
    if isinstance(exc, errors.PhoneNumberBannedError):
        return PhoneNumberError("this phone number is banned by Telegram")
    if isinstance(exc, errors.PhoneNumberUnoccupiedError):
        return PhoneNumberError("no Telegram account uses this phone number")
    if isinstance(exc, (errors.PhoneCodeInvalidError, errors.PhoneCodeEmptyError)):
        return WrongCodeError("the code is wrong; check it and try again")
    if isinstance(exc, errors.PhoneCodeExpiredError):
        return CodeExpiredError("the code has expired; start the login again for a new code")
    if isinstance(exc, errors.PasswordHashInvalidError):
        return WrongPasswordError("the password is wrong; try again")
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return LoginError(f"cannot reach Telegram: {type(exc).__name__}")
    if isinstance(exc, errors.RPCError):
        return LoginError(f"Telegram refused: {exc.message}")
    return None


async def start_login(
    api_id: int,
    api_hash: str | SecretStr,
    phone: str,
    *,
    client_factory: ClientFactory = TelegramClient,
) -> LoginState:
    """Connect with a fresh session and ask Telegram to send a login code to ``phone``."""
    secret = api_hash.get_secret_value() if isinstance(api_hash, SecretStr) else api_hash
    phone = phone.strip().replace(" ", "").replace("-", "")
    client = _client(StringSession(), api_id, secret, client_factory)
    try:
        await client.connect()
        sent = await client.send_code_request(phone)
    except Exception as exc:
        await client.disconnect()
        translated = _translate(exc)
        if translated is None:
            raise
        raise translated from None
    length = getattr(sent.type, "length", None)
    return LoginState(
        phone=phone, client=client, phone_code_hash=sent.phone_code_hash, code_length=length
    )


async def submit_code(state: LoginState, code: str) -> LoggedIn | PasswordNeeded:
    """Sign in with the code; :class:`PasswordNeeded` when the account has 2FA."""
    _check(state)
    try:
        user = await state.client.sign_in(
            state.phone, code.strip(), phone_code_hash=state.phone_code_hash
        )
    except errors.SessionPasswordNeededError:
        state.password_needed = True
        return PasswordNeeded(hint=await _password_hint(state.client))
    except Exception as exc:
        translated = _translate(exc)
        if translated is None:
            raise
        if isinstance(translated, CodeExpiredError):
            await cancel_login(state)
        raise translated from None
    return await _finish(state, user)


async def submit_password(state: LoginState, password: str | SecretStr) -> LoggedIn:
    """Finish a login that needs the two-step verification password."""
    _check(state)
    if not state.password_needed:
        raise LoginStateError("no password was asked for; submit the code first")
    secret = password.get_secret_value() if isinstance(password, SecretStr) else password
    try:
        user = await state.client.sign_in(password=secret)
    except Exception as exc:
        translated = _translate(exc)
        if translated is None:
            raise
        raise translated from None
    return await _finish(state, user)


async def cancel_login(state: LoginState) -> None:
    """Drop an unfinished login (disconnects; the half-made session is not stored)."""
    state.finished = True
    await state.client.disconnect()


async def logout(
    session: str | SecretStr,
    api_id: int,
    api_hash: str | SecretStr,
    *,
    client_factory: ClientFactory = TelegramClient,
) -> bool:
    """Revoke a stored session on Telegram (``auth.logOut``). True if Telegram confirmed;
    False if the session was already dead. Delete the stored secret either way."""
    secret = api_hash.get_secret_value() if isinstance(api_hash, SecretStr) else api_hash
    client = _client(parse_session(session), api_id, secret, client_factory)
    try:
        await client.connect()
        if not await client.is_user_authorized():
            return False
        return bool(await client.log_out())
    except Exception as exc:
        translated = _translate(exc)
        if translated is None:
            raise
        raise translated from None
    finally:
        if client.is_connected():
            await client.disconnect()


def _check(state: LoginState) -> None:
    if state.finished:
        raise LoginStateError("this login is finished or cancelled; start again")


async def _password_hint(client: TelegramClient) -> str:
    try:
        password = await client(functions.account.GetPasswordRequest())
    except (errors.RPCError, OSError, ConnectionError):
        return ""
    return str(password.hint or "")


async def _finish(state: LoginState, user: object) -> LoggedIn:
    if not isinstance(user, types.User):
        raise LoginError("Telegram did not log the account in (sign-up is not supported)")
    session = SecretStr(state.client.session.save())
    state.finished = True
    await state.client.disconnect()
    return LoggedIn(
        session=session,
        user_id=user.id,
        first_name=user.first_name or "",
        username=user.username,
        phone=user.phone,
    )
