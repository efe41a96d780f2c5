"""The event handlers of ai_agents, built from its container.

Each runs inside the consumer's transaction, scoped to the event's tenant.
"""

from __future__ import annotations

from services.ai_agents.bootstrap import Container
from shared.events.consumer import Handler


def build_handlers(container: Container) -> dict[str, Handler]:
    return {}
