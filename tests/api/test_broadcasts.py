"""Broadcast routes (R17): create/schedule, preview, send (outbox rows), progress, cancel,
roles."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Contact, ContactTag, OutboxMessage, OutboxStatus, Tag
from tests.api.conftest import Api, both_backends
from tests.api.test_reports import BIRTH, seed

pytestmark = both_backends


async def _body(api: Api, **kw: object) -> dict[str, object]:
    ids = await seed(api)
    return {"channel_id": ids["bot"], "text": "<b>Привет</b>", "tags_included": [BIRTH], **kw}


async def _rows(api: Api, broadcast_id: int) -> list[OutboxMessage]:
    db = await api.service.database(api.demo)
    async with db.sessions() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.idempotency_key.like(f"broadcast:{broadcast_id}:%"))
                .order_by(OutboxMessage.id)
            )
        )


async def test_viewer_cannot_create_send_or_cancel(api: Api) -> None:
    body = await _body(api)
    r = await api.client.post(f"{api.p}/broadcasts", json=body, headers=api.auth("viewer"))
    assert r.status_code == 403
    r = await api.client.post(f"{api.p}/broadcasts", json=body, headers=api.auth("editor"))
    assert r.status_code == 201
    bid = r.json()["id"]
    for action in ("send", "cancel"):
        r = await api.client.post(f"{api.p}/broadcasts/{bid}/{action}", headers=api.auth("viewer"))
        assert r.status_code == 403
    # viewers read and preview
    r = await api.client.get(f"{api.p}/broadcasts/{bid}", headers=api.auth("viewer"))
    assert r.status_code == 200 and r.json()["status"] == "draft"
    r = await api.client.post(
        f"{api.p}/broadcasts/preview",
        json={"channel_id": body["channel_id"]},
        headers=api.auth("viewer"),
    )
    assert r.json() == {"count": 2}  # c2 blocked the bot


async def test_preview_segments(api: Api) -> None:
    body = await _body(api)
    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():  # c3 also "bought"
        c3 = await s.scalar(select(Contact.id).where(Contact.first_name == "c3"))
        bought = await s.scalar(select(Tag.id).where(Tag.name == "купил"))
        s.add(ContactTag(contact_id=c3, tag_id=bought))

    async def count(**seg: object) -> int:
        r = await api.client.post(
            f"{api.p}/broadcasts/preview",
            json={"channel_id": body["channel_id"], **seg},
            headers=api.auth("editor"),
        )
        assert r.status_code == 200, r.text
        return int(r.json()["count"])

    assert await count() == 2
    assert await count(tags_included=[BIRTH]) == 2
    assert await count(tags_included=[BIRTH], tags_excluded=["купил"]) == 1
    assert await count(tags_included=[BIRTH, "купил"], include_mode="all") == 1
    assert await count(tags_included=["купил"]) == 1
    r = await api.client.post(
        f"{api.p}/broadcasts/preview",
        json={"channel_id": body["channel_id"], "tags_included": ["нет такого"]},
        headers=api.auth("editor"),
    )
    assert r.status_code == 422 and "нет такого" in r.json()["detail"]
    r = await api.client.post(
        f"{api.p}/broadcasts/preview", json={"channel_id": 999}, headers=api.auth("editor")
    )
    assert r.status_code == 422


async def test_send_queues_one_row_per_recipient_and_cancel(api: Api) -> None:
    body = await _body(api, buttons=[[{"text": "Сайт", "url": "https://example.com"}]])
    r = await api.client.post(f"{api.p}/broadcasts", json=body, headers=api.auth("editor"))
    bid = r.json()["id"]
    assert r.json()["created_by"] == "staff:editor"
    r = await api.client.post(f"{api.p}/broadcasts/{bid}/send", headers=api.auth("editor"))
    assert r.status_code == 200, r.text
    b = r.json()
    assert (b["status"], b["total"], b["sent"], b["progress"]["pending"]) == ("sending", 2, 0, 2)
    r = await api.client.post(f"{api.p}/broadcasts/{bid}/send", headers=api.auth("editor"))
    assert r.status_code == 200
    rows = await _rows(api, bid)
    assert len(rows) == 2 and {r.status for r in rows} == {OutboxStatus.PENDING}
    assert rows[0].payload["inline_buttons"][0][0]["url"] == "https://example.com"
    assert rows[0].payload["chat_id"] == 700 and rows[0].payload["text"] == "<b>Привет</b>"
    r = await api.client.post(f"{api.p}/broadcasts/{bid}/cancel", headers=api.auth("editor"))
    assert r.status_code == 200
    b = r.json()
    assert b["status"] == "cancelled" and b["cancelled_by"] == "staff:editor"
    assert (b["progress"]["cancelled"], b["progress"]["pending"]) == (2, 0)
    assert {(r.status, r.error) for r in await _rows(api, bid)} == {
        (OutboxStatus.FAILED, "cancelled")
    }
    r = await api.client.post(f"{api.p}/broadcasts/{bid}/send", headers=api.auth("editor"))
    assert r.status_code == 409
    r = await api.client.get(f"{api.p}/broadcasts", headers=api.auth("viewer"))
    assert [x["id"] for x in r.json()] == [bid]


async def test_create_variants(api: Api) -> None:
    body = await _body(api)
    r = await api.client.post(
        f"{api.p}/broadcasts",
        json={**body, "scheduled_at": "2030-01-01T10:00:00"},
        headers=api.auth("editor"),
    )
    assert r.status_code == 422  # no time zone
    r = await api.client.post(
        f"{api.p}/broadcasts",
        json={**body, "scheduled_at": "2030-01-01T10:00:00+03:00"},
        headers=api.auth("editor"),
    )
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["scheduled_at"]) == ("scheduled", "2030-01-01T07:00:00Z")
    r = await api.client.post(
        f"{api.p}/broadcasts", json={**body, "send_now": True}, headers=api.auth("editor")
    )
    assert r.status_code == 201 and r.json()["status"] == "sending" and r.json()["total"] == 2
    r = await api.client.post(
        f"{api.p}/broadcasts",
        json={**body, "buttons": [[{"text": "x", "url": "https://a.b"}]], "tags_excluded": [BIRTH]},
        headers=api.auth("editor"),
    )
    assert r.status_code == 422  # included and excluded
    r = await api.client.get(f"{api.p}/broadcasts/12345", headers=api.auth("viewer"))
    assert r.status_code == 404
    r = await api.client.post(f"{api.p}/broadcasts/12345/cancel", headers=api.auth("editor"))
    assert r.status_code == 404


async def test_create_with_media(api: Api) -> None:
    photo = {"kind": "photo", "source": "media/" + "b" * 64 + "/Афиша.jpg"}
    body = await _body(api, media=[photo], send_now=True)
    r = await api.client.post(f"{api.p}/broadcasts", json=body, headers=api.auth("editor"))
    assert r.status_code == 201 and r.json()["media"] == [photo]
    rows = await _rows(api, r.json()["id"])
    assert len(rows) == 2 and all(row.payload["media"] == [photo] for row in rows)
    r = await api.client.get(f"{api.p}/broadcasts", headers=api.auth("viewer"))
    assert r.json()[0]["media"] == [photo]

    bad = {**body, "media": [photo, {"kind": "sticker", "source": "x"}]}
    r = await api.client.post(f"{api.p}/broadcasts", json=bad, headers=api.auth("editor"))
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "media", 1, "kind"]
