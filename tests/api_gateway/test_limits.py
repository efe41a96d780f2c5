"""Exact rate limits across two gateway processes sharing one Redis (DESIGN §6): the bucket is
shared, so N requests are allowed in total, not N per replica. Per-IP buckets of the public routes
follow the trusted-proxy rule (shared/net.py): a gateway that trusts no proxy ignores
X-Forwarded-For, one that trusts 127.0.0.1 takes the rightmost untrusted hop of all its lines.
Webhooks have their own per-IP limit and a smaller body cap."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis

from services.api_gateway import keys
from tests.api_gateway.helpers import (
    GatewayProcess,
    assert_security_headers,
    fresh_address,
    gateway_env,
    running_gateways,
    unique_path,
)
from tests.api_gateway.upstream import FakeUpstream, echo_of
from tests.support.kit import Account, assert_problem, register_owner
from tests.support.stack import Stack

LIMITED_ROUTE = "/api/v1/campaigns/echo/route-limited"
LOOPBACK = "127.0.0.1"
WEBHOOK_CAP = 2048


@pytest.fixture(scope="module")
def pair(
    stack: Stack, user_service: str, upstream: FakeUpstream, dead_url: str
) -> Iterator[list[GatewayProcess]]:
    """Two gateways, basic plan 5/hour, public auth 4/hour per IP; they trust 127.0.0.1 as a
    proxy, so each test picks its own client address with X-Forwarded-For."""
    env = gateway_env(
        stack,
        upstream.url,
        dead_url,
        PLAN_RATE_LIMITS=json.dumps({"basic": "5/3600", "pro": "50/3600", "enterprise": "500/3600"}),
        AUTH_IP_RATE_LIMIT="4/3600",
        TRUSTED_PROXIES='["127.0.0.1"]',
        ROUTE_RATE_LIMITS=json.dumps({f"GET {LIMITED_ROUTE}": "2/3600"}),
        CORS_ORIGINS='["https://app.acme.io"]',
    )
    logs = stack.log_root
    with running_gateways((env, logs / "gateway-limits-a"), (env, logs / "gateway-limits-b")) as gateways:
        yield gateways


@pytest.fixture(scope="module")
def untrusting(
    stack: Stack, user_service: str, upstream: FakeUpstream, dead_url: str
) -> Iterator[GatewayProcess]:
    """A gateway as the launcher configures it (no trusted proxy), with small per-IP limits and
    webhooks at the fake (so allowed webhook calls are answered, and counted on the wire)."""
    env = gateway_env(
        stack,
        upstream.url,
        dead_url,
        AUTH_IP_RATE_LIMIT="3/3600",
        WEBHOOK_IP_RATE_LIMIT="3/3600",
        WEBHOOK_MAX_BODY_BYTES=str(WEBHOOK_CAP),
        INTEGRATION_URL=upstream.url,
    )
    assert "TRUSTED_PROXIES" not in env
    with running_gateways((env, stack.log_root / "gateway-untrusting")) as (gateway,):
        yield gateway


@pytest.fixture
def loopback_buckets(bus: redis.Redis) -> Iterator[None]:
    """Every test of this gateway comes from 127.0.0.1, whose buckets other gateways of the
    session share: start (and leave) them full."""
    names = [keys.ip_bucket(scope, LOOPBACK) for scope in ("auth", "webhook")]
    bus.delete(*names)
    yield
    bus.delete(*names)


def test_tenant_gets_exactly_its_plan_limit_across_both_gateways(
    pair: list[GatewayProcess], http: httpx.Client, user_service: str, upstream: FakeUpstream
) -> None:
    account: Account = register_owner(user_service)
    path = unique_path()
    remaining = []
    for i in range(5):
        response = http.get(f"{pair[i % 2].url}{path}", headers=account.auth)
        assert response.status_code == 200, (i, response.text)
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [4, 3, 2, 1, 0], "one bucket shared by both gateways"

    refused = http.get(f"{pair[1].url}{path}", headers=account.auth)
    body = assert_problem(refused, 429)
    assert body["type"].endswith("rate-limited")
    assert_security_headers(refused)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert_problem(http.get(f"{pair[0].url}{path}", headers=account.auth), 429)
    assert upstream.hits(path) == 5

    other = register_owner(user_service)  # another tenant has its own bucket
    assert http.get(f"{pair[0].url}{path}", headers=other.auth).status_code == 200


def test_public_auth_route_is_limited_per_client_ip(
    pair: list[GatewayProcess], http: httpx.Client, user_service: str
) -> None:
    account = register_owner(user_service)
    ip, other_ip = "203.0.113.10", "203.0.113.11"  # this session's Redis is fresh
    wrong = {"email": account.email, "password": "Not-The-Password-1"}
    for i in range(4):
        response = http.post(
            f"{pair[i % 2].url}/api/v1/auth/login", json=wrong, headers={"X-Forwarded-For": ip}
        )
        assert_problem(response, 401)
        assert response.headers["ratelimit-limit"] == "4"
    refused = http.post(f"{pair[0].url}/api/v1/auth/login", json=wrong, headers={"X-Forwarded-For": ip})
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert_security_headers(refused)
    # Even the right password waits: the limit is on the address, before user_management is asked.
    right = {"email": account.email, "password": account.password}
    assert_problem(
        http.post(f"{pair[1].url}/api/v1/auth/login", json=right, headers={"X-Forwarded-For": ip}), 429
    )

    fine = http.post(f"{pair[1].url}/api/v1/auth/login", json=right, headers={"X-Forwarded-For": other_ip})
    assert fine.status_code == 200, fine.text


def test_a_configured_route_limit_applies_per_tenant_before_the_plan_limit(
    pair: list[GatewayProcess], http: httpx.Client, user_service: str, upstream: FakeUpstream
) -> None:
    account = register_owner(user_service)
    for i in range(2):
        assert http.get(f"{pair[i % 2].url}{LIMITED_ROUTE}", headers=account.auth).status_code == 200
    refused = http.get(f"{pair[0].url}{LIMITED_ROUTE}", headers=account.auth)
    assert_problem(refused, 429)
    assert refused.headers["ratelimit-limit"] == "2"
    assert_security_headers(refused)
    assert http.get(f"{pair[1].url}{unique_path()}", headers=account.auth).status_code == 200
    other = register_owner(user_service)
    assert http.get(f"{pair[1].url}{LIMITED_ROUTE}", headers=other.auth).status_code == 200


def test_cors_allows_only_the_configured_origins(pair: list[GatewayProcess], http: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = http.options(
        f"{pair[0].url}{unique_path()}", headers={"Origin": "https://app.acme.io", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.acme.io"
    refused = http.options(
        f"{pair[0].url}{unique_path()}", headers={"Origin": "https://evil.io", **preflight}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


# --- the client's address: X-Forwarded-For --------------------------------------------------------


def _wrong_login() -> dict[str, str]:
    """A login that user_management answers 401 (nobody has this address): no lockout to reach."""
    return {"email": f"nobody-{uuid.uuid4().hex[:12]}@acme.io", "password": "Not-The-Password-1"}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    untrusting: GatewayProcess, http: httpx.Client, bus: redis.Redis, loopback_buckets: None
) -> None:
    """127.0.0.1 is no trusted proxy here: whatever X-Forwarded-For it sends, one bucket."""
    claimed = [fresh_address() for _ in range(5)]
    remaining = []
    for address in claimed[:3]:
        response = http.post(
            f"{untrusting.url}/api/v1/auth/login", json=_wrong_login(), headers={"X-Forwarded-For": address}
        )
        assert_problem(response, 401)
        assert response.headers["ratelimit-limit"] == "3"
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]

    for address in claimed[3:]:
        refused = http.post(
            f"{untrusting.url}/api/v1/auth/login", json=_wrong_login(), headers={"X-Forwarded-For": address}
        )
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert_security_headers(refused)
    assert bus.exists(keys.ip_bucket("auth", LOOPBACK))
    assert not any(bus.exists(keys.ip_bucket("auth", address)) for address in claimed)


def test_every_forwarded_for_line_counts_and_the_rightmost_untrusted_hop_is_the_client(
    pair: list[GatewayProcess], http: httpx.Client, bus: redis.Redis
) -> None:
    """Two X-Forwarded-For lines are one list: a client cannot pick its bucket by the line it
    adds, whether the gateway read only the first line or only the last one."""
    client = fresh_address()
    shapes = [
        lambda forged: [("X-Forwarded-For", forged), ("X-Forwarded-For", client)],
        lambda forged: [("X-Forwarded-For", f"{forged}, {client}"), ("X-Forwarded-For", LOOPBACK)],
        lambda forged: [("X-Forwarded-For", forged), ("X-Forwarded-For", f"{client}, {LOOPBACK}")],
        lambda forged: [("X-Forwarded-For", f"{forged},{client}"), ("X-Forwarded-For", f",{LOOPBACK},")],
    ]
    forged = [fresh_address() for _ in range(len(shapes) + 1)]
    for i, (shape, address) in enumerate(zip(shapes, forged, strict=False)):
        response = http.post(
            f"{pair[i % 2].url}/api/v1/auth/login", json=_wrong_login(), headers=shape(address)
        )
        assert_problem(response, 401)
        assert response.headers["ratelimit-remaining"] == str(3 - i), i  # AUTH_IP_RATE_LIMIT 4/3600
    refused = http.post(
        f"{pair[0].url}/api/v1/auth/login", json=_wrong_login(), headers=shapes[0](forged[-1])
    )
    assert_problem(refused, 429)

    assert float(bus.hget(keys.ip_bucket("auth", client), "tokens") or -1) < 1
    assert not any(bus.exists(keys.ip_bucket("auth", address)) for address in forged)
    # Control: another rightmost address is another bucket.
    other = [("X-Forwarded-For", forged[0]), ("X-Forwarded-For", fresh_address())]
    assert_problem(http.post(f"{pair[1].url}/api/v1/auth/login", json=_wrong_login(), headers=other), 401)


# --- webhooks ------------------------------------------------------------------------------------


def test_webhooks_have_their_own_per_ip_limit(
    untrusting: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, loopback_buckets: None
) -> None:
    path = f"/api/v1/webhooks/stripe/{uuid.uuid4().hex[:12]}"
    for i in range(3):
        response = http.post(f"{untrusting.url}{path}", content=b'{"type":"invoice.paid"}')  # no token
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-remaining"] == str(2 - i)
    refused = http.post(
        f"{untrusting.url}{path}",
        content=b'{"type":"invoice.paid"}',
        headers={"X-Forwarded-For": fresh_address()},
    )
    assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert_security_headers(refused)
    assert upstream.hits(path) == 3

    # The login bucket of the same address is another one.
    login = http.post(f"{untrusting.url}/api/v1/auth/login", json=_wrong_login())
    assert_problem(login, 401)


async def test_webhook_bodies_have_a_smaller_cap(
    untrusting: GatewayProcess, account: Account, upstream: FakeUpstream, loopback_buckets: None
) -> None:
    """WEBHOOK_MAX_BODY_BYTES (2 KiB here) under GATEWAY_MAX_BODY_BYTES (64 KiB): announced or
    streamed, a webhook body over it is a 413 (an announced one is refused before forwarding)."""

    async def chunks(total: int) -> AsyncIterator[bytes]:
        for start in range(0, total, 512):
            yield b"c" * min(512, total - start)

    path = f"/api/v1/webhooks/stripe/{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient(base_url=untrusting.url, timeout=15) as client:
        at_cap = await client.post(path, content=b"a" * WEBHOOK_CAP)
        assert at_cap.status_code == 200, at_cap.text
        assert echo_of(at_cap)["body_bytes"] == WEBHOOK_CAP

        announced = await client.post(path, content=b"b" * (WEBHOOK_CAP + 1))
        assert_problem(announced, 413)
        streamed = await client.post(path, content=chunks(WEBHOOK_CAP * 4))
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413)
        announced_upstream = [seen.header("content-length") for seen in upstream.requests(path)]
        assert [str(WEBHOOK_CAP + 1)] not in announced_upstream, "refused before forwarding"

        # The same body is fine on an ordinary route of the same gateway.
        ordinary = await client.post(unique_path(), headers=account.auth, content=b"b" * (WEBHOOK_CAP + 1))
        assert ordinary.status_code == 200, ordinary.text
