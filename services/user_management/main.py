"""User Management service: tenants, users, login and token rotation, RBAC, sessions, security log,
service accounts, JWKS."""

from services.user_management.api import ROUTERS
from services.user_management.bootstrap import build
from services.user_management.handlers import build_handlers
from services.user_management.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

app = create_service_app(
    load_settings(Settings),
    title="BizOSaaS User Management",
    description="Tenants, users, login and token rotation, RBAC, sessions, security log, service accounts, JWKS.",
    routers=ROUTERS,
    build=build,
    handlers=build_handlers,
)
