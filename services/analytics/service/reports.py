"""Reports (DESIGN flow 5): asked for with `POST /analytics/reports` (202), built by a worker
outside the request, stored, downloaded; `report.ready` names the requester so notification can
send the link.

A worker claims a report with a lease (row lock, skip locked: one worker per report) and renews
nothing: a report whose worker died is claimable again once its lease ends, so it is retried,
never stuck "running". After MAX_ATTEMPTS failed builds it is marked failed with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date
from typing import Any

from services.analytics.events import ReportReady
from services.analytics.models import Report
from services.analytics.service.common import BACKGROUND_ROLE, AnalyticsUnitOfWork, ensure
from services.analytics.service.queries import Filter, Queries
from services.analytics.service.report_files import Column, ReportTable, render
from shared import errors
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("analytics.reports")

MAX_ATTEMPTS = 3
KINDS = ("kpi_summary", "timeseries", "campaigns")
COUNTER_COLUMNS = (
    Column("impressions", "Impressions", "int"),
    Column("clicks", "Clicks", "int"),
    Column("spend_minor", "Spend", "money"),
    Column("conversions", "Conversions", "text"),
    Column("conversion_value_minor", "Conversion value", "money"),
)
KPI_COLUMNS = (
    Column("ctr", "CTR", "ratio"),
    Column("cpc_minor", "CPC", "money"),
    Column("cpa_minor", "CPA", "money"),
    Column("conversion_rate", "Conversion rate", "ratio"),
    Column("roas", "ROAS", "text"),
)


class Reports:
    def __init__(self, uow: AnalyticsUnitOfWork, queries: Queries, lease_seconds: float) -> None:
        self.uow = uow
        self.queries = queries
        self.lease_seconds = lease_seconds
        self._outage = Outage(logger, "report worker: database")

    async def request(
        self, tenant_id: uuid.UUID, actor: str, kind: str, filters: dict[str, Any], fmt: str
    ) -> Report:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.add(
                Report(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    requested_by=actor,
                    kind=kind,
                    format=fmt,
                    filters=filters,
                )
            )

    async def get(self, tenant_id: uuid.UUID, report_id: uuid.UUID) -> Report:
        async with self.uow(tenant_id) as work:
            found = await work.repo.records.report(report_id)
        ensure(found, "report")
        assert found is not None
        return found

    async def list(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[Any, uuid.UUID] | None
    ) -> list[Report]:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.reports(limit, after)

    async def download(self, tenant_id: uuid.UUID, report_id: uuid.UUID) -> Report:
        report = await self.get(tenant_id, report_id)
        if report.status != "ready":
            raise errors.Conflict(f"the report is {report.status}, not ready", status_of_report=report.status)
        return report

    # --- the worker ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.work_once, self._outage, is_infrastructure_error)

    async def work_once(self) -> int:
        """Build every report waiting now; returns how many were finished."""
        async with self.uow(None) as work:
            waiting = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.records.claimable_reports(10))
        done = 0
        for report_id, tenant_id in waiting:
            async with self.uow(tenant_id) as work:
                claimed = await work.repo.records.claim_report(report_id, self.lease_seconds)
            if claimed is not None:
                done += await self._build(claimed)
        return done

    async def _build(self, report: Report) -> int:
        try:
            table = await self._table(report)
            rendered = await asyncio.to_thread(render, table, report.format)
        except Exception as error:
            if is_infrastructure_error(error):
                raise  # the lease runs out and another try follows
            await self._failed(report, error)
            return 0
        async with self.uow(report.tenant_id) as work:
            current = await work.repo.records.report(report.id)
            if current is None or current.status != "running" or current.attempts != report.attempts:
                return 0  # our lease ran out and someone else took it over
            filename = f"{report.kind}-{report.created_at:%Y%m%d-%H%M%S}.{rendered.extension}"
            await work.repo.records.update(
                current,
                status="ready",
                content=rendered.content,
                media_type=rendered.media_type,
                filename=filename,
                size_bytes=len(rendered.content),
                error=None,
                finished_at=utcnow(),
            )
            await work.emit(
                ReportReady(
                    report_id=report.id,
                    requested_by=report.requested_by,
                    format=report.format,
                    download_path=f"/api/v1/analytics/reports/{report.id}/download",
                )
            )
        return 1

    async def _failed(self, report: Report, error: Exception) -> None:
        message = error.detail if isinstance(error, errors.DomainError) else f"{type(error).__name__}"
        logger.warning("report %s failed (attempt %d): %s", report.id, report.attempts, message)
        async with self.uow(report.tenant_id) as work:
            current = await work.repo.records.report(report.id)
            if current is None or current.attempts != report.attempts:
                return
            final = report.attempts >= MAX_ATTEMPTS or isinstance(error, errors.DomainError)
            await work.repo.records.update(
                current,
                status="failed" if final else "queued",
                error=message[:500],
                finished_at=utcnow() if final else None,
            )

    async def _table(self, report: Report) -> ReportTable:
        f = report.filters
        where = Filter(
            date.fromisoformat(f["from"]),
            date.fromisoformat(f["to"]),
            uuid.UUID(f["campaign_id"]) if f.get("campaign_id") else None,
            f.get("channel"),
            f.get("currency"),
        )
        span = f"{where.first} to {where.last}"
        if report.kind == "timeseries":
            return await self._timeseries(report, where, f.get("granularity", "day"), span)
        by = "campaign" if report.kind == "campaigns" else "channel"
        result = await self.queries.breakdown(report.tenant_id, where, by, "spend_minor", None)
        key = Column("name", "Campaign") if by == "campaign" else Column("channel", "Channel")
        rows = tuple(result["rows"])
        title = "Campaigns" if by == "campaign" else "KPI summary by channel"
        return _table(
            title,
            f"{span} · {result['currency'] or 'no data'}",
            (key, *COUNTER_COLUMNS, *KPI_COLUMNS),
            rows,
            result["currency"],
        )

    async def _timeseries(self, report: Report, where: Filter, granularity: str, span: str) -> ReportTable:
        rows = []
        currency = None
        for metric in ("impressions", "clicks", "spend_minor", "conversions", "ctr"):
            series = await self.queries.timeseries(report.tenant_id, where, metric, granularity)
            currency = currency or series["currency"]
            for index, point in enumerate(series["points"]):
                if len(rows) <= index:
                    rows.append({"bucket": point["bucket"]})
                rows[index][metric] = point["value"]
        columns = (Column("bucket", "Period"), *COUNTER_COLUMNS[:4], KPI_COLUMNS[0])
        return _table(
            f"Time series by {granularity}",
            f"{span} · {currency or 'no data'}",
            columns,
            tuple(rows),
            currency,
        )


def _table(
    title: str,
    subtitle: str,
    columns: tuple[Column, ...],
    rows: tuple[dict[str, Any], ...],
    currency: str | None,
) -> ReportTable:
    # XXX is ISO 4217's "no currency": a report over no spending at all still has money columns.
    return ReportTable(
        title=title,
        subtitle=subtitle,
        columns=columns,
        rows=rows,
        generated_at=utcnow(),
        currency=currency or "XXX",
    )
