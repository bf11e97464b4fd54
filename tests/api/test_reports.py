"""Report routes (R16): JSON tables, CSV/XLSX export, ranges in the project's time zone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import select

from db.models import (
    Channel,
    Contact,
    ContactChannel,
    ContactTag,
    Product,
    Purchase,
    SubscriptionStatus,
    Tag,
)
from tests.api.conftest import Api, both_backends

pytestmark = both_backends

BIRTH, ANALYSIS = "написал дату рождения", "получил анализ"
D6, D7 = date(2024, 5, 6), date(2024, 5, 7)


async def seed(api: Api) -> dict[str, int]:
    """Three contacts of the open bot around local midnight of 6/7 May; one blocks the bot
    on 7 May; purchases on 7 May by a contact of 6 May and one of 7 May."""
    tz = ZoneInfo(api.demo.timezone)

    def at(day: date, h: int, m: int = 0) -> datetime:
        return datetime.combine(day, time(h, m), tzinfo=tz).astimezone(UTC)

    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():
        bot = await s.scalar(select(Channel).where(Channel.username == "demo_open_bot"))
        assert bot is not None
        tags = {t.name: t.id for t in await s.scalars(select(Tag))}
        product = await s.scalar(select(Product.id).limit(1))
        ids: dict[str, int] = {"bot": bot.id}
        for i, (name, created) in enumerate(
            [("c1", at(D6, 10)), ("c2", at(D6, 23, 59)), ("c3", at(D7, 0, 1))]
        ):
            c = Contact(telegram_user_id=700 + i, first_name=name, created_at=created)
            s.add(c)
            await s.flush()
            ids[name] = c.id
            s.add(
                ContactChannel(
                    contact_id=c.id,
                    channel_id=bot.id,
                    status=SubscriptionStatus.SUBSCRIBED,
                    first_seen_at=created,
                    last_seen_at=created,
                    status_changed_at=created,
                )
            )
            s.add(ContactTag(contact_id=c.id, tag_id=tags[BIRTH], added_at=created))
        await s.flush()
        blocked = await s.get(ContactChannel, (ids["c2"], bot.id))
        assert blocked is not None
        blocked.status = SubscriptionStatus.BLOCKED
        blocked.status_changed_at = at(D7, 9)
        s.add(ContactTag(contact_id=ids["c1"], tag_id=tags[ANALYSIS], added_at=at(D7, 11)))
        for who, when in (("c3", at(D7, 12)), ("c1", at(D7, 13))):
            s.add(
                Purchase(
                    contact_id=ids[who],
                    product_id=product,
                    amount=Decimal("990"),
                    currency="RUB",
                    recorded_at=when,
                )
            )
    return ids


QUERY = {"from": "2024-05-06", "to": "2024-05-07", "stages": f"{BIRTH},{ANALYSIS}"}


async def test_daily_table(api: Api) -> None:
    await seed(api)
    r = await api.client.get(f"{api.p}/reports/daily", params=QUERY, headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["stages"]) == (
        "2024-05-06",
        "2024-05-07",
        [BIRTH, ANALYSIS],
    )
    rows = [
        (
            d["day"],
            d["entered"],
            d["active"],
            d["inactive_day"],
            d["inactive_total"],
            d["stages"],
            d["bought_new"],
            d["bought_total"],
            d["purchases"],
        )
        for d in body["days"]
    ]
    assert rows == [
        ("2024-05-06", 2, 2, 0, 0, {BIRTH: 2, ANALYSIS: 0}, 0, 0, 0),
        ("2024-05-07", 1, 2, 1, 1, {BIRTH: 1, ANALYSIS: 1}, 1, 2, 2),
    ]
    assert body["totals"]["entered"] == 3 and body["totals"]["bought_total"] == 2


async def test_daily_defaults_to_key_tags(api: Api) -> None:
    r = await api.client.get(
        f"{api.p}/reports/daily", params={"from": "2024-05-06"}, headers=api.auth("viewer")
    )
    assert r.status_code == 200
    body = r.json()
    assert body["to"] == "2024-05-12" and len(body["days"]) == 7
    assert BIRTH in body["stages"] and ANALYSIS in body["stages"]


async def test_bad_ranges_are_422(api: Api) -> None:
    for params in (
        {"from": "2024-05-07", "to": "2024-05-06"},
        {"from": "2020-01-01", "to": "2024-01-01"},
        {"from": "9999-12-31"},
        {"from": "not a date"},
    ):
        r = await api.client.get(
            f"{api.p}/reports/daily", params=params, headers=api.auth("viewer")
        )
        assert r.status_code == 422, params


async def test_daily_export_csv(api: Api) -> None:
    await seed(api)
    r = await api.client.get(
        f"{api.p}/reports/daily/export",
        params={**QUERY, "format": "csv"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:7] == [
        "День",
        "Вошли",
        "Активные",
        "Отписались за день",
        "Неактивные всего",
        BIRTH,
        ANALYSIS,
    ]
    assert rows[0][7:] == ["Купили из новых", "Купили всего", "Покупок"]
    assert rows[1] == ["2024-05-06", "2", "2", "0", "0", "2", "0", "0", "0", "0"]
    assert rows[2] == ["2024-05-07", "1", "2", "1", "1", "1", "1", "1", "2", "2"]
    assert rows[3] == ["Итого", "3", "2", "1", "1", "3", "1", "1", "2", "2"]


async def test_daily_export_xlsx(api: Api) -> None:
    await seed(api)
    r = await api.client.get(
        f"{api.p}/reports/daily/export",
        params={**QUERY, "format": "xlsx"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    assert "daily-" in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    values = [list(row) for row in ws.iter_rows(values_only=True)]
    assert values[0][:3] == ["День", "Вошли", "Активные"] and values[0][5] == BIRTH
    assert values[2] == ["2024-05-07", 1, 2, 1, 1, 1, 1, 1, 2, 2]
    assert values[-1][0] == "Итого" and len(values) == 4
    assert ws["A1"].font.bold and ws.freeze_panes == "A2"
    assert ws.column_dimensions["F"].width >= len(BIRTH)


async def test_audience_and_bots(api: Api) -> None:
    ids = await seed(api)
    r = await api.client.get(
        f"{api.p}/reports/audience",
        params={"from": "2024-05-06", "to": "2024-05-07"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    assert [(x["period"], x["new"], x["blocked"]) for x in r.json()["rows"]] == [
        ("2024-05-06", 2, 0),
        ("2024-05-07", 1, 1),
    ]
    r = await api.client.get(
        f"{api.p}/reports/audience",
        params={"from": "2024-05-01", "to": "2024-05-12", "group": "week"},
        headers=api.auth("viewer"),
    )
    assert [(x["period"], x["start"], x["new"], x["blocked"]) for x in r.json()["rows"]] == [
        ("2024-W18", "2024-04-29", 0, 0),
        ("2024-W19", "2024-05-06", 3, 1),
    ]
    r = await api.client.get(f"{api.p}/reports/bots", headers=api.auth("viewer"))
    assert r.status_code == 200
    bots = {b["channel_id"]: b for b in r.json()["bots"]}
    assert (
        bots[ids["bot"]]["subscribed"],
        bots[ids["bot"]]["blocked"],
        bots[ids["bot"]]["total"],
    ) == (2, 1, 3)
    assert len(bots) == 3 and r.json()["funnels"] == []


async def test_messages_route(api: Api) -> None:
    r = await api.client.get(
        f"{api.p}/reports/messages",
        params={"from": "2024-05-06", "to": "2024-05-07"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    assert r.json()["rows"] == [] and r.json()["from"] == "2024-05-06"


async def test_audience_and_messages_export(api: Api) -> None:
    await seed(api)
    r = await api.client.get(
        f"{api.p}/reports/audience/export",
        params={"from": "2024-05-06", "to": "2024-05-12", "group": "week", "format": "csv"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows == [
        ["Период", "Начало", "Новые", "Отписались", "Заблокировали"],
        ["2024-W19", "2024-05-06", "3", "0", "1"],
    ]
    r = await api.client.get(
        f"{api.p}/reports/messages/export",
        params={"from": "2024-05-06", "to": "2024-05-07", "format": "xlsx"},
        headers=api.auth("viewer"),
    )
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    assert [list(x) for x in ws.iter_rows(values_only=True)] == [
        ["День", "Воронка", "Шаг", "Отправлено", "Вошли в шаг"]
    ]
