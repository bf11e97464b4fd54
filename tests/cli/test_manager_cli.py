"""``main.py manager login|list|logout`` driven in-process: real Telethon against the fake
Telegram account (tests/fakes/telethon_wire.py), a scripted prompt instead of the terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from telethon import functions

from connectors.telegram_user import ManagerAccountConnector
from db.models import Channel, ChannelKind, Secret, SecretPurpose
from db.workspace import Workspace
from engine.cli.manager_cmd import list_accounts, login_interactive, logout_account
from engine.events import ChannelKind as EventChannelKind
from engine.events import ChannelRef
from tests.cli.conftest import CliResult
from tests.connectors.test_telegram_user import Sink, no_sockets  # noqa: F401
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

PHONE = "+7 999 000-00-00"
NO_ENV: dict[str, str] = {}


class ScriptedPrompt:
    """Answers questions in order; records what was asked and whether it was secret."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, bool]] = []

    def __call__(self, question: str, *, secret: bool = False) -> str:
        self.asked.append((question, secret))
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


class Output:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def account() -> FakeTelegramAccount:
    account = FakeTelegramAccount.create(user_id=500, first_name="Мария")
    account.authorized = False  # a fresh key: Telegram does not know it yet
    account.password = "correct horse"
    account.password_hint = "лошадь"
    return account


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with await Workspace.open(tmp_path / "ws") as ws:
        await ws.create_project("EMA")
        yield ws


async def secrets_of(workspace: Workspace, name: str) -> tuple[Channel | None, dict[str, str]]:
    database = await workspace.open_project_db("EMA")
    try:
        async with database.sessions() as session:
            channel = await session.scalar(select(Channel).where(Channel.name == name))
            if channel is None:
                return None, {}
            rows = await session.scalars(select(Secret).where(Secret.channel_id == channel.id))
            return channel, {str(s.purpose): s.ciphertext for s in rows}
    finally:
        await database.dispose()


async def login(
    workspace: Workspace,
    account: FakeTelegramAccount,
    prompt: ScriptedPrompt,
    out: Output,
    **kwargs: object,
) -> int:
    options: dict[str, object] = {
        "phone": PHONE,
        "api_id": API_ID,
        "api_hash": API_HASH,
        "environ": NO_ENV,
        **kwargs,
    }
    return await login_interactive(
        workspace,
        "EMA",
        prompt=prompt,
        client_factory=account.client_factory(),
        out=out,
        **options,  # type: ignore[arg-type]
    )


async def test_wrong_code_then_code_and_password_store_the_session_encrypted(
    workspace: Workspace, account: FakeTelegramAccount, tmp_path: Path
) -> None:
    prompt = ScriptedPrompt("00000", "12345", "wrong horse", "correct horse")
    out = Output()
    code = await login(workspace, account, prompt, out, name="Мария")
    assert code == 0, out.text
    assert [secret for _, secret in prompt.asked] == [False, False, True, True]
    assert "wrong" in out.text and "2 attempts left" in out.text and "лошадь" in out.text
    assert len(account.requests_of(functions.auth.SignInRequest)) == 2
    assert len(account.requests_of(functions.auth.CheckPasswordRequest)) == 2

    channel, secrets = await secrets_of(workspace, "Мария")
    assert channel is not None and channel.kind is ChannelKind.MANAGER_ACCOUNT
    assert (channel.telegram_id, channel.username, channel.is_main) == (500, "manager500", True)
    assert set(secrets) == {SecretPurpose.TELETHON_SESSION, SecretPurpose.API_HASH}
    session = workspace.secret_box().decrypt(secrets[SecretPurpose.TELETHON_SESSION])
    plain = session.get_secret_value()
    assert plain and plain not in secrets[SecretPurpose.TELETHON_SESSION]
    assert workspace.secret_box().decrypt(secrets["api_hash"]).get_secret_value() == API_HASH

    # neither the session, the hash nor the password is printed or stored in clear
    for leak in (plain, API_HASH, "correct horse"):
        assert leak not in out.text
    raw = (tmp_path / "ws" / "projects" / "ema.sqlite3").read_bytes()
    for leak in (plain, API_HASH):
        assert leak.encode() not in raw
    wal = tmp_path / "ws" / "projects" / "ema.sqlite3-wal"
    if wal.exists():
        assert plain.encode() not in wal.read_bytes()

    # the stored session runs the manager account
    connector = ManagerAccountConnector(
        ChannelRef(project="EMA", kind=EventChannelKind.MANAGER_ACCOUNT, channel_id="1", name="m"),
        session,
        API_ID,
        API_HASH,
        client_factory=account.client_factory(),
    )
    await connector.start(Sink())
    assert connector.me is not None and connector.me.id == 500
    await connector.stop()

    listed = Output()
    assert await list_accounts(workspace, "EMA", out=listed) == 0
    assert "Мария (main)" in listed.text and "session: yes" in listed.text
    assert "api_hash: own" in listed.text and plain not in listed.text

    # logout revokes on Telegram (credentials from the stored hash) and deletes the secret
    done = Output()
    code = await logout_account(
        workspace,
        "EMA",
        "Мария",
        api_id=API_ID,
        client_factory=account.client_factory(),
        out=done,
        environ=NO_ENV,
    )
    assert code == 0 and "ended on Telegram" in done.text
    assert account.logged_out and account.requests_of(functions.auth.LogOutRequest)
    channel, secrets = await secrets_of(workspace, "Мария")
    assert channel is not None  # funnels refer to it by name: the channel stays
    assert SecretPurpose.TELETHON_SESSION not in secrets

    listed = Output()
    await list_accounts(workspace, "EMA", out=listed)
    assert "session: no" in listed.text
    assert (
        await logout_account(
            workspace, "EMA", "Мария", api_id=API_ID, client_factory=account.client_factory()
        )
        == 2
    )


