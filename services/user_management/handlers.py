"""Event handlers of the user_management service, keyed by event type.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from services.user_management.service import on_payment
from shared.events import Handler

HANDLERS: dict[str, Handler] = {"payment.succeeded": on_payment, "payment.failed": on_payment}
