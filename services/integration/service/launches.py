"""Flow 3: campaign events become campaigns on the ad platforms, and each outcome an
`execution.updated`.

`campaign.launched` (also sent on resume) creates the platform campaign, or activates the one
already there; `campaign.paused` / `completed` pause it; `campaign.budget_changed` moves its budget.
A redelivered launch never creates a second campaign: the platform campaign is recorded here, and
our campaign id is stamped on it so that even a creation whose answer was lost is found again.
A provider outage fails the handler, so the consumer redelivers the event later.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.integration.clients.base import CampaignDraft, Connector, Grant, ProviderError
from services.integration.domain.budgets import daily_budget
from services.integration.domain.catalog import PROVIDERS
from services.integration.events import ExecutionUpdated
from services.integration.models import PlatformCampaign
from services.integration.service.common import IntegrationWork
from services.integration.service.grants import Grants, NeedsReauth, Providers
from shared import errors
from shared.clock import utcnow
from shared.events.envelope import Event

AD_CHANNELS = {p.channel: p.name for p in PROVIDERS.values() if p.channel}
Outcome = tuple[str, str, int | None]  # status, the platform's id, the budget it runs on
Action = Callable[[Connector, Grant, PlatformCampaign | None], Awaitable[Outcome]]


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


class Launches:
    def __init__(self, grants: Grants, providers: Providers) -> None:
        self.grants = grants
        self.providers = providers

    async def on_launched(self, work: IntegrationWork, event: Event) -> None:
        data = event.data
        campaign_id = uuid.UUID(str(data["campaign_id"]))
        for channel in data.get("channels", []):
            name = channel["channel"]
            if name not in AD_CHANNELS:
                continue
            draft = CampaignDraft(
                key=str(campaign_id),
                name=str(data.get("name", ""))[:200],
                budget_minor=daily_budget(
                    int(channel["budget_minor"]),
                    str(data.get("budget_type", "daily")),
                    _when(data.get("start_at")),
                    _when(data.get("end_at")),
                ),
                currency=str(channel.get("currency") or data.get("currency")),
                start=_when(data.get("start_at")),
                end=_when(data.get("end_at")),
            )
            await self._act(work, campaign_id, name, lambda c, g, pc, d=draft: self._start(c, g, pc, d))

    async def on_stopped(self, work: IntegrationWork, event: Event) -> None:
        campaign_id = uuid.UUID(str(event.data["campaign_id"]))
        for stored in await work.repo.platform_campaigns(campaign_id):
            await self._act(work, campaign_id, stored.channel, self._stop)

    async def on_budget_changed(self, work: IntegrationWork, event: Event) -> None:
        campaign_id = uuid.UUID(str(event.data["campaign_id"]))
        currency = str(event.data.get("currency"))
        for budget in event.data.get("budgets", []):
            if budget["channel"] in AD_CHANNELS:
                amount = int(budget["budget_minor"])
                await self._act(
                    work,
                    campaign_id,
                    budget["channel"],
                    lambda c, g, pc, a=amount: self._budget(c, g, pc, a, currency),
                )

    async def _act(self, work: IntegrationWork, campaign_id: uuid.UUID, channel: str, action: Action) -> None:
        """Run one platform action and report it; an outage propagates so the event comes back."""
        provider = AD_CHANNELS[channel]
        assert work.tenant_id is not None
        stored = await work.repo.platform_campaign(campaign_id, channel)
        connection = await work.repo.active_connection(provider)
        if connection is None or (stored is not None and stored.connection_id != connection.id):
            await self._report(
                work, campaign_id, channel, stored, "failed", f"no active {provider} connection"
            )
            return
        try:
            grant = await self.grants.grant(work.tenant_id, connection.id)
            connector = self.providers.connector(provider)
            status, external_id, budget = await action(connector, grant, stored)
        except NeedsReauth as error:
            await self._report(work, campaign_id, channel, stored, "failed", str(error))
            return
        except ProviderError as error:
            if error.kind in ("rate_limited", "unavailable"):
                raise errors.Unavailable(f"{provider} is unavailable: {error}") from None
            await self._report(work, campaign_id, channel, stored, "failed", f"{provider} refused: {error}")
            return
        record = PlatformCampaign(
            tenant_id=work.tenant_id,
            campaign_id=campaign_id,
            channel=channel,
            connection_id=connection.id,
            external_id=external_id,
            status=status,
            budget_minor=budget,
            updated_at=utcnow(),
        )
        await work.repo.save_platform_campaign(record)
        await self._report(work, campaign_id, channel, record, status, None)

    @staticmethod
    async def _start(
        connector: Connector, grant: Grant, stored: PlatformCampaign | None, draft: CampaignDraft
    ) -> Outcome:
        if stored is None:
            found = await connector.find_campaign(grant, draft.key) or await connector.create_campaign(
                grant, draft
            )
            external_id = found.external_id
        else:
            external_id = stored.external_id
        await connector.set_running(grant, external_id, True)
        if stored is not None and stored.budget_minor != draft.budget_minor:
            await connector.set_budget(grant, external_id, draft.budget_minor, draft.currency)
        return "running", external_id, draft.budget_minor

    @staticmethod
    async def _stop(connector: Connector, grant: Grant, stored: PlatformCampaign | None) -> Outcome:
        assert stored is not None
        await connector.set_running(grant, stored.external_id, False)
        return "stopped", stored.external_id, stored.budget_minor

    @staticmethod
    async def _budget(
        connector: Connector, grant: Grant, stored: PlatformCampaign | None, amount: int, currency: str
    ) -> Outcome:
        if stored is None:
            raise ProviderError("rejected", "the campaign is not on this platform yet")
        await connector.set_budget(grant, stored.external_id, amount, currency)
        return stored.status, stored.external_id, amount

    @staticmethod
    async def _report(
        work: IntegrationWork,
        campaign_id: uuid.UUID,
        channel: str,
        record: PlatformCampaign | None,
        status: str,
        error: str | None,
    ) -> None:
        await work.emit(
            ExecutionUpdated(
                campaign_id=campaign_id,
                channel=channel,
                external_id=record.external_id if record else None,
                status=status,
                error=error[:1000] if error else None,
                budget_minor=record.budget_minor if record else None,
            )
        )