async def test_existing_channel_is_used_and_env_hash_is_not_stored(
    workspace: Workspace, account: FakeTelegramAccount
) -> None:
    account.password = None
    database = await workspace.open_project_db("EMA")
    async with database.sessions() as session, session.begin():
        session.add(Channel(kind=ChannelKind.MANAGER_ACCOUNT, name="Менеджер", is_main=True))
    await database.dispose()

    env = {"VORONKA_TELEGRAM_API_ID": str(API_ID), "VORONKA_TELEGRAM_API_HASH": API_HASH}
    out = Output()
    code = await login(
        workspace, account, ScriptedPrompt(PHONE, "12345"), out,
        phone=None, api_id=None, api_hash=None, environ=env,
    )  # fmt: skip
    assert code == 0, out.text
    channel, secrets = await secrets_of(workspace, "Менеджер")
    assert channel is not None and channel.telegram_id == 500
    assert set(secrets) == {SecretPurpose.TELETHON_SESSION}  # the hash came from the env

    # the same Telegram account under another name: refused, the new session ended
    account.authorized = False
    out = Output()
    code = await login(workspace, account, ScriptedPrompt("12345"), out, name="Другой")
    assert code == 2
    assert account.logged_out
    assert (await secrets_of(workspace, "Другой"))[0] is None

    # logging the same account in again renews its session in place
    before = secrets[SecretPurpose.TELETHON_SESSION]
    account.authorized = False
    out = Output()
    assert await login(workspace, account, ScriptedPrompt("12345"), out, environ=env) == 0
    assert "previous session was replaced" in out.text and "Note:" not in out.text
    channel, secrets = await secrets_of(workspace, "Менеджер")
    assert secrets[SecretPurpose.TELETHON_SESSION] != before
    assert set(secrets) == {SecretPurpose.TELETHON_SESSION, SecretPurpose.API_HASH}


async def test_three_wrong_codes_store_nothing(
    workspace: Workspace, account: FakeTelegramAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = ScriptedPrompt("1", "2", "3", "12345")
    code = await login(workspace, account, prompt, Output(), name="Мария")
    assert code == 1
    assert "wrong 3 times" in capsys.readouterr().err
    assert len(prompt.asked) == 3
    assert (await secrets_of(workspace, "Мария"))[0] is None
    assert not any(client.is_connected() for client in account.clients)


async def test_three_wrong_passwords_store_nothing(
    workspace: Workspace, account: FakeTelegramAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = ScriptedPrompt("12345", "a", "b", "c")
    assert await login(workspace, account, prompt, Output(), name="Мария") == 1
    assert "password was wrong 3 times" in capsys.readouterr().err
    assert (await secrets_of(workspace, "Мария"))[0] is None
    assert not any(client.is_connected() for client in account.clients)


async def test_flood_wait_is_shown_as_a_wait_time(
    workspace: Workspace, account: FakeTelegramAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.fail_next(functions.auth.SendCodeRequest, (420, "FLOOD_WAIT_3725"))
    assert await login(workspace, account, ScriptedPrompt(), Output(), name="Мария") == 2
    assert "wait 1 h 2 min 5 s" in capsys.readouterr().err

    account.fail_next(functions.auth.SignInRequest, (420, "FLOOD_WAIT_60"))
    assert await login(workspace, account, ScriptedPrompt("12345"), Output(), name="Мария") == 2
    assert "wait 1 min" in capsys.readouterr().err
    assert (await secrets_of(workspace, "Мария"))[0] is None
    assert not any(client.is_connected() for client in account.clients)


async def test_cancelled_login_and_missing_credentials(
    workspace: Workspace, account: FakeTelegramAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await login(workspace, account, ScriptedPrompt(), Output(), name="Мария") == 2
    assert "cancelled" in capsys.readouterr().err
    assert not any(client.is_connected() for client in account.clients)

    code = await login(workspace, account, ScriptedPrompt(), Output(), api_id=None, api_hash=None)
    assert code == 2 and "my.telegram.org" in capsys.readouterr().err


def test_manager_commands_are_registered(cli: Callable[..., CliResult]) -> None:
    assert cli("project", "create", "EMA").code == 0
    result = cli("manager", "list", "--project", "EMA")
    assert result.code == 0 and "no manager accounts" in result.out
    result = cli("manager", "logout", "--project", "EMA", "Нет")
    assert result.code == 2 and "no manager account" in result.err
    result = cli("manager", "list", "--project", "Нет такого")
    assert result.code == 2 and result.err.startswith("error:")
