"""Reports (R16): the daily key table (JSON, CSV, XLSX), messages per funnel step,
new/unsubscribed per day or week, people per bot and per funnel part.

Dates are local dates of the project's time zone; ``from``/``to`` are inclusive and default
to the last seven days (today included).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from engine import reports
from engine.api.auth import ProjectCtx, Reader
from engine.api.routes.records import table_file

router = APIRouter(tags=["reports"])

From = Annotated[date | None, Query(alias="from", description="First day (project time zone)")]
To = Annotated[date | None, Query(alias="to", description="Last day, inclusive")]
Stages = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="Comma-separated tag names for the stage columns; omitted: the key tags",
    ),
]
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


class DailyRowOut(BaseModel):
    day: str
    entered: int
    active: int
    inactive_day: int
    inactive_total: int
    stages: dict[str, int]
    bought_new: int
    bought_total: int
    purchases: int


class DailyOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str
    stages: list[str]
    days: list[DailyRowOut]
    totals: DailyRowOut


class MessageRowOut(BaseModel):
    day: str
    funnel_id: int | None
    funnel: str
    node_id: str | None
    node: str
    sent: int
    entered: int


class MessagesOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str
    rows: list[MessageRowOut]


class AudienceRowOut(BaseModel):
    period: str
    start: date
    new: int
    unsubscribed: int
    blocked: int


class AudienceOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str
    group: Literal["day", "week"]
    rows: list[AudienceRowOut]


class BotOut(BaseModel):
    channel_id: int
    name: str
    username: str | None
    role: str | None
    subscribed: int
    unsubscribed: int
    blocked: int
    total: int


class NodeOut(BaseModel):
    node_id: str
    node: str
    contacts: int


class FunnelPartOut(BaseModel):
    funnel_id: int
    funnel: str
    contacts: int
    nodes: list[NodeOut]


class BotsOut(BaseModel):
    bots: list[BotOut]
    funnels: list[FunnelPartOut]


def _range(ctx: ProjectCtx, first: date | None, last: date | None) -> tuple[date, date, ZoneInfo]:
    tz = ZoneInfo(ctx.project.timezone)
    for d in (first, last):
        if d is not None and not EARLIEST <= d <= LATEST:
            raise HTTPException(422, detail=f"dates must be between {EARLIEST} and {LATEST}")
    today = datetime.now(UTC).astimezone(tz).date()
    if last is None:
        last = min(first + timedelta(days=6), LATEST) if first is not None else today
    if first is None:
        first = max(last - timedelta(days=6), EARLIEST)
    if last < first:
        raise HTTPException(422, detail=f"'to' ({last}) is before 'from' ({first})")
    if (last - first).days + 1 > reports.MAX_DAYS:
        raise HTTPException(422, detail=f"at most {reports.MAX_DAYS} days per report")
    return first, last, tz


def _stages(value: str | None) -> list[str] | None:
    if value is None:
        return None
    out: list[str] = []
    for name in value.split(","):
        name = name.strip()
        if name and name not in out:
            out.append(name)
    return out


async def _daily(
    ctx: ProjectCtx, first: date | None, last: date | None, stages: str | None
) -> tuple[reports.DailyReport, date, date]:
    first, last, tz = _range(ctx, first, last)
    async with (await ctx.db()).sessions() as s:
        report = await reports.daily_report(s, first, last, tz, _stages(stages))
    return report, first, last


def _daily_row(row: reports.DailyRow) -> DailyRowOut:
    return DailyRowOut(**asdict(row))


@router.get("/projects/{project}/reports/daily", response_model=DailyOut)
async def daily(
    ctx: Reader, first: From = None, last: To = None, stages: Stages = None
) -> DailyOut:
    """The key daily table: entered, active, inactive (that day and total), key stages
    (contacts who got each stage tag that day), bought from new, bought in total."""
    report, first, last = await _daily(ctx, first, last, stages)
    return DailyOut(
        from_=first,
        to=last,
        timezone=ctx.project.timezone,
        stages=report.stages,
        days=[_daily_row(r) for r in report.days],
        totals=_daily_row(report.totals),
    )


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        }
    }
}
Format = Literal["csv", "xlsx"]


@router.get("/projects/{project}/reports/daily/export", responses=FILE_RESPONSES)
async def daily_export(
    ctx: Reader,
    format: Format = "csv",
    first: From = None,
    last: To = None,
    stages: Stages = None,
) -> Response:
    """The key daily table with a totals row, as CSV (UTF-8 with BOM) or XLSX."""
    report, first, last = await _daily(ctx, first, last, stages)
    headers, rows = reports.daily_table(report)
    return table_file(
        rows,
        headers,
        format,
        f"daily-{ctx.project.slug}-{first.isoformat()}-{last.isoformat()}",
        "Ключевые показатели",
    )


@router.get("/projects/{project}/reports/messages", response_model=MessagesOut)
async def messages(ctx: Reader, first: From = None, last: To = None) -> MessagesOut:
    """Messages sent per day per funnel node (and node entries, to see drop-off and
    sending limits); broadcasts are one row per day."""
    first, last, tz = _range(ctx, first, last)
    async with (await ctx.db()).sessions() as s:
        rows = await reports.messages_report(s, first, last, tz)
    return MessagesOut(
        from_=first,
        to=last,
        timezone=ctx.project.timezone,
        rows=[MessageRowOut(**asdict(r)) for r in rows],
    )


@router.get("/projects/{project}/reports/audience", response_model=AudienceOut)
async def audience(
    ctx: Reader,
    first: From = None,
    last: To = None,
    group: Literal["day", "week"] = "day",
) -> AudienceOut:
    """New contacts and unsubscribes/blocks per day or per ISO week (Monday to Sunday)."""
    first, last, tz = _range(ctx, first, last)
    async with (await ctx.db()).sessions() as s:
        rows = await reports.audience_report(s, first, last, tz, group)
    return AudienceOut(
        from_=first,
        to=last,
        timezone=ctx.project.timezone,
        group=group,
        rows=[AudienceRowOut(**asdict(r)) for r in rows],
    )


@router.get("/projects/{project}/reports/bots", response_model=BotsOut)
async def bots(ctx: Reader) -> BotsOut:
    """People in each bot now (by status) and in each part of each funnel (live runs)."""
    async with (await ctx.db()).sessions() as s:
        now = await reports.audience_now(s)
    return BotsOut(
        bots=[BotOut(**asdict(b), total=b.total) for b in now.bots],
        funnels=[
            FunnelPartOut(
                funnel_id=f.funnel_id,
                funnel=f.funnel,
                contacts=f.contacts,
                nodes=[NodeOut(**asdict(n)) for n in f.nodes],
            )
            for f in now.funnels
        ],
    )


@router.get("/projects/{project}/reports/messages/export", responses=FILE_RESPONSES)
async def messages_export(
    ctx: Reader, format: Format = "csv", first: From = None, last: To = None
) -> Response:
    """Messages sent per day and node as CSV (UTF-8 with BOM) or XLSX."""
    first, last, tz = _range(ctx, first, last)
    async with (await ctx.db()).sessions() as s:
        headers, rows = reports.messages_table(await reports.messages_report(s, first, last, tz))
    name = f"messages-{ctx.project.slug}-{first.isoformat()}-{last.isoformat()}"
    return table_file(rows, headers, format, name, "Сообщения")


@router.get("/projects/{project}/reports/audience/export", responses=FILE_RESPONSES)
async def audience_export(
    ctx: Reader,
    format: Format = "csv",
    first: From = None,
    last: To = None,
    group: Literal["day", "week"] = "day",
) -> Response:
    """New and unsubscribed per day or week as CSV (UTF-8 with BOM) or XLSX."""
    first, last, tz = _range(ctx, first, last)
    async with (await ctx.db()).sessions() as s:
        headers, rows = reports.audience_table(
            await reports.audience_report(s, first, last, tz, group)
        )
    name = f"audience-{group}-{ctx.project.slug}-{first.isoformat()}-{last.isoformat()}"
    return table_file(rows, headers, format, name, "Аудитория")
