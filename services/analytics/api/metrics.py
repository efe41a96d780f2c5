"""Ingestion, the stored rows, KPIs, time series, breakdowns, a campaign's performance, settings."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.analytics.api.deps import (
    DateRange,
    Ingester,
    IngestionDep,
    QueriesDep,
    Reader,
    SettingsDep,
    Writer,
    check_days,
)
from services.analytics.schemas import (
    BreakdownOut,
    Granularity,
    IngestOut,
    KpisOut,
    Metric,
    MetricBatch,
    PerformanceOut,
    RowsPage,
    SettingsIn,
    SettingsOut,
    StoredRowOut,
    TimeseriesOut,
)
from services.analytics.service.queries import Filter
from services.analytics.service.row_model import Channel
from shared import cursors, errors
from shared.problems import problem_responses
from shared.responses import json_of
from shared.text import IsoDay

router = APIRouter(
    prefix="/api/v1/analytics", tags=["analytics"], responses=problem_responses(400, 401, 403, 422)
)
Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")]
MIXED = problem_responses(404, 409)


@router.post("/metrics", response_model=IngestOut)
async def ingest_metrics(body: MetricBatch, ingestion: IngestionDep, principal: Ingester) -> IngestOut:
    """Up to 5,000 rows, idempotent on (campaign, channel, source, day or hour): the same batch
    twice changes nothing; a corrected row replaces the old one. Any bad row refuses the batch."""
    result = await ingestion.ingest(principal.tenant, body["rows"])
    c = result.counts
    return IngestOut(
        batch_id=result.batch_id,
        received=c.received,
        inserted=c.inserted,
        updated=c.updated,
        unchanged=c.unchanged,
    )


@router.get("/metrics", response_model=RowsPage, responses=problem_responses(404))
async def stored_rows(
    campaign_id: uuid.UUID,
    days: DateRange,
    queries: QueriesDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RowsPage:
    """The rows as stored, with their lineage: source, sync, batch and when."""
    after = cursors.decode(cursor, (date.fromisoformat, int, str, str)) if cursor else None
    rows = await queries.rows(principal.tenant, campaign_id, days[0], days[1], after, limit + 1)
    items = [StoredRowOut.model_validate({**r, "hour_start": _hour(r["hour_key"])}) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = (
        cursors.encode([last["day"], last["hour_key"], last["channel"], last["source"]]) if last else None
    )
    return RowsPage(items=items, next_cursor=next_cursor)


@router.get("/kpis", response_model=KpisOut, response_model_by_alias=True, responses=MIXED)
async def kpis(
    days: DateRange,
    queries: QueriesDep,
    principal: Reader,
    campaign_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    currency: Currency = None,
    group_by: Literal["channel", "campaign"] | None = None,
) -> KpisOut:
    """CTR, CPC, CPM, CPA, conversion rate, ROAS and CAC over the filter, the previous period of
    the same length, the change, and spend pacing for one campaign. Zero denominators give null."""
    where = Filter(days[0], days[1], campaign_id, channel, currency)
    return KpisOut.model_validate(await queries.kpis(principal.tenant, where, group_by))


@router.get("/timeseries", response_model=TimeseriesOut, responses=MIXED)
async def timeseries(
    metric: Metric,
    days: DateRange,
    queries: QueriesDep,
    principal: Reader,
    granularity: Granularity = "day",
    campaign_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    currency: Currency = None,
) -> Response:
    """One point per bucket in the tenant's time zone, gaps filled with zeros (ratios: null)."""
    if granularity == "hour" and (days[1] - days[0]).days > 30:
        raise errors.InvalidInput("an hourly series covers at most 31 days", code="invalid-range")
    where = Filter(days[0], days[1], campaign_id, channel, currency)
    return json_of(
        TimeseriesOut.model_validate(await queries.timeseries(principal.tenant, where, metric, granularity))
    )


@router.get("/breakdown", response_model=BreakdownOut, responses=MIXED)
async def breakdown(
    by: Literal["channel", "campaign"],
    metric: Metric,
    days: DateRange,
    queries: QueriesDep,
    principal: Reader,
    top: Annotated[int | None, Query(ge=1, le=1000)] = None,
    campaign_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    currency: Currency = None,
) -> BreakdownOut:
    """Figures per channel or per campaign, largest `metric` first (top N with `top`)."""
    where = Filter(days[0], days[1], campaign_id, channel, currency)
    return BreakdownOut.model_validate(await queries.breakdown(principal.tenant, where, by, metric, top))


@router.get("/campaigns/{campaign_id}/performance", response_model=PerformanceOut, responses=MIXED)
async def campaign_performance(
    campaign_id: uuid.UUID,
    queries: QueriesDep,
    principal: Reader,
    since: Annotated[IsoDay | None, Query(alias="from")] = None,
    until: Annotated[IsoDay | None, Query(alias="to")] = None,
) -> PerformanceOut:
    """A campaign's totals and KPIs, per channel and per day, and when it last synced (what
    campaign_management shows); 404 for a campaign analytics has never heard of."""
    check_days(since, until)
    return PerformanceOut.model_validate(
        await queries.performance(principal.tenant, campaign_id, since, until)
    )


@router.get("/settings", response_model=SettingsOut)
async def read_settings(settings: SettingsDep, principal: Reader) -> SettingsOut:
    return SettingsOut(timezone=await settings.timezone(principal.tenant))


@router.put("/settings", response_model=SettingsOut)
async def write_settings(body: SettingsIn, settings: SettingsDep, principal: Writer) -> SettingsOut:
    """The time zone buckets are made in (IANA name); changing it rebuilds the rollups."""
    return SettingsOut(timezone=await settings.set_timezone(principal.tenant, body.timezone))


def _hour(hour_key: int) -> datetime | None:
    return datetime.fromtimestamp(hour_key * 3600, UTC) if hour_key >= 0 else None
