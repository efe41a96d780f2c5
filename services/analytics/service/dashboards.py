"""Dashboards: widgets declared as data (a KPI, a time series, a breakdown, a top N), evaluated
live on every read of `/dashboards/{id}/data` over the tenant's current numbers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.analytics.models import Dashboard
from services.analytics.service.common import AnalyticsUnitOfWork, ensure
from services.analytics.service.queries import Filter, Queries
from shared import errors
from shared.clock import time_zone, utcnow


@dataclass(frozen=True)
class DashboardPage:
    items: list[Dashboard]
    next_after: tuple[Any, uuid.UUID] | None


class Dashboards:
    def __init__(self, uow: AnalyticsUnitOfWork, queries: Queries) -> None:
        self.uow = uow
        self.queries = queries

    async def create(
        self, tenant_id: uuid.UUID, actor: str, name: str, widgets: list[dict[str, Any]]
    ) -> Dashboard:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.add(
                Dashboard(id=uuid.uuid4(), tenant_id=tenant_id, name=name, created_by=actor, widgets=widgets)
            )

    async def get(self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID) -> Dashboard:
        async with self.uow(tenant_id) as work:
            found = await work.repo.records.dashboard(dashboard_id)
        ensure(found, "dashboard")
        assert found is not None
        return found

    async def list(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[Any, uuid.UUID] | None
    ) -> DashboardPage:
        async with self.uow(tenant_id) as work:
            rows = await work.repo.records.dashboards(limit + 1, after)
        last = rows[limit - 1] if len(rows) > limit else None
        return DashboardPage(rows[:limit], (last.created_at, last.id) if last else None)

    async def update(
        self,
        tenant_id: uuid.UUID,
        dashboard_id: uuid.UUID,
        changes: Mapping[str, Any],
        expected_version: int | None,
    ) -> Dashboard:
        async with self.uow(tenant_id) as work:
            found = await work.repo.records.dashboard(dashboard_id, for_update=True)
            ensure(found, "dashboard")
            assert found is not None
            if expected_version is not None and expected_version != found.version:
                raise errors.PreconditionFailed(
                    f"the dashboard changed since you read it (version {found.version})",
                    current_version=found.version,
                )
            return await work.repo.records.update(
                found, **changes, version=found.version + 1, updated_at=utcnow()
            )

    async def delete(self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            ensure(await work.repo.records.dashboard(dashboard_id), "dashboard")
            await work.repo.records.delete_dashboard(dashboard_id)

    async def data(
        self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID, first: date | None, last: date | None
    ) -> dict[str, Any]:
        """Every widget evaluated now; a widget whose figures cannot be given (mixed currencies,
        a campaign deleted since) carries its error instead of failing the whole dashboard."""
        dashboard = await self.get(tenant_id, dashboard_id)
        async with self.uow(tenant_id) as work:
            today = utcnow().astimezone(time_zone(await work.repo.records.timezone())).date()
        results = []
        for index, widget in enumerate(dashboard.widgets):
            to = last or today
            since = first or to - timedelta(days=int(widget.get("period_days", 30)) - 1)
            try:
                data = await self._widget(
                    tenant_id,
                    widget,
                    Filter(
                        since,
                        to,
                        _uuid(widget.get("campaign_id")),
                        widget.get("channel"),
                        widget.get("currency"),
                    ),
                )
                results.append(
                    {"index": index, "type": widget["type"], "title": widget.get("title"), "data": data}
                )
            except errors.DomainError as error:
                results.append(
                    {
                        "index": index,
                        "type": widget["type"],
                        "title": widget.get("title"),
                        "error": error.detail,
                    }
                )
        return {"dashboard_id": dashboard.id, "name": dashboard.name, "widgets": results}

    async def _widget(self, tenant_id: uuid.UUID, widget: Mapping[str, Any], where: Filter) -> dict[str, Any]:
        kind = widget["type"]
        if kind == "kpi":
            figures = await self.queries.kpis(tenant_id, where)
            metric = widget["metric"]
            return {
                "metric": metric,
                "value": figures["current"][metric],
                "previous": figures["previous"][metric],
                "change": figures["change"][metric],
                "currency": figures["currency"],
            }
        if kind == "timeseries":
            return await self.queries.timeseries(
                tenant_id, where, widget["metric"], widget.get("granularity", "day")
            )
        top = int(widget["n"]) if kind == "top_n" else None
        return await self.queries.breakdown(
            tenant_id, where, widget.get("by", "channel"), widget["metric"], top
        )


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None
