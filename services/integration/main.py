"""Integration service: Connectors to Google Ads, Meta, LinkedIn, Stripe and Mautic: credentials, OAuth refresh, syncs, webhooks."""

from services.integration.api import ROUTERS
from services.integration.bootstrap import build
from services.integration.handlers import build_handlers
from services.integration.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS Integration",
    description="Connectors to Google Ads, Meta, LinkedIn, Stripe and Mautic: credentials, OAuth refresh, syncs, webhooks.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
