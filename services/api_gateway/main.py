"""API Gateway service: The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs."""

from services.api_gateway.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS API Gateway",
    description="The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs.",
)
