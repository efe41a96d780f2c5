"""AI Agents service: CrewAI crews for web presence audits, SEO analysis, content generation and campaign optimization."""

from services.ai_agents.api import ROUTERS
from services.ai_agents.bootstrap import build
from services.ai_agents.handlers import build_handlers
from services.ai_agents.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS AI Agents",
    description="CrewAI crews for web presence audits, SEO analysis, content generation and campaign optimization.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
