"""Metric ingestion (issue 10): a batch of rows, normalised at the door and stored by key, so the
same batch twice changes nothing and a corrected row replaces the old one; the rollups move by
exactly what changed. Used by `POST /analytics/metrics` and by integration's sync events.

A batch is all or nothing: any bad row (named by its index) refuses the whole batch. Rows naming
a platform campaign (`external_campaign_id`) are placed by the mapping integration reports with
`execution.updated`; sync rows that cannot be placed yet are parked and ingested when it arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from services.analytics.domain.calendar import local_day, month_start
from services.analytics.domain.normalize import CanonicalRow, RowProblem, normalize
from services.analytics.domain.rollups import StoredRow, plan
from services.analytics.events import MetricsIngested
from services.analytics.service.common import AnalyticsUnitOfWork, AnalyticsWork
from services.analytics.service.row_model import ROW, ROWS, MetricRow
from shared import errors
from shared.clock import time_zone, utcnow

EARLIEST_DAY = date(2000, 1, 1)


@dataclass(frozen=True)
class IngestCounts:
    received: int
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class IngestResult:
    batch_id: uuid.UUID
    counts: IngestCounts
    parked: int


class BadRows(errors.InvalidInput):
    code = "invalid-rows"

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        listed = [
            {"loc": ["body", "rows", index, field], "msg": message, "type": "invalid_row"}
            for index, field, message in problems[:100]
        ]
        rows = sorted({index for index, _, _ in problems})
        super().__init__(
            f"{len(rows)} bad row(s), nothing stored: rows {', '.join(map(str, rows[:20]))}"
            + (" ..." if len(rows) > 20 else ""),
            errors=listed,
        )


def parse_rows(raw: Sequence[dict[str, Any]]) -> list[MetricRow]:
    """Rows from an event (JSON), checked as the HTTP body is."""
    try:
        return ROWS.validate_python(list(raw))
    except ValidationError as error:
        raise BadRows(
            [
                (int(e["loc"][0]), str(e["loc"][-1]) if len(e["loc"]) > 1 else "row", e["msg"])
                for e in error.errors()
            ]
        ) from None


class Ingestion:
    def __init__(self, uow: AnalyticsUnitOfWork) -> None:
        self.uow = uow
        self._months: set[date] = set()

    async def ingest(
        self, tenant_id: uuid.UUID, rows: Sequence[MetricRow], source: str | None = None
    ) -> IngestResult:
        """A batch from the API: every row must name a campaign we can place."""
        async with self.uow(tenant_id) as work:
            return await self.ingest_in(work, tenant_id, rows, source=source, sync_id=None, park=False)

    async def ingest_in(
        self,
        work: AnalyticsWork,
        tenant_id: uuid.UUID,
        rows: Sequence[MetricRow],
        *,
        source: str | None,
        sync_id: uuid.UUID | None,
        park: bool,
    ) -> IngestResult:
        """The same inside a transaction someone opened (an event handler's). `park`: keep rows
        of unknown platform campaigns for later instead of refusing them."""
        canonical = _normalized(rows)
        placed, unplaced = await _place(work, canonical)
        if unplaced and not park:
            raise BadRows(
                [(i, "external_campaign_id", "no campaign of yours is known by this id") for i in unplaced]
            )
        if unplaced:
            parked = [ROW.dump_python(rows[i], mode="json") for i in unplaced]
            await work.repo.records.park_unmapped(
                tenant_id, parked, source or rows[unplaced[0]].get("source", "api"), sync_id
            )
        tz = time_zone(await work.repo.records.timezone())
        stored = _stored(placed, tz)
        batch_id = uuid.uuid4()
        metrics = work.repo.metrics
        await metrics.begin_batch(tenant_id)
        rows_only = [row for _, row in stored]
        for month in sorted({month_start(row.day) for row in rows_only} - self._months):
            await metrics.ensure_month(month)
            self._months.add(month)
        changes = plan(rows_only, await metrics.stored_on(rows_only))
        if changes.conflicts:
            message = "this day already has rows of the other kind (daily or hourly) for this campaign, channel and source"
            raise BadRows([(stored[i][0], "hour_start", message) for i in changes.conflicts])
        if changes.write:
            await metrics.write(tenant_id, batch_id, sync_id, changes)
        await metrics.record_batch(tenant_id, batch_id, source, sync_id, changes)
        counts = IngestCounts(len(rows_only), changes.inserted, changes.updated, changes.unchanged)
        await work.emit(
            MetricsIngested(
                batch_id=batch_id,
                sync_id=sync_id,
                received=len(rows),
                inserted=counts.inserted,
                updated=counts.updated,
                unchanged=counts.unchanged,
                parked=len(unplaced),
                campaigns=len(changes.changed_campaigns),
            )
        )
        return IngestResult(batch_id, counts, len(unplaced))


def _normalized(rows: Sequence[MetricRow]) -> list[CanonicalRow]:
    canonical, problems = [], []
    for index, row in enumerate(rows):
        try:
            canonical.append(normalize(row))
        except RowProblem as problem:
            problems.append((index, problem.field, str(problem)))
    if problems:
        raise BadRows(problems)
    return canonical


async def _place(
    work: AnalyticsWork, rows: list[CanonicalRow]
) -> tuple[list[tuple[int, CanonicalRow, uuid.UUID]], list[int]]:
    """Each row with the campaign it belongs to; the indexes of those we cannot place."""
    external = sorted({(r.channel, str(r.external_campaign_id)) for r in rows if r.campaign_id is None})
    known = await work.repo.records.mapped_campaigns(external)
    placed, unplaced = [], []
    for index, row in enumerate(rows):
        campaign = row.campaign_id or known.get((row.channel, str(row.external_campaign_id)))
        if campaign is None:
            unplaced.append(index)
        else:
            placed.append((index, row, campaign))
    return placed, unplaced


def _stored(placed: list[tuple[int, CanonicalRow, uuid.UUID]], tz: Any) -> list[tuple[int, StoredRow]]:
    """Rows with their local day and hour key; a day out of range or a key given twice is a bad row."""
    latest = utcnow().date() + timedelta(days=2)
    stored: list[tuple[int, StoredRow]] = []
    seen: dict[tuple[Any, ...], int] = {}
    problems: list[tuple[int, str, str]] = []
    for index, row, campaign in placed:
        hour_key = -1 if row.hour_start is None else int(row.hour_start.timestamp()) // 3600
        day = row.day if row.hour_start is None else local_day(row.hour_start, tz)
        assert day is not None
        if row.day is not None and row.hour_start is not None and row.day != day:
            problems.append((index, "date", f"hour_start falls on {day} in the tenant's time zone"))
        if not EARLIEST_DAY <= day <= latest:
            problems.append((index, "date", f"the day must lie between {EARLIEST_DAY} and {latest}"))
        key = (campaign, row.channel, row.source, day, hour_key)
        if key in seen:
            problems.append((index, "row", f"the same campaign, channel, source and time as row {seen[key]}"))
        seen.setdefault(key, index)
        stored.append(
            (
                index,
                StoredRow(
                    campaign,
                    row.channel,
                    row.source,
                    day,
                    hour_key,
                    row.currency,
                    row.counters,
                    row.reach,
                    row.external_campaign_id,
                ),
            )
        )
    if problems:
        raise BadRows(problems)
    return stored
