"""The event handlers of integration, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant (flow 3):
- `campaign.launched` (also on resume): create or activate the campaign on each ad platform;
- `campaign.paused`, `campaign.completed`: pause it there;
- `campaign.budget_changed`: move its budget there.
Every outcome is reported with `execution.updated`.
"""

from __future__ import annotations

from services.integration.bootstrap import Container
from shared.database import Connection
from shared.events.consumer import Handler
from shared.events.envelope import Event


def build_handlers(container: Container) -> dict[str, Handler]:
    def bind(use_case):  # type: ignore[no-untyped-def]
        async def handle(conn: Connection, event: Event) -> None:
            await use_case(container.uow.bind(conn, event.tenant_id), event)

        return handle

    launches = container.launches
    return {
        "campaign.launched": bind(launches.on_launched),
        "campaign.paused": bind(launches.on_stopped),
        "campaign.completed": bind(launches.on_stopped),
        "campaign.budget_changed": bind(launches.on_budget_changed),
    }
