"""Notification service: Email, SMS, push and in-app notifications: templates, preferences, retries, delivery tracking."""

from services.notification.handlers import HANDLERS
from services.notification.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS Notification",
    description="Email, SMS, push and in-app notifications: templates, preferences, retries, delivery tracking.",
    handlers=HANDLERS,
)
