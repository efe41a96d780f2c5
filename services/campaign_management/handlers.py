"""The event handlers of campaign_management, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant:
- `execution.updated` (integration): one execution per campaign and channel;
- `integration.connected`, `integration.sync_failed`: the connections a launch needs;
- `ai.recommendation.created` (ai_agents): recommendations to apply or dismiss.
"""

from __future__ import annotations

from services.campaign_management.bootstrap import Container
from shared.database import Connection
from shared.events.consumer import Handler
from shared.events.envelope import Event


def build_handlers(container: Container) -> dict[str, Handler]:
    def bind(use_case):  # type: ignore[no-untyped-def]
        async def handle(conn: Connection, event: Event) -> None:
            await use_case(container.uow.bind(conn, event.tenant_id), event)

        return handle

    operations, recommendations = container.operations, container.recommendations
    return {
        "execution.updated": bind(operations.on_execution_updated),
        "integration.connected": bind(operations.on_connection),
        "integration.sync_failed": bind(operations.on_connection),
        "ai.recommendation.created": bind(recommendations.on_recommendation_created),
    }
