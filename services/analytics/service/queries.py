"""Reading the numbers: KPIs over any filter with the previous period beside them, time series
with gaps filled, breakdowns and top-N, a campaign's performance (campaign_management's view),
and the stored rows with their lineage. Everything is read from the rollups."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.analytics.domain import calendar
from services.analytics.domain.kpis import Budget, Counters, change, kpis, pacing, value_of
from services.analytics.metrics_repository import ALL_CAMPAIGNS, counters_of
from services.analytics.service.common import AnalyticsUnitOfWork, AnalyticsWork, not_found
from shared import errors
from shared.clock import time_zone, utcnow


@dataclass(frozen=True)
class Filter:
    first: date
    last: date
    campaign_id: uuid.UUID | None = None
    channel: str | None = None
    currency: str | None = None

    @property
    def scope(self) -> uuid.UUID:
        return self.campaign_id or ALL_CAMPAIGNS


class MixedCurrencies(errors.Conflict):
    code = "mixed-currencies"


def _one_currency(
    rows: Sequence[dict[str, Any]], wanted: str | None
) -> tuple[str | None, list[dict[str, Any]]]:
    """Money of different currencies never adds up: pick the asked one, or the only one."""
    currencies = sorted({r["currency"].strip() for r in rows})
    if wanted:
        return wanted, [r for r in rows if r["currency"].strip() == wanted]
    if len(currencies) > 1:
        raise MixedCurrencies(
            f"these figures are in {', '.join(currencies)}; pass currency= to choose one",
            currencies=currencies,
        )
    return (currencies[0] if currencies else None), list(rows)


def _total(rows: Sequence[dict[str, Any]]) -> Counters:
    total = Counters()
    for row in rows:
        total = total + counters_of(row)
    return total


def _figures(c: Counters) -> dict[str, Any]:
    return {**c.as_dict(), **kpis(c)}


class Queries:
    def __init__(self, uow: AnalyticsUnitOfWork) -> None:
        self.uow = uow

    async def kpis(self, tenant_id: uuid.UUID, where: Filter, group_by: str | None = None) -> dict[str, Any]:
        """The period's counters and KPIs, the previous period's, the change, and the campaign's
        spend pacing when one campaign is asked for."""
        prev_first, prev_last = calendar.previous_period(where.first, where.last)
        async with self.uow(tenant_id) as work:
            await self._known(work, where.campaign_id)
            current = await self._totals(work, where, where.first, where.last, group_by)
            previous = await self._totals(work, where, prev_first, prev_last, None)
            budget = await work.repo.records.campaign(where.campaign_id) if where.campaign_id else None
            tz = time_zone(await work.repo.records.timezone())
        currency, _ = _one_currency(current + previous, where.currency)
        now_rows = [r for r in current if r["currency"].strip() == currency]
        this = _total(now_rows)
        before = _total([r for r in previous if r["currency"].strip() == currency])
        answer: dict[str, Any] = {
            "from": where.first,
            "to": where.last,
            "currency": currency,
            "current": _figures(this),
            "previous": {"from": prev_first, "to": prev_last, **_figures(before)},
            "change": {k: change(v, _figures(before)[k]) for k, v in _figures(this).items()},
        }
        if budget is not None and budget.total_budget_minor is not None and budget.budget_type:
            plan = Budget(budget.total_budget_minor, budget.budget_type, budget.start_at, budget.end_at)
            answer["pacing"] = pacing(this.spend_minor, plan, utcnow().astimezone(tz).date())
        if group_by:
            answer["groups"] = _groups(now_rows, group_by)
        return answer

    async def _totals(
        self, work: AnalyticsWork, where: Filter, first: date, last: date, group_by: str | None
    ) -> list[dict[str, Any]]:
        whole_tenant = where.campaign_id is None and group_by != "campaign"
        ranges = calendar.cover(first, last) if whole_tenant else [("day", first, last)]
        return await work.repo.metrics.day_totals(where.scope, ranges, where.channel, group_by)

    async def _known(self, work: AnalyticsWork, campaign_id: uuid.UUID | None) -> None:
        if campaign_id is None:
            return
        if await work.repo.records.campaign(campaign_id) is None and not await work.repo.metrics.has_rows(
            campaign_id
        ):
            raise not_found("campaign")

    async def timeseries(
        self, tenant_id: uuid.UUID, where: Filter, metric: str, granularity: str
    ) -> dict[str, Any]:
        """One value per bucket in the tenant's time zone, zeros (or null ratios) where nothing
        was reported."""
        async with self.uow(tenant_id) as work:
            await self._known(work, where.campaign_id)
            tz_name = await work.repo.records.timezone()
            tz = time_zone(tz_name)
            metrics = work.repo.metrics
            if granularity == "hour":
                buckets: list[Any] = list(calendar.hours(where.first, where.last, tz))
                end = calendar.day_start(where.last + timedelta(days=1), tz)
                rows = await metrics.hour_series(where.scope, buckets[0], end, where.channel)
            else:
                buckets = calendar.date_buckets(where.first, where.last, granularity)
                rows = await metrics.date_series(
                    where.scope, granularity, buckets[0], where.last, where.channel
                )
        currency, rows = _one_currency(rows, where.currency)
        by_bucket: dict[Any, Counters] = defaultdict(Counters)
        for row in rows:
            by_bucket[row["bucket"]] = by_bucket[row["bucket"]] + counters_of(row)
        points = [
            {"bucket": _label(bucket, tz), "value": value_of(metric, by_bucket.get(bucket, Counters()))}
            for bucket in buckets
        ]
        return {
            "metric": metric,
            "granularity": granularity,
            "timezone": tz_name,
            "currency": currency,
            "points": points,
        }

    async def performance(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, first: date | None, last: date | None
    ) -> dict[str, Any]:
        """campaign_management's view of one campaign: totals, per channel, per day, last sync."""
        async with self.uow(tenant_id) as work:
            await self._known(work, campaign_id)
            first = first or date(2000, 1, 1)
            last = last or utcnow().date()
            channels = await work.repo.metrics.day_totals(
                campaign_id, [("day", first, last)], None, "channel"
            )
            days = await work.repo.metrics.date_series(campaign_id, "day", first, last, None)
            synced = await work.repo.metrics.last_ingested(campaign_id)
        currency, channels = _one_currency(channels, None)
        _, days = _one_currency(days, currency)
        return {
            "campaign_id": campaign_id,
            "currency": currency,
            "totals": _figures(_total(channels)),
            "channels": [{"channel": r["channel"], **_figures(counters_of(r))} for r in channels],
            "days": [{"date": r["bucket"], **counters_of(r).as_dict()} for r in days],
            "last_synced_at": synced,
        }

    async def breakdown(
        self, tenant_id: uuid.UUID, where: Filter, by: str, metric: str, top: int | None
    ) -> dict[str, Any]:
        """Figures per channel or per campaign, ordered by `metric` (largest first), top N."""
        async with self.uow(tenant_id) as work:
            await self._known(work, where.campaign_id)
            rows = await self._totals(work, where, where.first, where.last, by)
            names = {}
            if by == "campaign":
                for row in rows:
                    known = await work.repo.records.campaign(row["campaign_id"])
                    names[row["campaign_id"]] = known.name if known else None
        currency, rows = _one_currency(rows, where.currency)
        key = "channel" if by == "channel" else "campaign_id"
        groups = []
        for row in rows:
            figures = _figures(counters_of(row))
            entry = {key: row[key], **figures}
            if by == "campaign":
                entry["name"] = names.get(row["campaign_id"])
            groups.append(entry)
        groups.sort(key=lambda g: (g[metric] is None, -(g[metric] or 0)))
        return {"by": by, "metric": metric, "currency": currency, "rows": groups[:top] if top else groups}

    async def rows(
        self,
        tenant_id: uuid.UUID,
        campaign_id: uuid.UUID,
        first: date,
        last: date,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        async with self.uow(tenant_id) as work:
            await self._known(work, campaign_id)
            return await work.repo.metrics.raw_rows(campaign_id, first, last, after, limit)


def _groups(rows: Sequence[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    key = "channel" if group_by == "channel" else "campaign_id"
    return [{key: r[key], **_figures(counters_of(r))} for r in rows]


def _label(bucket: Any, tz: Any) -> str:
    if isinstance(bucket, datetime):
        return bucket.astimezone(tz).isoformat()
    return bucket.isoformat()
