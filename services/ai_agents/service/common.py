"""What the ai_agents use cases share: the unit of work, the clock, the background role."""

from __future__ import annotations

from services.ai_agents.repository import AgentRepository
from shared.fleet import spec
from shared.unit_of_work import UnitOfWork, Work

AgentWork = Work[AgentRepository]
AgentUnitOfWork = UnitOfWork[AgentRepository]
BACKGROUND_ROLE = str(spec("ai_agents").background_role)
