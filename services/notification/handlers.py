"""The event handlers of notification, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant (service/reactions.py
says what each one sends): user.registered (flow 1), user.invited, user.login_failed_locked,
campaign.launched and completed (flow 3), kpi.alert, report.ready (flow 5),
integration.sync_failed, payment.failed, ai.task.completed. Execution failures reach campaign
owners through campaign_management's notices (`POST /notifications`), not twice from here.
"""

from __future__ import annotations

from services.notification.bootstrap import Container
from services.notification.service.reactions import Reaction
from shared.database import Connection
from shared.events.consumer import Handler
from shared.events.envelope import Event


def build_handlers(container: Container) -> dict[str, Handler]:
    def bind(reaction: Reaction) -> Handler:
        async def handle(conn: Connection, event: Event) -> None:
            await reaction(container.uow.bind(conn, event.tenant_id), event)

        return handle

    r = container.reactions
    return {
        "user.registered": bind(r.on_registered),
        "user.invited": bind(r.on_invited),
        "user.login_failed_locked": bind(r.on_locked),
        "campaign.launched": bind(r.on_campaign),
        "campaign.completed": bind(r.on_campaign),
        "kpi.alert": bind(r.on_kpi_alert),
        "report.ready": bind(r.on_report_ready),
        "integration.sync_failed": bind(r.on_sync_failed),
        "payment.failed": bind(r.on_payment_failed),
        "ai.task.completed": bind(r.on_ai_task),
    }
