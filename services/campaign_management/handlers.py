"""Event handlers of the campaign_management service, keyed by event type.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from shared.events import Handler

HANDLERS: dict[str, Handler] = {}
