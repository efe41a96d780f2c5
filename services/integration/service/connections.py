"""Connections: a tenant's accounts at the providers, with write-only sealed credentials.

Credentials go in (on create, on replace, or from an OAuth callback) and never come out through
the API; the one reader is campaign_management, for the tenant's Mautic, with a service token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.integration.clients.base import ProviderError, TokenSet
from services.integration.domain.catalog import PROVIDERS, InvalidConnection, Provider, check_fields
from services.integration.events import IntegrationConnected
from services.integration.models import Connection, OAuthState
from services.integration.service.common import (
    BACKGROUND_ROLE,
    IntegrationUnitOfWork,
    IntegrationWork,
    connection_or_404,
)
from services.integration.service.grants import Providers, token_secrets
from services.integration.service.vault import Vault
from shared import errors
from shared.clock import utcnow

OAUTH_STATE_TTL = timedelta(minutes=15)
TOKEN_FIELDS = ("access_token", "refresh_token")


@dataclass(frozen=True)
class NewConnection:
    provider: str
    name: str
    account_id: str
    credentials: dict[str, Any]
    options: dict[str, Any]
    sync_interval_minutes: int | None


@dataclass(frozen=True)
class ConnectionChanges:
    name: str | None = None
    credentials: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    sync_interval_minutes: int | None = None
    clear_interval: bool = False
    status: str | None = None  # active | disabled


def provider_or_422(name: str) -> Provider:
    provider = PROVIDERS.get(name)
    if provider is None or not provider.connectable:
        raise errors.InvalidInput(f"{name!r} is not a provider a tenant can connect", code="unknown-provider")
    return provider


def _expiry(credentials: dict[str, Any]) -> datetime | None:
    seconds = credentials.get("expires_in")
    return utcnow() + timedelta(seconds=int(seconds)) if seconds else None


class Connections:
    def __init__(self, uow: IntegrationUnitOfWork, vault: Vault, providers: Providers) -> None:
        self.uow = uow
        self.vault = vault
        self.providers = providers

    async def create(self, tenant_id: uuid.UUID, new: NewConnection) -> Connection:
        provider = provider_or_422(new.provider)
        try:
            check_fields(provider, new.credentials, new.options)
        except InvalidConnection as error:
            raise errors.InvalidInput(str(error), code="invalid-connection") from None
        secrets_ = {k: v for k, v in new.credentials.items() if k != "expires_in" and v}
        async with self.uow(tenant_id) as work:
            return await self._insert(work, tenant_id, new, secrets_, _expiry(new.credentials))

    async def _insert(
        self,
        work: IntegrationWork,
        tenant_id: uuid.UUID,
        new: NewConnection,
        credentials: dict[str, Any],
        expires_at: datetime | None,
    ) -> Connection:
        connection_id = uuid.uuid4()
        interval = new.sync_interval_minutes if PROVIDERS[new.provider].syncs else None
        connection = Connection(
            id=connection_id,
            tenant_id=tenant_id,
            provider=new.provider,
            name=new.name,
            account_id=new.account_id,
            sealed=await self.vault.seal(work, tenant_id, connection_id, credentials),
            token_expires_at=expires_at,
            options=new.options,
            sync_interval_minutes=interval,
            next_sync_at=utcnow() if interval else None,
        )
        existing = await work.repo.connection_id_for(new.provider, new.account_id)
        if existing is not None:
            raise errors.Conflict(
                "this account is already connected", code="already-connected", connection_id=str(existing)
            )
        stored = await work.repo.add(connection)
        await work.emit(
            IntegrationConnected(
                connection_id=stored.id,
                provider=stored.provider,
                account_id=stored.account_id,
                name=stored.name,
            )
        )
        return stored

    async def get(self, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> Connection:
        async with self.uow(tenant_id) as work:
            return await connection_or_404(work, connection_id)

    async def list(
        self, tenant_id: uuid.UUID, provider: str | None, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[Connection]:
        async with self.uow(tenant_id) as work:
            return await work.repo.connections(provider, limit, after)

    async def update(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, changes: ConnectionChanges
    ) -> Connection:
        async with self.uow(tenant_id) as work:
            connection = await connection_or_404(work, connection_id, for_update=True)
            provider = PROVIDERS[connection.provider]
            fields: dict[str, Any] = {"updated_at": utcnow(), "version": connection.version + 1}
            if changes.name is not None:
                fields["name"] = changes.name
            if changes.options is not None or changes.credentials is not None:
                credentials = changes.credentials
                if credentials is None:  # options alone: check them against the stored secrets' shape
                    credentials = await self.vault.open(work, tenant_id, connection.id, connection.sealed)
                try:
                    check_fields(
                        provider,
                        credentials,
                        changes.options if changes.options is not None else connection.options,
                    )
                except InvalidConnection as error:
                    raise errors.InvalidInput(str(error), code="invalid-connection") from None
                if changes.options is not None:
                    fields["options"] = changes.options
            reconnected = False
            if changes.credentials is not None:
                kept = {k: v for k, v in changes.credentials.items() if k != "expires_in" and v}
                fields["sealed"] = await self.vault.seal(work, tenant_id, connection.id, kept)
                fields["token_expires_at"] = _expiry(changes.credentials)
                reconnected = connection.status == "needs_reauth"
                if reconnected:
                    fields.update(status="active", last_error=None)
            if changes.status is not None:
                fields["status"] = changes.status
                reconnected = reconnected or (changes.status == "active" and connection.status != "active")
            if provider.syncs and (changes.sync_interval_minutes is not None or changes.clear_interval):
                minutes = None if changes.clear_interval else changes.sync_interval_minutes
                fields["sync_interval_minutes"] = minutes
                fields["next_sync_at"] = utcnow() + timedelta(minutes=minutes) if minutes else None
            updated = await work.repo.update(connection, **fields)
            if reconnected and updated.status == "active":
                await work.emit(
                    IntegrationConnected(
                        connection_id=updated.id,
                        provider=updated.provider,
                        account_id=updated.account_id,
                        name=updated.name,
                    )
                )
            return updated

    async def delete(self, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            if not await work.repo.delete_connection(connection_id):
                raise errors.NotFound("no such connection")

    async def mautic_credentials(self, tenant_id: uuid.UUID) -> tuple[Connection, dict[str, Any]]:
        """The tenant's active Mautic connection, opened: for campaign_management only."""
        async with self.uow(tenant_id) as work:
            connection = await work.repo.active_connection("mautic")
            if connection is None:
                raise errors.NotFound("this tenant has no Mautic connection")
            return connection, await self.vault.open(work, tenant_id, connection.id, connection.sealed)

    # --- OAuth authorization-code flow with PKCE ------------------------------------------------

    async def authorize(
        self, tenant_id: uuid.UUID, provider_name: str, name: str, account_id: str, actor: str
    ) -> tuple[str, OAuthState]:
        provider = provider_or_422(provider_name)
        if provider.auth != "oauth2":
            raise errors.InvalidInput(f"{provider.name} does not connect through OAuth", code="not-oauth")
        app = self.providers.app(provider.name)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        state = secrets.token_urlsafe(32)
        async with self.uow(tenant_id) as work:
            sealed = await self.vault.seal(work, tenant_id, _state_id(state), {"code_verifier": verifier})
            stored = await work.repo.add(
                OAuthState(
                    state,
                    tenant_id,
                    provider.name,
                    name,
                    account_id,
                    sealed,
                    actor,
                    utcnow() + OAUTH_STATE_TTL,
                )
            )
        url = self.providers.connector(provider.name).authorization_url(app, state, challenge)
        return url, stored

    async def callback(self, state: str, code: str) -> Connection:
        """The browser's return from the consent page: the state alone says whose flow it is."""
        async with self.uow(None) as work:
            tenant_id = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.oauth_state_tenant(state))
        if tenant_id is None:
            raise errors.BadReference("unknown or expired OAuth state", code="invalid-state")
        async with self.uow(tenant_id) as work:
            pending = await work.repo.take_oauth_state(state)
            if pending is None:
                raise errors.BadReference("unknown or expired OAuth state", code="invalid-state")
            verifier = await self.vault.open(work, tenant_id, _state_id(state), pending.sealed_verifier)
        tokens = await self._exchange(pending.provider, code, str(verifier["code_verifier"]))
        new = NewConnection(pending.provider, pending.name, pending.account_id, {}, {}, None)
        async with self.uow(tenant_id) as work:
            return await self._insert(work, tenant_id, new, token_secrets(tokens), tokens.expires_at)

    async def _exchange(self, provider: str, code: str, verifier: str) -> TokenSet:
        try:
            return await self.providers.connector(provider).exchange_code(
                self.providers.app(provider), code, verifier
            )
        except ProviderError as error:
            if error.kind in ("rate_limited", "unavailable"):
                raise errors.Unavailable(f"{provider} is unavailable: {error}") from None
            raise errors.BadReference(
                f"{provider} refused the authorization code: {error}", code="oauth-refused"
            ) from None


def _state_id(state: str) -> uuid.UUID:
    """The verifier is sealed under an id derived from its state (there is no connection yet)."""
    return uuid.UUID(bytes=hashlib.sha256(state.encode()).digest()[:16])
