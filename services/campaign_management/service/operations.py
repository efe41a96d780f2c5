"""What the platforms and analytics report back: executions per channel (integration's
`execution.updated`), the connections integration holds (`integration.connected`), and a
campaign's performance (analytics, over HTTP, with the last known figures kept)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.campaign_management.clients.fleet import FleetClients, PeerUnavailable
from services.campaign_management.models import Execution, KnownConnection
from services.campaign_management.service.common import CampaignUnitOfWork, CampaignWork, campaign_or_404
from services.campaign_management.service.notices import execution_notice
from shared.clock import utcnow
from shared.events.envelope import Event

EXECUTION_STATUSES = {"pending", "running", "failed", "stopped"}


@dataclass(frozen=True)
class Performance:
    figures: dict[str, Any]
    fetched_at: datetime
    stale: bool


class Operations:
    def __init__(self, uow: CampaignUnitOfWork, fleet: FleetClients) -> None:
        self.uow = uow
        self.fleet = fleet

    async def executions(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list[Execution]:
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            return await work.repo.executions(campaign_id)

    async def on_execution_updated(self, work: CampaignWork, event: Event) -> None:
        """One execution per channel, as integration last reported it. A report older than the
        one stored (a late redelivery) changes nothing; a change of state is told to the owner."""
        data = event.data
        campaign = await work.repo.campaign(uuid.UUID(str(data["campaign_id"])))
        if campaign is None or event.tenant_id is None:
            return  # not ours (or deleted): nothing to record
        status = str(data.get("status"))
        execution = Execution(
            tenant_id=event.tenant_id,
            campaign_id=campaign.id,
            channel=str(data["channel"]),
            status=status if status in EXECUTION_STATUSES else "failed",
            external_id=data.get("external_id"),
            error=(str(data["error"])[:1000] if data.get("error") else None),
            last_synced_at=event.occurred_at,
            updated_at=utcnow(),
        )
        before = await work.repo.execution(campaign.id, execution.channel)
        if before is not None and before.last_synced_at and before.last_synced_at > event.occurred_at:
            return
        await work.repo.upsert_execution(execution)
        if before is None or before.status != execution.status:
            notice = execution_notice(campaign, execution)
            if notice is not None:
                await work.repo.add(notice)

    async def on_connection(self, work: CampaignWork, event: Event) -> None:
        """integration.connected (active) and integration.sync_failed with needs_reauth."""
        data = event.data
        if event.tenant_id is None or not data.get("connection_id"):
            return
        status = "active" if event.type == "integration.connected" else "needs_reauth"
        if event.type == "integration.sync_failed" and not data.get("needs_reauth"):
            return
        await work.repo.upsert_connection(
            KnownConnection(
                tenant_id=event.tenant_id,
                connection_id=uuid.UUID(str(data["connection_id"])),
                provider=str(data["provider"]),
                status=status,
            )
        )

    async def performance(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, since: date | None, until: date | None
    ) -> Performance:
        """Live from analytics; when analytics is down, the last figures we had, marked stale;
        with none, the outage is the answer (503, never a hang: the client has timeouts)."""
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            cached = await work.repo.cached_performance(campaign_id)
        try:
            figures = await self.fleet.performance(tenant_id, campaign_id, since, until)
        except PeerUnavailable:
            if cached is None or since or until:  # the cache holds the whole run, unfiltered
                raise
            payload, fetched_at = cached
            return Performance(payload, fetched_at, stale=True)
        now = utcnow()
        if since is None and until is None:
            async with self.uow(tenant_id) as work:
                await work.repo.cache_performance(tenant_id, campaign_id, figures, now)
        return Performance(figures, now, stale=False)
