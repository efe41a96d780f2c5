"""Analytics service: Metric ingestion, rollups, KPIs, dashboards, background reports and anomalies."""

from services.analytics.api import ROUTERS
from services.analytics.bootstrap import build
from services.analytics.handlers import build_handlers
from services.analytics.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS Analytics",
    description="Metric ingestion, rollups, KPIs, dashboards, background reports and anomalies.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
