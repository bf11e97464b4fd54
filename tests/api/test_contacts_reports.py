"""Contacts (search, card, staff actions through the runtime), notifications, purchases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
from sqlalchemy import select

from db.models import (
    Contact,
    FunnelVersion,
    Notification,
    NotificationKind,
    Product,
    Purchase,
    Run,
    RunStatus,
    StaffAuditEntry,
)
from tests.api.conftest import Api, both_backends

pytestmark = both_backends


async def _contact_with_run(api: Api) -> tuple[int, int, str]:
    funnel = (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()[0]
    draft = (
        await api.client.get(f"{api.p}/funnels/{funnel['id']}", headers=api.auth("viewer"))
    ).json()
    node_id = draft["document"]["nodes"][0]["id"]
    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():
        version = await s.scalar(
            select(FunnelVersion.id).where(FunnelVersion.funnel_id == funnel["id"])
        )
        contact = Contact(telegram_user_id=424242, first_name="Мария", username="maria_k")
        s.add(contact)
        await s.flush()
        run = Run(
            contact_id=contact.id,
            funnel_version_id=version,
            node_id=node_id,
            status=RunStatus.WAITING,
            awaiting="reply",
        )
        s.add(run)
        await s.flush()
        product = await s.scalar(select(Product.id).limit(1))
        s.add(
            Purchase(
                contact_id=contact.id,
                product_id=product,
                amount=Decimal("1990.00"),
                currency="RUB",
                recorded_at=datetime(2024, 5, 6, 9, tzinfo=UTC),
            )
        )
        s.add(
            Notification(
                kind=NotificationKind.LOST_RECEIPT,
                contact_id=contact.id,
                text="Мария не пришла в платный бот",
            )
        )
        return contact.id, run.id, node_id


async def test_search_card_and_tag_actions(api: Api) -> None:
    contact_id, run_id, node_id = await _contact_with_run(api)
    for q in ("424242", "@maria", "мари"):
        found = await api.client.get(
            f"{api.p}/contacts", params={"q": q}, headers=api.auth("viewer")
        )
        assert [c["id"] for c in found.json()] == [contact_id], q
    assert (
        await api.client.get(
            f"{api.p}/contacts", params={"q": "nobody"}, headers=api.auth("viewer")
        )
    ).json() == []

    url = f"{api.p}/contacts/{contact_id}/tags"
    assert (
        await api.client.post(url, json={"tag": "VIP"}, headers=api.auth("viewer"))
    ).status_code == 403
    r = await api.client.post(
        url, json={"tag": "VIP", "reason": "просьба"}, headers=api.auth("editor")
    )
    assert r.status_code == 200 and r.json()["changed"] is True
    by_tag = await api.client.get(
        f"{api.p}/contacts", params={"tag": "VIP"}, headers=api.auth("viewer")
    )
    assert by_tag.json()[0]["tags"] == ["VIP"]

    card = (
        await api.client.get(f"{api.p}/contacts/{contact_id}", headers=api.auth("viewer"))
    ).json()
    assert card["tag_details"][0]["added_by"] == "staff:editor"
    assert card["runs"][0]["id"] == run_id and card["runs"][0]["node_id"] == node_id
    assert card["purchases"][0]["amount"] == "1990.00"
    assert any(h["actor"] == "staff:editor" for h in card["history"])

    r = await api.client.delete(f"{url}/VIP", headers=api.auth("editor"))
    assert r.json()["changed"] is True
    assert (
        await api.client.get(f"{api.p}/contacts/999", headers=api.auth("viewer"))
    ).status_code == 404
    db = await api.service.database(api.demo)
    async with db.sessions() as s:
        audit = (await s.scalars(select(StaffAuditEntry).order_by(StaffAuditEntry.id))).all()
    assert [(a.actor, a.action) for a in audit] == [
        ("staff:editor", "tag_add"),
        ("staff:editor", "tag_remove"),
    ]


async def test_run_actions(api: Api) -> None:
    _contact_id, run_id, node_id = await _contact_with_run(api)
    base = f"{api.p}/runs/{run_id}"
    preview = await api.client.get(f"{base}/rollback", headers=api.auth("viewer"))
    assert preview.status_code == 200 and preview.json()["applied"] is False
    r = await api.client.post(f"{base}/stop", json={"reason": "test"}, headers=api.auth("editor"))
    assert r.status_code == 200, r.text
    r = await api.client.post(
        f"{base}/move", json={"node": "no such node"}, headers=api.auth("editor")
    )
    assert r.status_code == 422 and "no node" in r.json()["detail"]
    r = await api.client.post(f"{base}/move", json={"node": node_id}, headers=api.auth("editor"))
    assert r.status_code == 200, r.text
    r = await api.client.post(f"{base}/restart", json={}, headers=api.auth("editor"))
    assert r.status_code == 200, r.text
    r = await api.client.post(
        f"{base}/rollback", json={"reason": "ошибка"}, headers=api.auth("editor")
    )
    assert r.status_code == 200 and r.json()["applied"] is True
    assert (
        await api.client.post(f"{api.p}/runs/999/stop", json={}, headers=api.auth("editor"))
    ).status_code == 404
    db = await api.service.database(api.demo)
    async with db.sessions() as s:
        actions = [a.action for a in (await s.scalars(select(StaffAuditEntry))).all()]
    assert actions == ["stop_run", "move_run", "restart_run", "rollback"]


async def test_notifications(api: Api) -> None:
    await _contact_with_run(api)
    url = f"{api.p}/notifications"
    open_ones = (
        await api.client.get(url, params={"resolved": False}, headers=api.auth("viewer"))
    ).json()
    assert len(open_ones) == 1 and open_ones[0]["kind"] == "lost_receipt"
    nid = open_ones[0]["id"]
    assert (
        await api.client.post(f"{url}/{nid}/resolve", headers=api.auth("viewer"))
    ).status_code == 403
    r = await api.client.post(f"{url}/{nid}/resolve", headers=api.auth("editor"))
    assert r.json()["resolved_by"] == "staff:editor"
    assert (
        await api.client.get(url, params={"resolved": False}, headers=api.auth("viewer"))
    ).json() == []
    bad = await api.client.get(url, params={"kind": "nope"}, headers=api.auth("viewer"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "kind"]


async def test_purchases_and_exports(api: Api) -> None:
    await _contact_with_run(api)
    rows = (await api.client.get(f"{api.p}/purchases", headers=api.auth("viewer"))).json()
    assert len(rows) == 1 and rows[0]["name"] == "Мария" and rows[0]["amount"] == "1990.00"
    none = await api.client.get(
        f"{api.p}/purchases", params={"since": "2025-01-01T00:00:00Z"}, headers=api.auth("viewer")
    )
    assert none.json() == []
    r = await api.client.get(
        f"{api.p}/purchases/export", params={"format": "csv"}, headers=api.auth("viewer")
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["№", "Дата", "Продукт"] and table[1][3] == "1990.00"
    r = await api.client.get(
        f"{api.p}/purchases/export", params={"format": "xlsx"}, headers=api.auth("viewer")
    )
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None and sheet.cell(2, 9).value == "Мария"
    assert sheet.cell(2, 2).value == datetime(2024, 5, 6, 9)
