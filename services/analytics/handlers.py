"""The event handlers of analytics, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from __future__ import annotations

from services.analytics.bootstrap import Container
from shared.events.consumer import Handler


def build_handlers(container: Container) -> dict[str, Handler]:
    return {}
