"""Notifications (R9) and purchases (R11) with CSV/XLSX export (``table_file``, shared
with the reports)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from db.models import Contact, Notification, NotificationKind, Product, Purchase
from engine.api.auth import Editor, ProjectCtx, Reader

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=1000)]


class NotificationOut(BaseModel):
    id: int
    kind: NotificationKind
    text: str
    contact_id: int | None
    run_id: int | None
    channel_id: int | None
    details: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    forwarded_at: datetime | None = None


def _notification(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        text=n.text,
        contact_id=n.contact_id,
        run_id=n.run_id,
        channel_id=n.channel_id,
        details=n.details or {},
        created_at=n.created_at,
        resolved_at=n.resolved_at,
        resolved_by=n.resolved_by,
        forwarded_at=n.forwarded_at,
    )


@router.get(
    "/projects/{project}/notifications",
    response_model=list[NotificationOut],
    tags=["notifications"],
)
async def list_notifications(
    ctx: Reader,
    kind: NotificationKind | None = None,
    resolved: bool | None = Query(default=None, description="Omit for both"),
    contact_id: int | None = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[NotificationOut]:
    query = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
    if kind is not None:
        query = query.where(Notification.kind == kind)
    if resolved is not None:
        query = query.where(
            Notification.resolved_at.is_not(None)
            if resolved
            else Notification.resolved_at.is_(None)
        )
    if contact_id is not None:
        query = query.where(Notification.contact_id == contact_id)
    async with (await ctx.db()).sessions() as s:
        rows = await s.scalars(query.limit(limit).offset(offset))
        return [_notification(n) for n in rows]


@router.post(
    "/projects/{project}/notifications/{notification_id}/resolve",
    response_model=NotificationOut,
    tags=["notifications"],
)
async def resolve_notification(notification_id: int, ctx: Editor) -> NotificationOut:
    """Mark resolved (idempotent: the first resolver and time are kept)."""
    async with (await ctx.db()).sessions() as s, s.begin():
        n = await s.get(Notification, notification_id)
        if n is None:
            raise HTTPException(404, detail=f"no notification {notification_id}")
        if n.resolved_at is None:
            n.resolved_at = datetime.now(UTC)
            n.resolved_by = f"staff:{ctx.actor}"
        return _notification(n)


# --- stuck contacts (R5) -----------------------------------------------------------------


class StuckRunOut(BaseModel):
    run_id: int
    reason: Literal["timer_overdue", "run_failed", "send_failed"]
    since: datetime
    mark: str
    detail: str
    contact_id: int
    telegram_user_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    funnel_id: int
    funnel: str
    version: int
    funnel_version_id: int
    node_id: str
    node: str = Field(description="The step's title")
    status: str
    channel_id: int | None
    outbox_id: int | None


@router.get("/projects/{project}/stuck", response_model=list[StuckRunOut], tags=["notifications"])
async def list_stuck(
    ctx: Reader,
    after_min: Annotated[
        int, Query(ge=1, le=10080, description="A timer overdue this long is stuck")
    ] = 15,
    limit: Limit = 200,
) -> list[StuckRunOut]:
    """Contacts stuck now, longest first: a live run whose timer is overdue, a run that
    failed (and was not restarted), a live run whose last message failed. Move them with
    ``POST …/runs/{run_id}/move``."""
    from engine.stuck import find_stuck

    now = datetime.now(UTC)
    if ctx.state.engine_provider is not None:  # the running engine's clock
        now = (await ctx.state.engine(ctx.project)).clock.now()
    async with (await ctx.db()).sessions() as s:
        stuck = await find_stuck(s, now, after=timedelta(minutes=after_min), limit=limit)
    return [StuckRunOut(**item.to_dict()) for item in stuck]


# --- purchases --------------------------------------------------------------------------


class PurchaseOut(BaseModel):
    id: int
    recorded_at: datetime
    product: str
    amount: str | None
    currency: str | None
    contact_id: int
    telegram_user_id: int
    username: str | None
    name: str


PURCHASE_COLUMNS = [
    ("id", "№"),
    ("recorded_at", "Дата"),
    ("product", "Продукт"),
    ("amount", "Сумма"),
    ("currency", "Валюта"),
    ("contact_id", "Контакт"),
    ("telegram_user_id", "Telegram ID"),
    ("username", "Username"),
    ("name", "Имя"),
]


async def _purchases(
    ctx: ProjectCtx,
    product: str | None,
    since: datetime | None,
    until: datetime | None,
    contact_id: int | None,
    limit: int | None,
    offset: int = 0,
) -> list[PurchaseOut]:
    query = (
        select(Purchase, Product.name, Contact)
        .join(Product, Product.id == Purchase.product_id)
        .join(Contact, Contact.id == Purchase.contact_id)
        .order_by(Purchase.recorded_at.desc(), Purchase.id.desc())
    )
    if product:
        query = query.where(Product.name == product.strip())
    if since is not None:
        query = query.where(Purchase.recorded_at >= _aware(since))
    if until is not None:
        query = query.where(Purchase.recorded_at < _aware(until))
    if contact_id is not None:
        query = query.where(Purchase.contact_id == contact_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    async with (await ctx.db()).sessions() as s:
        rows = (await s.execute(query)).all()
    return [
        PurchaseOut(
            id=p.id,
            recorded_at=p.recorded_at,
            product=name,
            amount=str(p.amount) if p.amount is not None else None,
            currency=p.currency,
            contact_id=c.id,
            telegram_user_id=c.telegram_user_id,
            username=c.username,
            name=" ".join(x for x in (c.first_name, c.last_name) if x),
        )
        for p, name, c in rows
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/projects/{project}/purchases", response_model=list[PurchaseOut], tags=["purchases"])
async def list_purchases(
    ctx: Reader,
    product: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    contact_id: int | None = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PurchaseOut]:
    return await _purchases(ctx, product, since, until, contact_id, limit, offset)


def table_file(
    rows: list[list[Any]], headers: list[str], fmt: str, filename: str, sheet: str
) -> Response:
    """Rows as a CSV (UTF-8 with BOM, for Excel) or XLSX download."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerows(rows)
        return Response(
            ("\ufeff" + buffer.getvalue()).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet[:31]
    ws.append(headers)
    for row in rows:
        ws.append(row)
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for index, header in enumerate(headers, start=1):
        longest = max(
            [len(str(header))] + [len(_width_text(r[index - 1])) for r in rows if len(r) >= index]
        )
        ws.column_dimensions[get_column_letter(index)].width = min(60, max(8, longest + 2))
    out = io.BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )


def _width_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return "2024-01-01 00:00:00"
    return str(value)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
    return value


@router.get(
    "/projects/{project}/purchases/export",
    tags=["purchases"],
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def export_purchases(
    ctx: Reader,
    format: Literal["csv", "xlsx"] = "csv",
    product: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """Every matching purchase (times in UTC) as CSV or XLSX."""
    purchases = await _purchases(ctx, product, since, until, None, None)
    rows = [[_cell(getattr(p, key)) for key, _ in PURCHASE_COLUMNS] for p in purchases]
    if format == "csv":
        rows = [[v.isoformat() if isinstance(v, datetime) else v for v in r] for r in rows]
    return table_file(
        rows,
        [title for _, title in PURCHASE_COLUMNS],
        format,
        f"purchases-{ctx.project.slug}",
        "Покупки",
    )
