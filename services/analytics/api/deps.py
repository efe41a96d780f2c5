"""The dependencies routes declare: the container's use cases, the caller and permissions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from services.analytics.bootstrap import Container
from services.analytics.domain.calendar import EARLIEST_DAY, LATEST_DAY, in_calendar
from services.analytics.service.alerts import Alerts
from services.analytics.service.dashboards import Dashboards
from services.analytics.service.ingestion import Ingestion
from services.analytics.service.queries import Queries
from services.analytics.service.reports import Reports
from services.analytics.service.tenant_settings import TenantSettings
from shared import errors
from shared.auth.deps import require
from shared.auth.tokens import Principal
from shared.text import IsoDay


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _ingestion(c: ContainerDep) -> Ingestion:
    return c.ingestion


async def _queries(c: ContainerDep) -> Queries:
    return c.queries


async def _dashboards(c: ContainerDep) -> Dashboards:
    return c.dashboards


async def _reports(c: ContainerDep) -> Reports:
    return c.reports


async def _alerts(c: ContainerDep) -> Alerts:
    return c.alerts


async def _settings(c: ContainerDep) -> TenantSettings:
    return c.tenant_settings


IngestionDep = Annotated[Ingestion, Depends(_ingestion)]
QueriesDep = Annotated[Queries, Depends(_queries)]
DashboardsDep = Annotated[Dashboards, Depends(_dashboards)]
ReportsDep = Annotated[Reports, Depends(_reports)]
AlertsDep = Annotated[Alerts, Depends(_alerts)]
SettingsDep = Annotated[TenantSettings, Depends(_settings)]

Reader = Annotated[Principal, Depends(require("analytics:read", allow_service=True))]
Writer = Annotated[Principal, Depends(require("analytics:write"))]
Ingester = Annotated[Principal, Depends(require("analytics:write", allow_service=True))]

MAX_DAYS = 3 * 366


def check_days(since: date | None, until: date | None) -> None:
    """A 400 for a day outside the calendar figures cover, or a range that runs backwards."""
    for day in (since, until):
        if day is not None and not in_calendar(day):
            raise errors.InvalidInput(
                f"days lie between {EARLIEST_DAY} and {LATEST_DAY}", code="invalid-range"
            )
    if since and until and since > until:
        raise errors.InvalidInput("from must not come after to", code="invalid-range")


async def date_range(
    since: Annotated[
        IsoDay | None, Query(alias="from", description="First local day (default: 30 days ago)")
    ] = None,
    until: Annotated[
        IsoDay | None, Query(alias="to", description="Last local day, included (default: today)")
    ] = None,
) -> tuple[date, date]:
    """The asked days, both included; the last 30 days when not given."""
    check_days(since, until)
    last = until or date.today()
    first = since or max(EARLIEST_DAY, last - timedelta(days=29))
    check_days(first, last)
    if (last - first).days > MAX_DAYS:
        raise errors.InvalidInput("a range covers at most three years", code="invalid-range")
    return first, last


DateRange = Annotated[tuple[date, date], Depends(date_range)]
