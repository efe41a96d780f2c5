"""HTTP routes of ai_agents: parse, authorize, call a use case, shape the answer."""

from services.ai_agents.api import tasks

ROUTERS = (tasks.router,)
