"""AI Agents service: CrewAI crews for web presence audits, SEO analysis, content generation and campaign optimization."""

from services.ai_agents.handlers import HANDLERS
from services.ai_agents.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS AI Agents",
    description="CrewAI crews for web presence audits, SEO analysis, content generation and campaign optimization.",
    handlers=HANDLERS,
)
