"""User Management service: Tenants, users, login and token rotation, RBAC, sessions, security log, service accounts, JWKS."""

from services.user_management.handlers import HANDLERS
from services.user_management.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

settings = load_settings(Settings)

app = create_service_app(
    settings,
    title="BizOSaaS User Management",
    description="Tenants, users, login and token rotation, RBAC, sessions, security log, service accounts, JWKS.",
    handlers=HANDLERS,
)
