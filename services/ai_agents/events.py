"""The events ai_agents emits (DESIGN §4), as typed payloads."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.events.envelope import EventData


class TaskCompleted(EventData):
    event_type = "ai.task.completed"
    task_id: UUID
    type: str
    requested_by: str
    engine: str
    summary: str


class TaskFailed(EventData):
    event_type = "ai.task.failed"
    task_id: UUID
    type: str
    requested_by: str
    engine: str | None
    error: str


class RecommendationCreated(EventData):
    """Flow 4: campaign_management stores it; applying it changes the budgets."""

    event_type = "ai.recommendation.created"
    task_id: UUID
    campaign_id: UUID
    items: list[dict[str, Any]]
