"""Service accounts: the client-credentials grant that lets one service call another."""

from __future__ import annotations

from dataclasses import dataclass

from services.user_management.keys import TokenIssuer
from services.user_management.models import ServiceAccount
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.settings import ServiceAccountConfig
from shared import errors
from shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ServiceToken:
    access_token: str
    expires_in: int
    scope: str


class ServiceAccounts:
    def __init__(
        self, uow: UnitOfWork[IdentityRepository], issuer: TokenIssuer, passwords: Passwords, ttl_seconds: int
    ) -> None:
        self.uow = uow
        self.issuer = issuer
        self.passwords = passwords
        self.ttl_seconds = ttl_seconds

    async def provision(self, accounts: list[ServiceAccountConfig]) -> None:
        """Create or update the accounts named in configuration (SERVICE_ACCOUNTS)."""
        for account in accounts:
            secret_hash = await self.passwords.hash(account.secret.get_secret_value())
            async with self.uow(None) as work:
                existing = await work.repo.service_account(account.client_id)
                if existing is None:
                    await work.repo.add(
                        ServiceAccount(
                            client_id=account.client_id, secret_hash=secret_hash, scopes=account.scopes
                        )
                    )
                else:
                    existing.secret_hash, existing.scopes, existing.active = secret_hash, account.scopes, True

    async def issue(self, client_id: str, secret: str, scope: str | None) -> ServiceToken:
        """A short-lived `typ=service` token with the requested subset of the account's scopes."""
        async with self.uow(None) as work:
            account = await work.repo.service_account(client_id)
        stored = account.secret_hash if account and account.active else None
        if not await self.passwords.verify(stored, secret):
            raise errors.NotAuthenticated("invalid client credentials", code="invalid-client")
        assert account is not None
        requested = scope.split() if scope else list(account.scopes)
        missing = sorted(set(requested) - set(account.scopes))
        if missing:
            raise errors.PermissionDenied(f"scopes not granted to {client_id}: {missing}")
        token = self.issuer.service_token(client_id, requested, self.ttl_seconds)
        return ServiceToken(token, self.ttl_seconds, " ".join(requested))
