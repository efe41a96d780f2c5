"""The event handlers of integration, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from __future__ import annotations

from services.integration.bootstrap import Container
from shared.events.consumer import Handler


def build_handlers(container: Container) -> dict[str, Handler]:
    return {}
