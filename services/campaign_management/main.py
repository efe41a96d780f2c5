"""Campaign Management service: Campaigns and their lifecycle, budgets, channels, funnels synced to Mautic, executions, recommendations."""

from services.campaign_management.api import ROUTERS
from services.campaign_management.bootstrap import build
from services.campaign_management.handlers import build_handlers
from services.campaign_management.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS Campaign Management",
    description="Campaigns and their lifecycle, budgets, channels, funnels synced to Mautic, executions, recommendations.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
