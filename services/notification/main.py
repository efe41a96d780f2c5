"""Notification service: Email, SMS, push and in-app notifications: templates, preferences, retries, delivery tracking."""

from services.notification.api import ROUTERS
from services.notification.bootstrap import build
from services.notification.handlers import build_handlers
from services.notification.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS Notification",
    description="Email, SMS, push and in-app notifications: templates, preferences, retries, delivery tracking.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
