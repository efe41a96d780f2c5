"""The objects of user_management, built once at start and handed to routes and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.user_management.domain import LockoutPolicy
from services.user_management.keys import TokenIssuer
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.service.administration import UserAdministration
from services.user_management.service.credentials import Credentials
from services.user_management.service.self_service import SelfService
from services.user_management.service.service_accounts import ServiceAccounts
from services.user_management.service.sessions import Authentication
from services.user_management.service.tenants import Tenants
from services.user_management.service.tokens import SessionTokens
from services.user_management.settings import Settings
from shared.infrastructure import BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    issuer: TokenIssuer
    uow: UnitOfWork[IdentityRepository]
    authentication: Authentication
    self_service: SelfService
    administration: UserAdministration
    tenants: Tenants
    service_accounts: ServiceAccounts


async def build(infra: Infrastructure, settings: Settings) -> Container:
    issuer = TokenIssuer.from_files(
        settings.jwt_private_key_file,
        settings.jwt_additional_public_key_files,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    # This service signs the tokens, so it verifies them with its own keys, not over HTTP.
    infra.verifier.keys.load(issuer.jwks)
    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    uow = UnitOfWork(infra.database, infra.outbox, IdentityRepository)
    lockout = LockoutPolicy(
        settings.login_lockout_threshold, timedelta(minutes=settings.login_lockout_minutes)
    )
    credentials = Credentials(passwords, lockout)
    tokens = SessionTokens(issuer, settings.access_token_ttl_seconds, settings.refresh_token_ttl_days)
    minimum = settings.password_min_length
    container = Container(
        infra=infra,
        settings=settings,
        issuer=issuer,
        uow=uow,
        authentication=Authentication(uow, tokens, passwords, credentials, minimum),
        self_service=SelfService(uow, passwords, credentials, minimum),
        administration=UserAdministration(
            uow,
            passwords,
            password_min_length=minimum,
            invite_ttl=timedelta(hours=settings.invite_ttl_hours),
            access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            public_app_url=str(settings.public_app_url),
        ),
        tenants=Tenants(uow),
        service_accounts=ServiceAccounts(uow, issuer, passwords, settings.service_token_ttl_seconds),
    )
    await container.service_accounts.provision(settings.service_accounts)
    return container
