"""Request and response bodies of campaign_management. Requests refuse unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.campaign_management.domain.budgets import CHANNELS
from services.campaign_management.domain.lifecycle import Status, allowed_actions
from shared.text import IsoInstant, StorableRequest, trimmed

Channel = Literal["google_ads", "meta_ads", "linkedin_ads", "email"]
Objective = Literal["awareness", "traffic", "leads", "sales"]
Name = trimmed(200)
Word = trimmed(80)
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Minor = Annotated[int, Field(ge=0, le=10**15)]


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a time zone (UTC: end it with Z)")
    return value


Text = Annotated[str, StringConstraints(max_length=500), AfterValidator(_clean_text)]
Moment = Annotated[IsoInstant | None, AfterValidator(_utc)]


Request = StorableRequest


class ChannelBudgetIn(Request):
    channel: Channel
    budget_minor: Minor


class Targeting(Request):
    locations: list[Word] = Field(default_factory=list, max_length=100)
    languages: list[Word] = Field(default_factory=list, max_length=50)
    age_min: int | None = Field(None, ge=13, le=100)
    age_max: int | None = Field(None, ge=13, le=100)
    interests: list[Word] = Field(default_factory=list, max_length=100)
    keywords: list[Word] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _ages(self) -> Targeting:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        return self


class Utm(Request):
    source: Word | None = None
    medium: Word | None = None
    campaign: Word | None = None
    term: Word | None = None
    content: Word | None = None


class CampaignFields(Request):
    """Shared by create and update; on update every field is optional and only the given change."""

    name: Name | None = None
    objective: Objective | None = None
    budget_type: Literal["daily", "lifetime"] | None = None
    total_budget_minor: Minor | None = Field(None, description="Defaults to the sum of the channel budgets.")
    currency: Currency | None = None
    channels: list[ChannelBudgetIn] | None = Field(None, max_length=len(CHANNELS))
    start_at: Moment = None
    end_at: Moment = None
    targeting: Targeting | None = None
    utm: Utm | None = None
    tags: list[Word] | None = Field(None, max_length=50)
    owner_user_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CampaignFields:
        if self.channels is not None and len({c.channel for c in self.channels}) != len(self.channels):
            raise ValueError("each channel may appear once")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must come after start_at")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CampaignCreate(CampaignFields):
    name: Name
    objective: Objective
    budget_type: Literal["daily", "lifetime"] = "lifetime"
    currency: Currency
    channels: list[ChannelBudgetIn] = Field(default_factory=list, max_length=len(CHANNELS))

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def refuse_nulls(model: BaseModel, nullable: set[str]) -> None:
    """On a partial update an absent field means "unchanged"; an explicit null may only clear a
    field that can be empty."""
    cleared = sorted(n for n in model.model_fields_set - nullable if getattr(model, n) is None)
    if cleared:
        raise ValueError(f"{', '.join(cleared)} cannot be null; leave a field out to keep it")


class CampaignUpdate(CampaignFields):
    @model_validator(mode="after")
    def _no_nulls(self) -> CampaignUpdate:
        refuse_nulls(self, {"start_at", "end_at", "owner_user_id"})
        return self


class TransitionRequest(Request):
    reason: Text | None = None


class ChannelBudgetOut(BaseModel):
    channel: str
    budget_minor: int


class CampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    objective: str
    status: str
    allowed_actions: list[str]
    budget_type: str
    total_budget_minor: int
    currency: str
    channels: list[ChannelBudgetOut]
    start_at: datetime | None
    end_at: datetime | None
    targeting: dict[str, Any]
    utm: dict[str, Any]
    tags: list[str]
    owner_user_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, campaign: Any) -> CampaignOut:
        return cls(
            **{name: getattr(campaign, name) for name in cls.model_fields if name != "allowed_actions"},
            allowed_actions=allowed_actions(Status(campaign.status)),
        )


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class TransitionOut(BaseModel):
    from_status: str
    to_status: str
    actor: str
    reason: str | None
    at: datetime

    model_config = ConfigDict(from_attributes=True)


class AuditEntryOut(BaseModel):
    action: str
    actor: str
    detail: dict[str, Any]
    at: datetime

    model_config = ConfigDict(from_attributes=True)


class ExecutionOut(BaseModel):
    channel: str
    status: str
    external_id: str | None
    error: str | None
    last_synced_at: datetime | None
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class PerformanceOut(BaseModel):
    campaign_id: uuid.UUID
    stale: bool = Field(
        description="True when analytics was unreachable and these are the last known figures."
    )
    fetched_at: datetime
    figures: dict[str, Any] = Field(
        description="Totals, per channel and per day, with KPIs (from analytics)."
    )


class RecommendationItem(Request):
    kind: Literal["budget_move", "pause_channel", "bid_change", "audience_change"]
    channel: Channel
    from_budget_minor: Minor | None = None
    to_budget_minor: Minor | None = None
    rationale: Text
    expected_effect: Text | None = None


class RecommendationCreate(Request):
    items: list[RecommendationItem] = Field(min_length=1, max_length=20)


class RecommendationOut(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    task_id: uuid.UUID | None
    items: list[dict[str, Any]]
    status: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


# --- funnels -----------------------------------------------------------------------------------


class EntryRule(Request):
    type: Literal["form_submitted", "email_opened", "page_visited", "points_above"]
    value: int | Word | None = None

    @model_validator(mode="after")
    def _threshold(self) -> EntryRule:
        if self.type == "points_above" and not isinstance(self.value, int):
            raise ValueError("points_above needs an integer value")
        return self


class StageIn(Request):
    name: Word
    weight: int = Field(ge=0, le=10_000)
    entry_rule: EntryRule


class Audience(Request):
    tags: list[Word] = Field(default_factory=list, max_length=50)
    min_points: int | None = Field(None, ge=0, le=1_000_000)
    countries: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, max_length=50
    )


class NurtureStep(Request):
    name: Word
    type: Literal["email", "points"] = "email"
    email_id: int | None = Field(None, ge=1)
    delay_days: int = Field(0, ge=0, le=365)


class ScoringRule(Request):
    action: Literal["form_submitted", "email_opened", "page_visited"]
    delta: int = Field(ge=-1000, le=1000)


class FunnelFields(Request):
    name: Name | None = None
    campaign_id: uuid.UUID | None = None
    stages: list[StageIn] | None = Field(None, max_length=50)
    audience: Audience | None = None
    nurture: list[NurtureStep] | None = Field(None, max_length=50)
    scoring: list[ScoringRule] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _unique_stages(self) -> FunnelFields:
        if self.stages is not None and len({s.name for s in self.stages}) != len(self.stages):
            raise ValueError("stage names must be unique within a funnel")
        return self


class FunnelCreate(FunnelFields):
    name: Name
    stages: list[StageIn] = Field(min_length=1, max_length=50)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class FunnelUpdate(FunnelFields):
    @model_validator(mode="after")
    def _no_nulls(self) -> FunnelUpdate:
        refuse_nulls(self, {"campaign_id"})
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class StageOut(BaseModel):
    name: str
    weight: int
    entry_rule: dict[str, Any]
    mautic_stage_id: int | None
    mautic_trigger_id: int | None

    model_config = ConfigDict(from_attributes=True)


class FunnelOut(BaseModel):
    id: uuid.UUID
    name: str
    campaign_id: uuid.UUID | None
    stages: list[StageOut]
    audience: dict[str, Any]
    nurture: list[dict[str, Any]]
    scoring: list[dict[str, Any]]
    mautic: dict[str, Any]
    sync_status: str
    sync_error: str | None
    synced_at: datetime | None
    version: int
    created_at: datetime

    @classmethod
    def of(cls, view: Any) -> FunnelOut:
        funnel = view.funnel
        fields = {name: getattr(funnel, name) for name in cls.model_fields if name != "stages"}
        return cls(**fields, stages=[StageOut.model_validate(s) for s in view.stages])


class FunnelPage(BaseModel):
    items: list[FunnelOut]
    next_cursor: str | None = None
