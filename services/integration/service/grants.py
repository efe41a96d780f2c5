"""Access to a provider account: the connection's tokens, refreshed ahead of expiry.

A refresh happens under the connection's row lock, so two replicas (or two syncs) that find the
token expiring refresh it once: the second waits for the lock and then finds the fresh token. A
refused refresh marks the connection `needs_reauth` and says so with `integration.sync_failed`;
only a new authorization (OAuth flow or new credentials) makes it active again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.integration.clients.base import Connector, Grant, OAuthApp, ProviderError, TokenSet
from services.integration.events import SyncFailed
from services.integration.models import Connection
from services.integration.service.common import IntegrationUnitOfWork, IntegrationWork, connection_or_404
from services.integration.service.vault import Vault
from shared import errors
from shared.clock import utcnow

REFRESH_AHEAD = timedelta(minutes=5)


class NeedsReauth(errors.Conflict):
    code = "needs-reauth"


@dataclass(frozen=True)
class Providers:
    """The connectors, our OAuth registrations and the platform-wide extras (Google's developer
    token), by provider name."""

    connectors: Mapping[str, Connector]
    apps: Mapping[str, OAuthApp]
    extras: Mapping[str, Mapping[str, str]]

    def connector(self, provider: str) -> Connector:
        try:
            return self.connectors[provider]
        except KeyError:
            raise errors.InvalidInput(f"{provider} has no connector") from None

    def app(self, provider: str) -> OAuthApp:
        app = self.apps.get(provider)
        if app is None:
            raise errors.Unavailable(f"no OAuth client is configured for {provider}", code="not-configured")
        return app


def token_secrets(tokens: TokenSet, previous: Mapping[str, object] | None = None) -> dict[str, object]:
    """A provider that keeps its refresh token (LinkedIn, Google) may not send it again."""
    refresh = tokens.refresh_token or (previous or {}).get("refresh_token")
    return {"access_token": tokens.access_token, **({"refresh_token": refresh} if refresh else {})}


class Grants:
    def __init__(self, uow: IntegrationUnitOfWork, vault: Vault, providers: Providers) -> None:
        self.uow = uow
        self.vault = vault
        self.providers = providers

    async def grant(self, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> Grant:
        async with self.uow(tenant_id) as work:
            connection = await connection_or_404(work, connection_id)
            _check_active(connection)
            if not _expiring(connection.token_expires_at):
                return await self._grant_of(work, connection)
        return await self._refreshed(tenant_id, connection_id)

    async def expire(self, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
        """The provider refused a token we believed valid: the next grant refreshes it."""
        async with self.uow(tenant_id) as work:
            connection = await connection_or_404(work, connection_id, for_update=True)
            await work.repo.update(connection, token_expires_at=utcnow())

    async def _refreshed(self, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> Grant:
        refused: ProviderError | None = None
        async with self.uow(tenant_id) as work:
            connection = await connection_or_404(work, connection_id, for_update=True)
            _check_active(connection)
            if not _expiring(connection.token_expires_at):
                return await self._grant_of(work, connection)  # another replica refreshed it
            secrets = await self.vault.open(work, tenant_id, connection.id, connection.sealed)
            connector = self.providers.connector(connection.provider)
            current = str(secrets.get("refresh_token") or secrets["access_token"])
            try:
                tokens = await connector.refresh(self.providers.app(connection.provider), current)
            except ProviderError as error:
                if error.kind not in ("auth", "rejected"):
                    raise
                refused = error
                await mark_needs_reauth(work, connection, f"token refresh refused: {error}")
            else:
                sealed = await self.vault.seal(work, tenant_id, connection.id, token_secrets(tokens, secrets))
                connection = await work.repo.update(
                    connection, sealed=sealed, token_expires_at=tokens.expires_at, updated_at=utcnow()
                )
                return self._grant(connection, tokens.access_token)
        raise NeedsReauth(f"{connection.provider} refused to refresh the token ({refused}); connect it again")

    async def _grant_of(self, work: IntegrationWork, connection: Connection) -> Grant:
        secrets = await self.vault.open(work, connection.tenant_id, connection.id, connection.sealed)
        return self._grant(connection, str(secrets["access_token"]))

    def _grant(self, connection: Connection, access_token: str) -> Grant:
        extras = {**self.providers.extras.get(connection.provider, {}), **connection.options}
        return Grant(connection.account_id, access_token, {k: str(v) for k, v in extras.items() if v})


async def mark_needs_reauth(work: IntegrationWork, connection: Connection, reason: str) -> Connection:
    updated = await work.repo.update(
        connection, status="needs_reauth", last_error=reason[:1000], updated_at=utcnow()
    )
    await work.emit(
        SyncFailed(
            connection_id=connection.id,
            provider=connection.provider,
            sync_id=None,
            error=reason[:1000],
            needs_reauth=True,
        )
    )
    return updated


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= utcnow() + REFRESH_AHEAD


def _check_active(connection: Connection) -> None:
    if connection.status == "needs_reauth":
        raise NeedsReauth(f"the {connection.provider} connection needs a new authorization")
    if connection.status != "active":
        raise errors.Conflict(f"the connection is {connection.status}", code="connection-disabled")
