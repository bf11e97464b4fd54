"""R9's Telegram admin chat in the project settings, and R5's stuck contacts, over the API
(each test on SQLite and on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from db.models import Run, RunStatus
from tests.api.conftest import Api, both_backends
from tests.desktop.traffic import busy_day

pytestmark = both_backends

ADMIN = -1001234567890


async def _channel_ids(api: Api) -> dict[str, int]:
    r = await api.client.get(f"{api.p}/channels", headers=api.auth("viewer"))
    assert r.status_code == 200
    return {c["name"]: c["id"] for c in r.json()}


def _detail(response: Any) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["detail"])


async def test_the_admin_chat_setting(api: Api) -> None:
    url = f"{api.p}/settings"
    r = await api.client.get(url, headers=api.auth("viewer"))
    assert r.status_code == 200 and "notify_chat" not in r.json()

    r = await api.client.patch(
        url, json={"notify_chat": {"chat_id": ADMIN}}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    assert r.json()["notify_chat"] == {
        "chat_id": ADMIN,
        "bot_id": None,
        "bot": "Открытый бот",  # the main bot by default (R13)
        "error": None,
        "error_at": None,
        "retry_at": None,
        "last_sent_at": None,
        "pending": 0,
    }
    ids = await _channel_ids(api)
    r = await api.client.patch(
        url,
        json={"notify_chat": {"chat_id": ADMIN, "bot_id": ids["Платный бот"]}},
        headers=api.auth("admin"),
    )
    assert r.json()["notify_chat"]["bot"] == "Платный бот"
    r = await api.client.patch(url, json={"manager_labels": True}, headers=api.auth("admin"))
    assert r.json()["notify_chat"]["bot_id"] == ids["Платный бот"]  # left as it was
    r = await api.client.get(url, headers=api.auth("viewer"))
    assert r.json()["notify_chat"]["chat_id"] == ADMIN

    for body, field in [
        ({"chat_id": 0}, "chat_id"),
        ({"chat_id": 10**15}, "chat_id"),
        ({"chat_id": "группа"}, "chat_id"),
        ({"chat_id": ADMIN, "bot_id": ids["Менеджер"]}, "bot_id"),
        ({"chat_id": ADMIN, "bot_id": 0}, "bot_id"),
    ]:
        r = await api.client.patch(url, json={"notify_chat": body}, headers=api.auth("admin"))
        assert field in _detail(r), (body, r.text)
    r = await api.client.patch(
        url, json={"notify_chat": {"chat_id": ADMIN}}, headers=api.auth("editor")
    )
    assert r.status_code == 403

    r = await api.client.patch(url, json={"notify_chat": None}, headers=api.auth("admin"))
    assert r.status_code == 200 and "notify_chat" not in r.json()


async def test_stuck_contacts_are_listed_and_moved_on(api: Api) -> None:
    # Monday 2024: twenty people in the open bot; those waiting for a reply had a one-day
    # timeout that never fired (no engine ran since).
    await busy_day(api.service.workspace, api.demo.name)
    database = await api.service.database(api.demo)
    async with database.sessions() as s, s.begin():
        failed = await s.scalar(
            select(Run.id).where(Run.status == RunStatus.WAITING).order_by(Run.id).limit(1)
        )
        await s.execute(
            update(Run)
            .where(Run.id == failed)
            .values(status=RunStatus.FAILED, due_at=None, error="no bot with role 'paid'")
        )

    r = await api.client.get(f"{api.p}/stuck", headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    rows = r.json()
    reasons = {row["run_id"]: row["reason"] for row in rows}
    assert reasons.pop(failed) == "run_failed"
    assert reasons and set(reasons.values()) == {"timer_overdue"}
    overdue = next(row for row in rows if row["reason"] == "timer_overdue")
    assert overdue["funnel"] == "Разбор по дате рождения" and overdue["node"]
    assert overdue["since"].startswith("2024-05-") and overdue["first_name"]
    assert [row["since"] for row in rows] == sorted(row["since"] for row in rows)

    r = await api.client.get(f"{api.p}/stuck", params={"limit": 1}, headers=api.auth("viewer"))
    assert len(r.json()) == 1
    r = await api.client.get(f"{api.p}/stuck", params={"after_min": 0}, headers=api.auth("viewer"))
    assert r.status_code == 422

    # Staff move one of them on: no longer stuck.
    r = await api.client.post(
        f"{api.p}/runs/{overdue['run_id']}/move",
        json={"node": overdue["node_id"], "reason": "застрял"},
        headers=api.auth("editor"),
    )
    assert r.status_code == 200, r.text
    r = await api.client.get(f"{api.p}/stuck", headers=api.auth("viewer"))
    assert overdue["run_id"] not in {row["run_id"] for row in r.json()}
    assert len(r.json()) == len(rows) - 1
