"""User Management service: tenants, users, login and token rotation, RBAC, sessions, security log,
service accounts, JWKS."""

from services.user_management.api import ROUTERS
from services.user_management.handlers import HANDLERS
from services.user_management.keys import TokenIssuer
from services.user_management.passwords import Passwords
from services.user_management.service import IdentityService
from services.user_management.settings import Settings
from shared.app import ServiceRuntime, create_service_app
from shared.config import load_settings

settings = load_settings(Settings)


async def startup(rt: ServiceRuntime) -> None:
    issuer = TokenIssuer.from_files(
        settings.jwt_private_key_file,
        settings.jwt_additional_public_key_files,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    assert rt.sessions is not None
    identity = IdentityService(rt.sessions, settings, issuer, passwords)
    rt.extras["identity"] = identity
    # This service signs the tokens, so it verifies them with its own keys, not over HTTP.
    rt.token_verifier.keys.load(issuer.jwks)
    await identity.provision_service_accounts()


app = create_service_app(
    settings,
    title="BizOSaaS User Management",
    description="Tenants, users, login and token rotation, RBAC, sessions, security log, service accounts, JWKS.",
    routers=ROUTERS,
    handlers=HANDLERS,
    startup=startup,
)
