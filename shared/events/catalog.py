"""The event catalog of DESIGN §4: which service produces each type, and the versions understood.

A consumer dead-letters a type not listed here, or a version not listed for its type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    producer: str
    versions: frozenset[int] = frozenset({1})


def _types(producer: str, *names: str) -> list[EventType]:
    return [EventType(name, producer) for name in names]


CATALOG: dict[str, EventType] = {
    t.name: t
    for t in [
        *_types(
            "user_management",
            "tenant.created",
            "tenant.plan_changed",
            "user.registered",
            "user.invited",
            "user.role_changed",
            "user.deactivated",
            "user.login_failed_locked",
            "user.password_changed",
        ),
        *_types(
            "campaign_management",
            "campaign.created",
            "campaign.updated",
            "campaign.launched",
            "campaign.paused",
            "campaign.completed",
            "campaign.budget_changed",
            "funnel.synced",
            "recommendation.applied",
        ),
        *_types("analytics", "metrics.ingested", "kpi.alert", "report.ready"),
        *_types(
            "integration",
            "integration.connected",
            "integration.sync_completed",
            "integration.sync_failed",
            "execution.updated",
            "payment.succeeded",
            "payment.failed",
            "webhook.received",
        ),
        *_types("notification", "notification.sent", "notification.delivered", "notification.failed"),
        *_types("ai_agents", "ai.task.completed", "ai.task.failed", "ai.recommendation.created"),
    ]
}

DEAD_LETTER_STREAM = "events.dead"


def stream_of(producer: str) -> str:
    return f"events.{producer}"


def producer_of(event_type: str) -> str:
    return CATALOG[event_type].producer
