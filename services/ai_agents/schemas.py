"""Request and response models of the ai_agents API (HTTP only). Each task type has its own input
model, checked before the task is queued."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from shared.text import StorableRequest

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,2000}$")]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class PresenceInput(StorableRequest):
    url: Url
    business_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    location: Annotated[str, StringConstraints(max_length=200)] | None = None


class SeoInput(StorableRequest):
    url: Url
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)


class ContentInput(StorableRequest):
    brief: Annotated[str, StringConstraints(min_length=3, max_length=4000)]
    channel: Literal["blog", "ad_copy", "email", "social"]
    tone: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "professional"
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    length: Literal["short", "medium", "long"] = "medium"


class OptimizationInput(StorableRequest):
    campaign_id: uuid.UUID


INPUTS: dict[str, TypeAdapter[Any]] = {
    "digital_presence_audit": TypeAdapter(PresenceInput),
    "seo_analysis": TypeAdapter(SeoInput),
    "content_generation": TypeAdapter(ContentInput),
    "campaign_optimization": TypeAdapter(OptimizationInput),
}


class TaskIn(StorableRequest):
    type: Literal["digital_presence_audit", "seo_analysis", "content_generation", "campaign_optimization"]
    input: dict[str, Any]
    requested_by: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="For peers acting for a user (service tokens only)."
    )


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    input: dict[str, Any]
    status: str
    progress: list[dict[str, Any]]
    engine: str | None
    token_usage: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    runs: int
    cancel_requested: bool
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TaskAccepted(TaskOut):
    status_url: str


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class ContentHit(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    task_id: uuid.UUID | None
    created_at: datetime
    similarity: float


class ContentSearch(BaseModel):
    embedder: str
    items: list[ContentHit]


class AgentsOut(BaseModel):
    engine: str
    crews: list[dict[str, Any]]
    tools: list[dict[str, Any]]
