"""Analytics service: Metric ingestion, rollups, KPIs, dashboards, background reports and anomalies."""

from services.analytics.handlers import HANDLERS
from services.analytics.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS Analytics",
    description="Metric ingestion, rollups, KPIs, dashboards, background reports and anomalies.",
    handlers=HANDLERS,
)
