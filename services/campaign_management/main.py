"""Campaign Management service: Campaigns and their lifecycle, budgets, channels, funnels synced to Mautic, executions, recommendations."""

from services.campaign_management.handlers import HANDLERS
from services.campaign_management.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS Campaign Management",
    description="Campaigns and their lifecycle, budgets, channels, funnels synced to Mautic, executions, recommendations.",
    handlers=HANDLERS,
)
