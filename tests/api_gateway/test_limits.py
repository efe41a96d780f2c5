"""Exact rate limits across two gateway processes sharing one Redis (DESIGN §6): the bucket is
shared, so N requests are allowed in total, not N per replica."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api_gateway.helpers import GatewayProcess, gateway_env, running_gateways, unique_path
from tests.api_gateway.upstream import FakeUpstream
from tests.support.kit import Account, assert_problem, register_owner
from tests.support.stack import Stack

LIMITED_ROUTE = "/api/v1/campaigns/echo/route-limited"


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
    logs = stack.workdir / "logs"
    with running_gateways((env, logs / "gateway-limits-a"), (env, logs / "gateway-limits-b")) as gateways:
        yield gateways


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
