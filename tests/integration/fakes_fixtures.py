"""The three ad-platform fakes as real HTTP servers on 127.0.0.1, each with its connector built
the way the service builds it (base URLs, API version, fast retry settings), plus the fake's
control routes (`/_fake/seed`, `/_fake/fail`, `/_fake/state`) for arranging and inspecting."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from fakes import google_ads, linkedin, meta
from fakes._server import FakeServer
from services.integration.clients.base import Connector, Grant, OAuthApp
from services.integration.clients.google_ads import GoogleAdsConnector
from services.integration.clients.linkedin import LinkedInConnector
from services.integration.clients.meta import MetaConnector
from services.integration.clients.transport import TransportSettings

# Tiny waits so retries cost milliseconds; two failed calls open an account's circuit.
FAST = TransportSettings(
    timeout=10, connect_timeout=5, retries=3, backoff_base=0.01, backoff_cap=0.2, fail_max=2, reset_timeout=60
)
PAGE_SIZE = 7


@dataclass
class Platform:
    """One fake and its connector; `accounts` are two seeded ad accounts billing in EUR."""

    name: str
    connector: Connector
    control: httpx.AsyncClient
    accounts: tuple[str, str]
    token: str
    app: OAuthApp
    running: str  # the platform's spelling of a running / a paused campaign
    paused: str
    account_prefix: Callable[[str], str]  # a path prefix that every call for the account starts with
    create_path: Callable[[str], str]
    metrics_call: Callable[[str], str]  # "METHOD /path" of the account's metrics call
    extras: dict[str, str] = field(default_factory=dict)

    def grant(self, account: str | None = None, token: str | None = None) -> Grant:
        return Grant(account or self.accounts[0], token or self.token, self.extras)

    async def seed(self, body: dict[str, Any]) -> None:
        response = await self.control.post("/_fake/seed", json=body)
        assert response.status_code == 200, response.text

    async def fail(self, **rule: Any) -> None:
        response = await self.control.post("/_fake/fail", json=rule)
        assert response.status_code == 200, response.text

    async def state(self) -> dict[str, Any]:
        return (await self.control.get("/_fake/state", params={"include_metrics": "false"})).json()

    async def requests_for(self, account: str) -> int:
        """Provider requests made so far whose path names the account."""
        counts: dict[str, int] = (await self.state())["requests"]
        return sum(n for key, n in counts.items() if account in key)

    async def calls(self, request: str) -> int:
        """How often the fake saw `METHOD /path`."""
        return int((await self.state())["requests"].get(request, 0))

    async def campaigns(self, account: str) -> list[dict[str, Any]]:
        return [c for c in (await self.state())["campaigns"] if c["account_id"] == account]


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with FakeServer(app) as server, httpx.AsyncClient(base_url=server.url) as control:
        yield server.url, control


def _accounts_seed(accounts: tuple[str, str]) -> dict[str, Any]:
    return {"accounts": [{"id": a, "name": f"Account {a}", "currency": "EUR"} for a in accounts]}


@asynccontextmanager
async def google_platform() -> AsyncIterator[Platform]:
    accounts = ("1111111111", "2222222222")
    async with _serving(google_ads.make_app()) as (url, control):
        connector = GoogleAdsConnector(url, url, "v18", settings=FAST)
        platform = Platform(
            "google_ads",
            connector,
            control,
            accounts,
            "fake-google-access-token",
            OAuthApp("fake-google-client-id", "fake-google-client-secret", "https://app.test/oauth/google"),
            "ENABLED",
            "PAUSED",
            lambda a: f"/v18/customers/{a}/",
            lambda a: f"/v18/customers/{a}/campaigns:mutate",
            lambda a: f"POST /v18/customers/{a}/googleAds:searchStream",
            {"developer_token": "fake-developer-token"},
        )
        await platform.seed(_accounts_seed(accounts))
        try:
            yield platform
        finally:
            await connector.aclose()


@asynccontextmanager
async def meta_platform() -> AsyncIterator[Platform]:
    accounts = ("1111111111111111", "2222222222222222")
    async with _serving(meta.make_app()) as (url, control):
        connector = MetaConnector(url, "v21.0", page_size=PAGE_SIZE, settings=FAST)
        platform = Platform(
            "meta",
            connector,
            control,
            accounts,
            "fake-meta-access-token",
            OAuthApp("fake-meta-app-id", "fake-meta-app-secret", "https://app.test/oauth/meta"),
            "ACTIVE",
            "PAUSED",
            lambda a: f"/v21.0/act_{a}",
            lambda a: f"/v21.0/act_{a}/campaigns",
            lambda a: f"GET /v21.0/act_{a}/insights",
        )
        await platform.seed(_accounts_seed(accounts))
        try:
            yield platform
        finally:
            await connector.aclose()


@asynccontextmanager
async def linkedin_platform() -> AsyncIterator[Platform]:
    accounts = ("510000001", "510000002")
    async with _serving(linkedin.make_app()) as (url, control):
        connector = LinkedInConnector(url, url, "202510", page_size=PAGE_SIZE, settings=FAST)
        platform = Platform(
            "linkedin",
            connector,
            control,
            accounts,
            "fake-linkedin-access-token",
            OAuthApp("fake-linkedin-client-id", "fake-linkedin-client-secret", "https://app.test/oauth/li"),
            "ACTIVE",
            "PAUSED",
            lambda a: f"/rest/adAccounts/{a}",
            lambda a: f"/rest/adAccounts/{a}/adCampaigns",
            lambda a: "GET /rest/adAnalytics",
        )
        await platform.seed(_accounts_seed(accounts))
        try:
            yield platform
        finally:
            await connector.aclose()


PLATFORMS = {"google_ads": google_platform, "meta": meta_platform, "linkedin": linkedin_platform}


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
