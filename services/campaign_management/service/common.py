"""What the campaign use cases share: the unit of work, lookups that 404, event payload parts."""

from __future__ import annotations

import uuid

from services.campaign_management.events import CampaignUpdated, ChannelBudgetData
from services.campaign_management.models import AuditEntry, Campaign, Transition
from services.campaign_management.repository import CampaignRepository
from shared import errors
from shared.fleet import spec
from shared.unit_of_work import UnitOfWork, Work

CampaignWork = Work[CampaignRepository]
CampaignUnitOfWork = UnitOfWork[CampaignRepository]

SCHEDULER = "scheduler"
SCHEDULER_ROLE = str(spec("campaign_management").background_role)


async def campaign_or_404(
    work: CampaignWork, campaign_id: uuid.UUID, *, for_update: bool = False
) -> Campaign:
    """Another tenant's campaign is invisible (row level security), hence the same 404."""
    campaign = await work.repo.campaign(campaign_id, for_update=for_update)
    if campaign is None:
        raise errors.NotFound("no such campaign")
    return campaign


def channel_data(campaign: Campaign) -> list[ChannelBudgetData]:
    return [
        ChannelBudgetData(
            channel=c["channel"], budget_minor=int(c["budget_minor"]), currency=campaign.currency
        )
        for c in campaign.channels
    ]


def updated_event(campaign: Campaign, changes: list[str]) -> CampaignUpdated:
    return CampaignUpdated(
        campaign_id=campaign.id,
        status=campaign.status,
        changes=changes,
        total_budget_minor=campaign.total_budget_minor,
        currency=campaign.currency,
        budget_type=campaign.budget_type,
        start_at=campaign.start_at,
        end_at=campaign.end_at,
    )


async def record_transition(
    work: CampaignWork, campaign: Campaign, from_status: str, actor: str, reason: str | None
) -> None:
    await work.repo.add(
        Transition(
            id=uuid.uuid4(),
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            from_status=from_status,
            to_status=campaign.status,
            actor=actor,
            reason=reason,
        )
    )


async def audit(work: CampaignWork, campaign: Campaign, action: str, actor: str, **detail: object) -> None:
    await work.repo.add(
        AuditEntry(
            id=uuid.uuid4(),
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            action=action,
            actor=actor,
            detail=dict(detail),
        )
    )
