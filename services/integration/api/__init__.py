"""HTTP routes of integration: parse, authorize, call a use case, shape the answer."""

from services.integration.api import connections, syncs, webhooks

ROUTERS = (connections.router, syncs.router, webhooks.router)
