"""Service-to-service tokens: the client-credentials grant against user_management.

The token is cached until shortly before it expires; concurrent callers share one fetch.
"""

from __future__ import annotations

import asyncio
import time

import httpx


class ServiceTokenClient:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: list[str],
        http: httpx.AsyncClient,
        *,
        refresh_margin_seconds: float = 30,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = scopes
        self._http = http
        self._margin = refresh_margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ServiceTokenClient(client_id={self.client_id!r}, scopes={self.scopes!r})"

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at - self._margin:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - self._margin:
                return self._token
            response = await self._http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                    "scope": " ".join(self.scopes),
                },
            )
            response.raise_for_status()
            body = response.json()
            self._token = body["access_token"]
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the peer refused it); the next call fetches a new one."""
        self._token = None
        self._expires_at = 0.0

    async def headers(self, tenant_id: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        if tenant_id:
            headers["X-Tenant-ID"] = tenant_id
        return headers
