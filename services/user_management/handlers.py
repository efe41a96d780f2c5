"""The event handlers of user_management, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from __future__ import annotations

from services.user_management.bootstrap import Container
from shared.database import Connection
from shared.events.consumer import Handler
from shared.events.envelope import Event


def build_handlers(container: Container) -> dict[str, Handler]:
    async def on_payment(conn: Connection, event: Event) -> None:
        await container.tenants.on_payment(container.uow.bind(conn, event.tenant_id), event)

    return {"payment.succeeded": on_payment, "payment.failed": on_payment}
