"""The events campaign_management emits (DESIGN §4), as typed payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from shared.events.envelope import EventData


class ChannelBudgetData(BaseModel):
    channel: str
    budget_minor: int
    currency: str


class BudgetData(BaseModel):
    channel: str
    budget_minor: int


class CampaignCreated(EventData):
    event_type = "campaign.created"
    campaign_id: UUID
    name: str
    objective: str
    budget_type: str
    total_budget_minor: int
    currency: str
    channels: list[ChannelBudgetData]
    start_at: datetime | None
    end_at: datetime | None
    owner_user_id: UUID | None


class CampaignUpdated(EventData):
    """Any change but the ones with their own event; `changes` names the fields, `status` the state."""

    event_type = "campaign.updated"
    campaign_id: UUID
    status: str
    changes: list[str]
    total_budget_minor: int
    currency: str
    budget_type: str
    start_at: datetime | None
    end_at: datetime | None


class CampaignLaunched(EventData):
    event_type = "campaign.launched"
    campaign_id: UUID
    name: str
    objective: str
    start_at: datetime | None
    end_at: datetime | None
    channels: list[ChannelBudgetData]
    targeting: dict[str, Any]
    owner_user_id: UUID | None
    budget_type: str
    total_budget_minor: int
    currency: str


class CampaignStopped(EventData):
    """Shared shape of campaign.paused and campaign.completed (DESIGN §4)."""

    campaign_id: UUID
    channels: list[ChannelBudgetData]
    reason: str
    owner_user_id: UUID | None


class CampaignPaused(CampaignStopped):
    event_type = "campaign.paused"


class CampaignCompleted(CampaignStopped):
    event_type = "campaign.completed"


class CampaignBudgetChanged(EventData):
    event_type = "campaign.budget_changed"
    campaign_id: UUID
    budgets: list[BudgetData]
    currency: str
    total_budget_minor: int
    reason: str
    recommendation_id: UUID | None = None


class FunnelSynced(EventData):
    event_type = "funnel.synced"
    funnel_id: UUID
    campaign_id: UUID | None
    mautic: dict[str, Any]
    stages: int


class RecommendationApplied(EventData):
    event_type = "recommendation.applied"
    recommendation_id: UUID
    campaign_id: UUID
    task_id: UUID | None
    applied_by: str
    items: list[dict[str, Any]]
