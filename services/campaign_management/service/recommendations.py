"""Optimization: ask ai_agents for a task; keep what it recommends; apply a recommendation in one
transaction (new channel budgets, an audit entry, `recommendation.applied` and
`campaign.budget_changed`), or dismiss it. A recommendation is decided once: applying it again
is a 409, never a second change."""

from __future__ import annotations

import uuid
from typing import Any

from services.campaign_management.clients.fleet import FleetClients
from services.campaign_management.domain.budgets import apply_budget_items
from services.campaign_management.domain.lifecycle import Status
from services.campaign_management.events import BudgetData, CampaignBudgetChanged, RecommendationApplied
from services.campaign_management.models import Recommendation
from services.campaign_management.service.common import (
    CampaignUnitOfWork,
    CampaignWork,
    audit,
    campaign_or_404,
)
from shared import errors
from shared.clock import utcnow
from shared.events.envelope import Event

OPEN_FOR_CHANGES = {Status.DRAFT, Status.SCHEDULED, Status.ACTIVE, Status.PAUSED}


class Recommendations:
    def __init__(self, uow: CampaignUnitOfWork, fleet: FleetClients) -> None:
        self.uow = uow
        self.fleet = fleet

    async def optimize(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, actor: str) -> dict[str, Any]:
        """Starts a `campaign_optimization` task at ai_agents; its answer (id, status URL) is ours."""
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id)
            if Status(campaign.status) not in OPEN_FOR_CHANGES:
                raise errors.Conflict(
                    f"a {campaign.status} campaign is not optimized", current_status=campaign.status
                )
        return await self.fleet.start_optimization(tenant_id, campaign_id, actor)

    async def list(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list[Recommendation]:
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            return await work.repo.recommendations(campaign_id)

    async def get(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, recommendation_id: uuid.UUID
    ) -> Recommendation:
        async with self.uow(tenant_id) as work:
            return await _recommendation_or_404(work, campaign_id, recommendation_id)

    async def add(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, items: list[dict[str, Any]]
    ) -> Recommendation:
        """A recommendation written by hand (a person's advice, through the API)."""
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            return await work.repo.add(
                Recommendation(id=uuid.uuid4(), tenant_id=tenant_id, campaign_id=campaign_id, items=items)
            )

    async def on_recommendation_created(self, work: CampaignWork, event: Event) -> None:
        """`ai.recommendation.created`: stored once per task, for the campaign it names."""
        data = event.data
        if event.tenant_id is None:
            return
        campaign = await work.repo.campaign(uuid.UUID(str(data["campaign_id"])))
        if campaign is None:
            return
        await work.repo.add_recommendation_once(
            Recommendation(
                id=uuid.uuid4(),
                tenant_id=event.tenant_id,
                campaign_id=campaign.id,
                task_id=uuid.UUID(str(data["task_id"])) if data.get("task_id") else None,
                items=list(data.get("items", [])),
            )
        )

    async def apply(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, recommendation_id: uuid.UUID, actor: str
    ) -> Recommendation:
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id, for_update=True)
            recommendation = await _open_or_conflict(work, campaign_id, recommendation_id)
            if Status(campaign.status) not in OPEN_FOR_CHANGES:
                raise errors.Conflict(
                    f"a {campaign.status} campaign cannot change", current_status=campaign.status
                )
            before = campaign.budgets
            after = apply_budget_items(before, recommendation.items)
            now = utcnow()
            if after != before:
                channels = [{"channel": name, "budget_minor": budget} for name, budget in after.items()]
                campaign = await work.repo.update(
                    campaign,
                    channels=channels,
                    total_budget_minor=sum(after.values()),
                    version=campaign.version + 1,
                    updated_at=now,
                )
            recommendation = await work.repo.update(
                recommendation, status="applied", decided_by=actor, decided_at=now
            )
            await audit(
                work,
                campaign,
                "recommendation_applied",
                actor,
                recommendation_id=str(recommendation.id),
                before=before,
                after=after,
            )
            await work.emit(
                RecommendationApplied(
                    recommendation_id=recommendation.id,
                    campaign_id=campaign.id,
                    task_id=recommendation.task_id,
                    applied_by=actor,
                    items=recommendation.items,
                )
            )
            if after != before:
                await work.emit(
                    CampaignBudgetChanged(
                        campaign_id=campaign.id,
                        budgets=[
                            BudgetData(channel=name, budget_minor=budget) for name, budget in after.items()
                        ],
                        currency=campaign.currency,
                        total_budget_minor=campaign.total_budget_minor,
                        reason="recommendation",
                        recommendation_id=recommendation.id,
                    )
                )
            return recommendation

    async def dismiss(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, recommendation_id: uuid.UUID, actor: str
    ) -> Recommendation:
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id)
            recommendation = await _open_or_conflict(work, campaign_id, recommendation_id)
            recommendation = await work.repo.update(
                recommendation, status="dismissed", decided_by=actor, decided_at=utcnow()
            )
            await audit(
                work, campaign, "recommendation_dismissed", actor, recommendation_id=str(recommendation.id)
            )
            return recommendation


async def _recommendation_or_404(
    work: CampaignWork, campaign_id: uuid.UUID, recommendation_id: uuid.UUID, *, for_update: bool = False
) -> Recommendation:
    await campaign_or_404(work, campaign_id)
    recommendation = await work.repo.recommendation(recommendation_id, for_update=for_update)
    if recommendation is None or recommendation.campaign_id != campaign_id:
        raise errors.NotFound("no such recommendation")
    return recommendation


async def _open_or_conflict(
    work: CampaignWork, campaign_id: uuid.UUID, recommendation_id: uuid.UUID
) -> Recommendation:
    recommendation = await _recommendation_or_404(work, campaign_id, recommendation_id, for_update=True)
    if recommendation.status != "open":
        raise errors.Conflict(
            f"this recommendation was {recommendation.status} already", current_status=recommendation.status
        )
    return recommendation
