"""Monthly partitions of the raw rows, made ahead of need: this month and the next two, at start
and every PARTITION_CHECK_SECONDS (ingestion also makes any month a batch needs)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

from services.analytics.domain.calendar import month_start
from services.analytics.service.common import AnalyticsUnitOfWork
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("analytics.partitions")
MONTHS_AHEAD = 2


class Partitions:
    def __init__(self, uow: AnalyticsUnitOfWork) -> None:
        self.uow = uow
        self._outage = Outage(logger, "partitions: database")

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.ensure_ahead, self._outage, is_infrastructure_error)

    async def ensure_ahead(self) -> list[date]:
        month = month_start(utcnow().date())
        months = [month]
        for _ in range(MONTHS_AHEAD):
            months.append(month_start(months[-1] + timedelta(days=32)))
        async with self.uow(None) as work:
            for first in months:
                await work.repo.metrics.ensure_month(first)
        return months
