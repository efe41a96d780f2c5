"""The event handlers of ai_agents, built from its container: none. Tasks arrive over HTTP
(`POST /ai/tasks`, also from campaign_management for flow 4) and their outcomes leave as events
(`ai.task.completed`, `ai.task.failed`, `ai.recommendation.created`)."""

from __future__ import annotations

from services.ai_agents.bootstrap import Container
from shared.events.consumer import Handler


def build_handlers(container: Container) -> dict[str, Handler]:
    return {}
