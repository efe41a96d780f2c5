"""Moving campaigns through their lifecycle: by hand (launch, pause, resume, complete, archive)
and by the scheduler (scheduled -> active at the start, active or paused -> completed at the end).

Every move is recorded (who, when, from, to, why) and announced with its event in the same
transaction. The scheduler acts exactly once with any number of replicas: a transaction-level
advisory lock lets one replica at a time look for due campaigns, and each move is made on the
locked row after re-checking its state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from services.campaign_management.domain import budgets
from services.campaign_management.domain.lifecycle import Action, Status, next_status
from services.campaign_management.events import (
    CampaignCompleted,
    CampaignLaunched,
    CampaignPaused,
)
from services.campaign_management.models import Campaign
from services.campaign_management.service.common import (
    SCHEDULER,
    SCHEDULER_ROLE,
    CampaignUnitOfWork,
    CampaignWork,
    campaign_or_404,
    channel_data,
    record_transition,
    updated_event,
)
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("campaign_management.scheduler")

SCHEDULER_LOCK = 7_270_275
DUE_BATCH = 100


class Lifecycle:
    def __init__(self, uow: CampaignUnitOfWork) -> None:
        self.uow = uow
        self._outage = Outage(logger, "campaign scheduler: database")

    async def act(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, action: Action, actor: str, reason: str | None
    ) -> Campaign:
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id, for_update=True)
            return await self._move(work, campaign, action, actor, reason)

    async def history(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list:  # type: ignore[type-arg]
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            return await work.repo.transitions(campaign_id)

    async def _move(
        self, work: CampaignWork, campaign: Campaign, action: Action, actor: str, reason: str | None
    ) -> Campaign:
        now = utcnow()
        current = Status(campaign.status)
        target = next_status(current, action, campaign.start_at, now)
        if action is Action.LAUNCH:
            problems = budgets.launch_problems(
                [budgets.ChannelBudget(c["channel"], int(c["budget_minor"])) for c in campaign.channels],
                campaign.total_budget_minor,
                campaign.start_at,
                campaign.end_at,
                now,
                await work.repo.connected_providers(),
            )
            if problems:
                raise budgets.LaunchRefused(problems)
        campaign = await work.repo.update(
            campaign, status=target.value, version=campaign.version + 1, updated_at=now
        )
        await record_transition(work, campaign, current.value, actor, reason)
        await work.emit(self._event(campaign, current, action, reason))
        return campaign

    @staticmethod
    def _event(campaign: Campaign, before: Status, action: Action, reason: str | None):  # type: ignore[no-untyped-def]
        status = Status(campaign.status)
        why = reason or action.value
        if status is Status.ACTIVE:
            return CampaignLaunched(
                campaign_id=campaign.id,
                name=campaign.name,
                objective=campaign.objective,
                start_at=campaign.start_at,
                end_at=campaign.end_at,
                channels=channel_data(campaign),
                targeting=campaign.targeting,
                owner_user_id=campaign.owner_user_id,
                budget_type=campaign.budget_type,
                total_budget_minor=campaign.total_budget_minor,
                currency=campaign.currency,
            )
        if status is Status.PAUSED:
            return CampaignPaused(
                campaign_id=campaign.id,
                channels=channel_data(campaign),
                reason=why,
                owner_user_id=campaign.owner_user_id,
            )
        if status is Status.COMPLETED:
            return CampaignCompleted(
                campaign_id=campaign.id,
                channels=channel_data(campaign),
                reason=why,
                owner_user_id=campaign.owner_user_id,
            )
        return updated_event(campaign, ["status"])  # scheduled, archived: nothing to start or stop

    # --- the scheduler -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.tick, self._outage, is_infrastructure_error)

    async def tick(self) -> int:
        """Start and complete what is due; returns how many campaigns moved. Another replica
        holding the lock means it is doing this very work: skip this tick."""
        moved = 0
        async with self.uow(None) as work:
            if not await work.conn.fetchval("select pg_try_advisory_xact_lock($1)", SCHEDULER_LOCK):
                return 0
            for campaign_id, tenant_id in await work.read_as(
                SCHEDULER_ROLE, lambda: work.repo.due_campaigns(DUE_BATCH)
            ):
                await work.scope_to(tenant_id)
                campaign = await work.repo.campaign(campaign_id, for_update=True)
                if campaign is not None and await self._act_if_due(work, campaign):
                    moved += 1
        return moved

    async def _act_if_due(self, work: CampaignWork, campaign: Campaign) -> bool:
        now = utcnow()
        status = Status(campaign.status)
        if status is Status.SCHEDULED and campaign.start_at is not None and campaign.start_at <= now:
            await self._move(work, campaign, Action.START, SCHEDULER, "start time reached")
            return True
        if (
            status in (Status.ACTIVE, Status.PAUSED)
            and campaign.end_at is not None
            and campaign.end_at <= now
        ):
            await self._move(work, campaign, Action.COMPLETE, SCHEDULER, "end time reached")
            return True
        return False
