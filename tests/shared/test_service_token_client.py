"""ServiceTokenClient against a real token endpoint: the grant it sends, caching, refresh, errors.

The endpoint is a FakeServer path that validates the client-credentials form the way
user_management would and issues numbered tokens, so a test can tell a cached token from a
refetched one and count fetches on the server side. No mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from shared.auth.service_client import ServiceTokenClient
from tests.support.fake_http import FakeServer, Recorded, Reply

TOKEN_PATH = "/oauth/token"
CLIENT_ID = "campaign_management"
SECRET = "s3cr3t-Zq8v-never-log-me"
SCOPES = ["leads:read", "campaigns:write"]


class TokenEndpoint:
    """A client-credentials endpoint: checks every form field, issues `tok-1`, `tok-2`, ...

    `expires_in` values are used in order per issued token, the last one repeating.
    """

    def __init__(self, expires_in: tuple[int, ...] = (3600,), delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.issued = 0

    def __call__(self, request: Recorded) -> Reply:
        if request.method != "POST":
            return Reply(405)
        if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return Reply(415, {"error": "invalid_request"})
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != SECRET:
            return Reply(401, {"error": "invalid_client"})
        if form.get("scope") != " ".join(SCOPES):
            return Reply(400, {"error": "invalid_scope"})
        expires_in = self.expires_in[min(self.issued, len(self.expires_in) - 1)]
        self.issued += 1
        body = {"access_token": f"tok-{self.issued}", "token_type": "bearer", "expires_in": expires_in}
        return Reply(200, body, delay=self.delay)


MakeTokenClient = Callable[..., ServiceTokenClient]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    """A fresh server per test, so fetch counts start at zero."""
    async with FakeServer() as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The plain httpx client the token client is built on, as services wire it."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def make_token_client(server: FakeServer, http: httpx.AsyncClient) -> MakeTokenClient:
    """Install a TokenEndpoint on the server and build a client for it (overridable kwargs)."""

    def make(endpoint: TokenEndpoint | None = None, **kwargs: Any) -> ServiceTokenClient:
        server.always(TOKEN_PATH, endpoint or TokenEndpoint())
        args: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": SECRET, "scopes": SCOPES}
        args.update(kwargs)
        return ServiceTokenClient(server.url + TOKEN_PATH, http=http, **args)

    return make


async def test_sends_client_credentials_grant_and_caches_token(
    server: FakeServer, make_token_client: MakeTokenClient
) -> None:
    """One fetch with exactly the grant fields, then every later call is served from the cache."""
    client = make_token_client()

    tokens = [await client.token() for _ in range(25)]

    assert set(tokens) == {"tok-1"}
    assert server.count(TOKEN_PATH) == 1
    assert server.to(TOKEN_PATH)[0].form() == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": "leads:read campaigns:write",
    }


async def test_token_already_inside_refresh_margin_is_refetched(
    server: FakeServer, make_token_client: MakeTokenClient
) -> None:
    """A token that expires within the margin is treated as stale even though it is still valid."""
    client = make_token_client(TokenEndpoint(expires_in=(20, 3600)), refresh_margin_seconds=30)

    first = await client.token()
    second = await client.token()
    third = await client.token()

    assert (first, second, third) == ("tok-1", "tok-2", "tok-2")
    assert server.count(TOKEN_PATH) == 2


async def test_token_is_refetched_once_time_reaches_the_refresh_margin(
    server: FakeServer, make_token_client: MakeTokenClient
) -> None:
    """Cached while outside the margin; once the clock enters it, the next call fetches anew."""
    client = make_token_client(TokenEndpoint(expires_in=(1, 3600)), refresh_margin_seconds=0.5)

    assert await client.token() == "tok-1"
    assert await client.token() == "tok-1"
    assert server.count(TOKEN_PATH) == 1

    await asyncio.sleep(0.6)

    assert await client.token() == "tok-2"
    assert await client.token() == "tok-2"
    assert server.count(TOKEN_PATH) == 2


async def test_concurrent_callers_share_one_fetch(
    server: FakeServer, make_token_client: MakeTokenClient
) -> None:
    """A cold cache hit by 20 callers at once (slow endpoint) must not stampede user_management."""
    client = make_token_client(TokenEndpoint(delay=0.2))

    tokens = await asyncio.gather(*(client.token() for _ in range(20)))

    assert tokens == ["tok-1"] * 20
    assert server.count(TOKEN_PATH) == 1


async def test_rejected_credentials_raise_and_are_not_cached(
    server: FakeServer, make_token_client: MakeTokenClient
) -> None:
    """A 401 surfaces as HTTPStatusError (no bogus token), and the next call asks again."""
    client = make_token_client(client_secret="wrong-secret")

    with pytest.raises(httpx.HTTPStatusError) as raised:
        await client.token()
    assert raised.value.response.status_code == 401
    assert raised.value.response.json() == {"error": "invalid_client"}

    with pytest.raises(httpx.HTTPStatusError):
        await client.token()
    assert server.count(TOKEN_PATH) == 2


async def test_headers_authenticate_a_real_call(
    server: FakeServer, http: httpx.AsyncClient, make_token_client: MakeTokenClient
) -> None:
    """The headers a peer receives carry the bearer token and, when given, the tenant."""
    client = make_token_client()
    server.always("/api/leads", Reply(200, {"leads": []}))

    await http.get(server.url + "/api/leads", headers=await client.headers("tenant-42"))
    await http.get(server.url + "/api/leads", headers=await client.headers())

    with_tenant, without_tenant = server.to("/api/leads")
    assert with_tenant.headers["Authorization"] == "Bearer tok-1"
    assert with_tenant.headers["X-Tenant-ID"] == "tenant-42"
    assert without_tenant.headers["Authorization"] == "Bearer tok-1"
    assert "X-Tenant-ID" not in without_tenant.headers
    assert server.count(TOKEN_PATH) == 1


async def test_repr_does_not_leak_the_secret(make_token_client: MakeTokenClient) -> None:
    """Clients end up in logs and tracebacks; the secret must never be rendered there."""
    client = make_token_client()

    assert SECRET not in repr(client)
    assert SECRET not in str(client)
    assert SECRET not in f"{[client]}"
    assert CLIENT_ID in repr(client)
