"""The event handlers of analytics, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant:
- `integration.sync_completed`: the synced rows, through ingestion (flow 2);
- `execution.updated`: which platform campaign is which of ours (parked rows follow);
- campaign_management's campaign events: names, budgets and flights, for pacing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.analytics.bootstrap import Container
from services.analytics.service.common import AnalyticsWork
from shared.database import Connection
from shared.events.consumer import Handler
from shared.events.envelope import Event

CAMPAIGN_EVENTS = (
    "campaign.created",
    "campaign.updated",
    "campaign.launched",
    "campaign.paused",
    "campaign.completed",
    "campaign.budget_changed",
)


def build_handlers(container: Container) -> dict[str, Handler]:
    def bind(use_case: Callable[[AnalyticsWork, Event], Awaitable[None]]) -> Handler:
        async def handle(conn: Connection, event: Event) -> None:
            await use_case(container.uow.bind(conn, event.tenant_id), event)

        return handle

    feeds = container.feeds
    return {
        "integration.sync_completed": bind(feeds.on_sync_completed),
        "execution.updated": bind(feeds.on_execution_updated),
        **{event_type: bind(feeds.on_campaign) for event_type in CAMPAIGN_EVENTS},
    }
