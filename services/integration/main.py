"""Integration service: Connectors to Google Ads, Meta, LinkedIn, Stripe and Mautic: credentials, OAuth refresh, syncs, webhooks."""

from services.integration.handlers import HANDLERS
from services.integration.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS Integration",
    description="Connectors to Google Ads, Meta, LinkedIn, Stripe and Mautic: credentials, OAuth refresh, syncs, webhooks.",
    handlers=HANDLERS,
)
