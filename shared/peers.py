"""Calling another service of the fleet: its URL from the settings, this service's own service
token (client-credentials grant, cached), the tenant named in `X-Tenant-ID`, and the resilient
client's timeouts, retries and circuit breaker.

A peer that answers 401 to a token we still believed valid (user_management restarted with a new
key, say) gets one more try with a fresh token.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from shared.auth.service_client import ServiceTokenClient
from shared.config import ServiceSettings
from shared.http import BreakerRegistry, ResilientClient


class PeerClient:
    def __init__(self, name: str, http: ResilientClient, tokens: ServiceTokenClient | None) -> None:
        self.name = name
        self.http = http
        self.tokens = tokens

    async def request(
        self, method: str, path: str, *, tenant_id: UUID | str | None = None, **kwargs: Any
    ) -> httpx.Response:
        if self.tokens is None:
            raise RuntimeError(f"no service-account secret configured: cannot call {self.name}")
        for attempt in range(2):
            headers = {
                **kwargs.pop("headers", {}),
                **await self.tokens.headers(str(tenant_id) if tenant_id else None),
            }
            response = await self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or attempt:
                return response
            self.tokens.invalidate()
        raise AssertionError("unreachable")

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)


class Peers:
    """One client per peer, made on first use and closed with the service."""

    def __init__(self, settings: ServiceSettings, breakers: BreakerRegistry, *, timeout: float = 5.0) -> None:
        self.settings = settings
        self.breakers = breakers
        self.timeout = timeout
        self._clients: dict[str, PeerClient] = {}
        self._token_http: httpx.AsyncClient | None = None
        self._tokens: ServiceTokenClient | None = None

    def _token_client(self) -> ServiceTokenClient | None:
        secret = self.settings.client_secret
        if secret is None:
            return None
        if self._tokens is None:
            self._token_http = httpx.AsyncClient(timeout=self.timeout)
            self._tokens = ServiceTokenClient(
                f"{self.settings.peer_url('user_management')}/api/v1/auth/service-token",
                self.settings.service_name,
                secret.get_secret_value(),
                list(self.settings.spec.scopes),
                self._token_http,
            )
        return self._tokens

    def __call__(self, name: str) -> PeerClient:
        client = self._clients.get(name)
        if client is None:
            http = ResilientClient(self.settings.peer_url(name), timeout=self.timeout, breakers=self.breakers)
            client = self._clients[name] = PeerClient(name, http, self._token_client())
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.http.aclose()
        if self._token_http is not None:
            await self._token_http.aclose()
