"""The tenant's analytics settings: its time zone, which decides the local day of every hourly row
and so every day, week and month bucket. Changing it moves the hourly rows to their new days and
makes the rollups again, in one transaction."""

from __future__ import annotations

import uuid

from services.analytics.service.common import AnalyticsUnitOfWork
from shared import errors
from shared.clock import time_zone


class TenantSettings:
    def __init__(self, uow: AnalyticsUnitOfWork) -> None:
        self.uow = uow

    async def timezone(self, tenant_id: uuid.UUID) -> str:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.timezone()

    async def set_timezone(self, tenant_id: uuid.UUID, name: str) -> str:
        try:
            time_zone(name)
        except ValueError as error:
            raise errors.InvalidInput(
                str(error), errors=[{"loc": ["body", "timezone"], "msg": str(error), "type": "value_error"}]
            ) from None
        async with self.uow(tenant_id) as work:
            if await work.repo.records.timezone() == name:
                return name
            await work.repo.metrics.lock_tenant(tenant_id)
            await work.repo.records.set_timezone(tenant_id, name)
            await work.repo.metrics.rebuild_rollups(tenant_id, name)
        return name
