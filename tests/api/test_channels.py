"""Channels over the API: adding bots (token checked with getMe on the fake Bot API),
logging manager accounts in and out (real Telethon against a fake Telegram at the MTProto
request boundary), enabling/disabling/deleting channels, and project settings."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from telethon import functions

from db.models import Channel, Contact, OutboxMessage, Secret
from engine.daemon import DaemonSettings, EngineDaemon
from tests.api.conftest import Api, both_backends
from tests.fakes.telegram_bot_api import FakeTelegramBotAPI
from tests.fakes.telethon_wire import API_HASH, API_ID, FakeTelegramAccount

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
OTHER_TOKEN = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw2"
PHONE = "+7 999 000-00-00"


@pytest.fixture
def bot_api(fake_telegram: FakeTelegramBotAPI, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake_telegram.add_bot(TOKEN, username="ema_open_bot")
    monkeypatch.setenv("VORONKA_BOT_API_URL", fake_telegram.base_url)
    return fake_telegram


@pytest.fixture
def account(api: Api) -> FakeTelegramAccount:
    account = FakeTelegramAccount.create(user_id=500, first_name="Мария")
    account.authorized = False  # a fresh key: Telegram does not know it yet
    api.service.telegram_client_factory = account.client_factory()
    return account


async def _channels(api: Api) -> dict[str, dict[str, Any]]:
    r = await api.client.get(f"{api.p}/channels", headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    return {c["name"]: c for c in r.json()}


def _field_error(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    text = str(body["detail"])
    assert field in text, body


@both_backends
async def test_add_change_and_delete_a_bot(api: Api, bot_api: FakeTelegramBotAPI) -> None:
    admin = api.auth("admin")
    r = await api.client.post(
        f"{api.p}/bots", json={"token": TOKEN, "role": "other", "is_main": True}, headers=admin
    )
    assert r.status_code == 201, r.text
    bot = r.json()
    assert TOKEN.split(":")[1] not in r.text
    assert (bot["name"], bot["username"], bot["role"], bot["kind"]) == (
        "@ema_open_bot", "ema_open_bot", "other", "bot",
    )  # fmt: skip
    assert bot["has_credentials"] and bot["is_main"] and bot["enabled"] and not bot["needs_login"]
    assert [q.method for q in bot_api.requests()] == ["getMe"]
    async with (await api.service.database(api.demo)).sessions() as session:
        ciphertexts = (await session.scalars(select(Secret.ciphertext))).all()
    assert ciphertexts and all(TOKEN.split(":")[1] not in c for c in ciphertexts)
    listed = await _channels(api)
    assert listed["@ema_open_bot"]["id"] == bot["id"]
    assert sum(1 for c in listed.values() if c["kind"] == "bot" and c["is_main"]) == 1

    # the same bot again; a malformed token; a token Telegram refuses; a bad role
    again = await api.client.post(
        f"{api.p}/bots", json={"token": TOKEN, "role": "open"}, headers=admin
    )
    assert again.status_code == 409 and "already has this bot" in again.json()["detail"]
    bad = await api.client.post(
        f"{api.p}/bots", json={"token": "nope", "role": "open"}, headers=admin
    )
    _field_error(bad, "token")
    refused = await api.client.post(
        f"{api.p}/bots", json={"token": OTHER_TOKEN, "role": "open"}, headers=admin
    )
    assert refused.status_code == 422 and "rejected the token" in refused.json()["detail"]
    assert OTHER_TOKEN.split(":")[1] not in refused.text
    _field_error(
        await api.client.post(f"{api.p}/bots", json={"token": TOKEN, "role": "vip"}, headers=admin),
        "role",
    )
    editor = await api.client.post(
        f"{api.p}/bots", json={"token": TOKEN, "role": "open"}, headers=api.auth("editor")
    )
    assert editor.status_code == 403

    url = f"{api.p}/channels/{bot['id']}"
    r = await api.client.patch(
        url, json={"name": "Новости", "role": "free", "enabled": False}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["role"], r.json()["enabled"]) == ("Новости", "free", False)
    clash = next(n for n in listed if n != "@ema_open_bot")
    r = await api.client.patch(url, json={"name": clash}, headers=admin)
    assert r.status_code == 409 and "name" in r.json()["detail"]
    _field_error(await api.client.patch(url, json={"enabled": "maybe"}, headers=admin), "enabled")
    assert (
        await api.client.patch(f"{api.p}/channels/999999", json={}, headers=admin)
    ).status_code == 404

    r = await api.client.delete(url, headers=admin)
    assert r.status_code == 204
    assert "Новости" not in await _channels(api)
    assert (await api.client.delete(url, headers=admin)).status_code == 404


@both_backends
async def test_manager_login_with_two_step_password_then_logout(
    api: Api, account: FakeTelegramAccount
) -> None:
    account.password = "correct horse"
    account.password_hint = "лошадь"
    admin = api.auth("admin")
    r = await api.client.post(
        f"{api.p}/managers/login",
        json={"name": "Мария", "phone": PHONE, "api_id": API_ID, "api_hash": API_HASH},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["state"] == "code_sent" and "999000" not in started["phone"]
    [send_code] = account.requests_of(functions.auth.SendCodeRequest)
    assert (send_code.api_id, send_code.api_hash) == (API_ID, API_HASH)
    login = f"{api.p}/managers/login/{started['login_id']}"

    wrong = await api.client.post(f"{login}/code", json={"code": "00000"}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["state"] == "code_sent"
    early = await api.client.post(f"{login}/password", json={"password": "x"}, headers=admin)
    assert early.status_code == 400 and early.json()["state"] == "code_sent"
    r = await api.client.post(f"{login}/code", json={"code": "12345"}, headers=admin)
    assert r.status_code == 200 and r.json() == {"state": "password_needed", "hint": "лошадь"}
    wrong = await api.client.post(f"{login}/password", json={"password": "nope"}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["state"] == "password_needed"
    r = await api.client.post(
        f"{login}/password", json={"password": "correct horse"}, headers=admin
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "done" and "correct horse" not in r.text
    channel = done["channel"]
    assert (channel["name"], channel["kind"], channel["telegram_id"], channel["api_id"]) == (
        "Мария", "manager_account", 500, API_ID,
    )  # fmt: skip
    assert channel["has_credentials"] and not channel["needs_login"]
    assert account.authorized
    # the login is gone once finished
    assert (
        await api.client.post(f"{login}/code", json={"code": "1"}, headers=admin)
    ).status_code == 404
    listed = (await _channels(api))["Мария"]
    assert listed["has_credentials"] and listed["username"] == "manager500"

    r = await api.client.post(f"{api.p}/channels/{channel['id']}/logout", headers=admin)
    assert r.status_code == 204, r.text
    assert account.logged_out and account.requests_of(functions.auth.LogOutRequest)
    listed = (await _channels(api))["Мария"]
    assert not listed["has_credentials"] and listed["needs_login"]
    again = await api.client.post(f"{api.p}/channels/{channel['id']}/logout", headers=admin)
    assert again.status_code == 422 and "not logged in" in again.json()["detail"]


@both_backends
async def test_login_flood_wait_bad_input_and_cancel(
    api: Api, account: FakeTelegramAccount
) -> None:
    admin = api.auth("admin")
    body = {"name": "Пётр", "phone": PHONE, "api_id": API_ID, "api_hash": API_HASH}
    account.fail_next(functions.auth.SendCodeRequest, (420, "FLOOD_WAIT_3725"))
    r = await api.client.post(f"{api.p}/managers/login", json=body, headers=admin)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3725"
    assert r.json()["retry_after"] == 3725 and r.json()["state"] == "failed"
    assert "1 h 2 min 5 s" in r.json()["detail"]

    _field_error(
        await api.client.post(
            f"{api.p}/managers/login", json={**body, "phone": "+7 abc"}, headers=admin
        ),
        "phone",
    )
    _field_error(
        await api.client.post(
            f"{api.p}/managers/login", json={**body, "api_id": -1}, headers=admin
        ),
        "api_id",
    )
    bot_name = next(n for n, c in (await _channels(api)).items() if c["kind"] == "bot")
    r = await api.client.post(
        f"{api.p}/managers/login", json={**body, "name": bot_name}, headers=admin
    )
    _field_error(r, "name")

    r = await api.client.post(f"{api.p}/managers/login", json=body, headers=admin)
    assert r.status_code == 201, r.text
    login = f"{api.p}/managers/login/{r.json()['login_id']}"
    # another project's admin path cannot reach this login
    other = f"/projects/{api.other.slug}/managers/login/{r.json()['login_id']}"
    assert (await api.client.delete(other, headers=admin)).status_code == 404
    assert (await api.client.delete(login, headers=admin)).status_code == 204
    assert not account.clients[-1].is_connected()
    assert (
        await api.client.post(f"{login}/code", json={"code": "12345"}, headers=admin)
    ).status_code == 404
    assert "Пётр" not in await _channels(api)


@both_backends
async def test_project_settings(api: Api) -> None:
    url = f"{api.p}/settings"
    r = await api.client.get(url, headers=api.auth("viewer"))
    assert r.status_code == 200 and r.json()["manager_labels"] is False
    r = await api.client.patch(
        url,
        json={"timezone": "Asia/Yekaterinburg", "manager_labels": True},
        headers=api.auth("admin"),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"timezone": "Asia/Yekaterinburg", "manager_labels": True}
    assert (await api.service.workspace.get_project(api.demo.slug)).timezone == "Asia/Yekaterinburg"
    assert (await api.client.get(url, headers=api.auth("viewer"))).json()["manager_labels"] is True
    _field_error(
        await api.client.patch(url, json={"timezone": "Mars/Olympus"}, headers=api.auth("admin")),
        "timezone",
    )
    assert (await api.client.patch(url, json={}, headers=api.auth("editor"))).status_code == 403


async def test_a_running_daemon_picks_up_added_and_disabled_bots(
    api: Api, bot_api: FakeTelegramBotAPI
) -> None:
    bot_api.rate_limits.enabled = False
    daemon = EngineDaemon(api.service, settings=DaemonSettings(bot_api_base=bot_api.base_url))
    await daemon.start()
    try:
        runtime = daemon.projects[api.demo.name]
        assert runtime.connectors == {}  # the demo's bots have no tokens
        r = await api.client.post(
            f"{api.p}/bots", json={"token": TOKEN, "role": "other"}, headers=api.auth("admin")
        )
        assert r.status_code == 201, r.text
        bot_id = r.json()["id"]
        assert set(runtime.connectors) == {bot_id}
        assert runtime.engine.channels[bot_id].name == "@ema_open_bot"

        r = await api.client.patch(
            f"{api.p}/channels/{bot_id}", json={"enabled": False}, headers=api.auth("admin")
        )
        assert r.status_code == 200
        assert runtime.connectors == {}
        r = await api.client.patch(
            f"{api.p}/channels/{bot_id}", json={"enabled": True}, headers=api.auth("admin")
        )
        assert set(runtime.connectors) == {bot_id}
        assert (
            await api.client.delete(f"{api.p}/channels/{bot_id}", headers=api.auth("admin"))
        ).status_code == 204
        assert runtime.connectors == {} and bot_id not in runtime.engine.channels
    finally:
        await daemon.stop()


@both_backends
async def test_a_channel_with_history_is_not_deleted(api: Api) -> None:
    async with (await api.service.database(api.demo)).sessions() as s, s.begin():
        bot = await s.scalar(select(Channel).where(Channel.username == "demo_open_bot"))
        assert bot is not None
        contact = Contact(telegram_user_id=4242, first_name="Анна")
        s.add(contact)
        await s.flush()
        s.add(
            OutboxMessage(
                idempotency_key="channel-delete-test", contact_id=contact.id, channel_id=bot.id, payload={}
            )
        )
        bot_id = bot.id
    r = await api.client.delete(f"{api.p}/channels/{bot_id}", headers=api.auth("admin"))
    assert r.status_code == 409 and "disable it instead" in r.json()["detail"]
    assert bot_id in {c["id"] for c in (await _channels(api)).values()}
