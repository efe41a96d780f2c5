"""RATE_LIMIT_MODE=local: buckets kept in the gateway and synced to Redis every tick (Kong's
approach). Within one gateway the limit holds exactly; across gateways it may overshoot by what
each admits in one tick; a deactivation and a plan change apply within a tick."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from services.api_gateway import keys
from shared.events.outbox import Outbox
from tests.api_gateway.helpers import GatewayProcess, gateway_env, running_gateways, unique_path
from tests.api_gateway.upstream import FakeUpstream
from tests.support.kit import PASSWORD, Account, assert_problem, eventually, register_owner
from tests.support.stack import Stack

LIMIT = 6
SYNC_MS = 50


@pytest.fixture(scope="module")
def local_pair(
    stack: Stack, user_service: str, upstream: FakeUpstream, dead_url: str
) -> Iterator[list[GatewayProcess]]:
    env = gateway_env(
        stack,
        upstream.url,
        dead_url,
        RATE_LIMIT_MODE="local",
        RATE_LIMIT_SYNC_MS=str(SYNC_MS),
        PLAN_RATE_LIMITS=json.dumps({"basic": f"{LIMIT}/3600", "pro": "60/3600", "enterprise": "600/3600"}),
    )
    logs = stack.log_root
    with running_gateways((env, logs / "gateway-local-a"), (env, logs / "gateway-local-b")) as gateways:
        yield gateways


def _statuses(gateway: GatewayProcess, http: httpx.Client, account: Account, count: int) -> list[int]:
    path = unique_path()
    return [http.get(f"{gateway.url}{path}", headers=account.auth).status_code for _ in range(count)]


def test_one_gateway_admits_exactly_its_limit(
    local_pair: list[GatewayProcess], http: httpx.Client, account: Account
) -> None:
    statuses = _statuses(local_pair[0], http, account, LIMIT + 3)
    assert statuses == [200] * LIMIT + [429] * 3
    refused = http.get(f"{local_pair[0].url}{unique_path()}", headers=account.auth)
    body = assert_problem(refused, 429)
    assert body["type"].endswith("rate-limited") and int(refused.headers["retry-after"]) >= 1


def test_two_gateways_share_the_bucket_within_one_tick_of_overshoot(
    local_pair: list[GatewayProcess], http: httpx.Client, account: Account, bus: redis.Redis
) -> None:
    """Each gateway starts from the shared bucket; once both have synced, the shared bucket is
    spent by what both admitted, so the tenant's total is bounded: the limit plus what the second
    gateway admitted before it saw the first's spending (here at most one full copy)."""
    first = _statuses(local_pair[0], http, account, LIMIT // 2)
    assert first == [200] * (LIMIT // 2)

    def spent_in_redis() -> bool:
        stored = bus.hget(keys.tenant_bucket(account.tenant_id), "tokens")
        return stored is not None and float(stored) < LIMIT - 1

    eventually(spent_in_redis)  # the first gateway's admissions reached the shared bucket
    second = _statuses(local_pair[1], http, account, LIMIT)
    assert second.count(200) == LIMIT - LIMIT // 2  # it saw the spending: no overshoot here
    assert second.count(429) == LIMIT // 2


def test_a_deactivated_user_is_refused_within_a_tick(
    local_pair: list[GatewayProcess], http: httpx.Client, account: Account
) -> None:
    gateway = local_pair[0]
    email = f"local-{uuid.uuid4().hex[:10]}@acme.io"
    created = http.post(
        f"{gateway.url}/api/v1/users",
        headers=account.auth,
        json={"email": email, "full_name": "Lo Cal", "role": "manager", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    token = http.post(f"{gateway.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    colleague = {"Authorization": f"Bearer {token['access_token']}"}
    path = unique_path()
    assert http.get(f"{gateway.url}{path}", headers=colleague).status_code == 200  # now known locally
    assert (
        http.delete(f"{gateway.url}/api/v1/users/{created.json()['id']}", headers=account.auth).status_code
        == 204
    )

    def refused() -> httpx.Response | None:
        response = http.get(f"{gateway.url}{path}", headers=colleague)
        return response if response.status_code == 401 else None

    assert "deactivated" in assert_problem(eventually(refused), 401)["detail"]


def test_a_plan_change_applies_within_a_tick(
    local_pair: list[GatewayProcess], http: httpx.Client, user_service: str, bus: redis.Redis
) -> None:
    owner = register_owner(user_service)
    path = unique_path()
    gateway = local_pair[0]
    assert http.get(f"{gateway.url}{path}", headers=owner.auth).headers["ratelimit-limit"] == str(LIMIT)
    event = Outbox("users", "user_management").build(
        "tenant.plan_changed", {"old_plan": "basic", "new_plan": "pro", "reason": "upgrade"}, owner.tenant_id
    )
    bus.xadd("events.user_management", {"event": event.to_json()})

    def new_limit() -> str | None:
        value = http.get(f"{gateway.url}{path}", headers=owner.auth).headers["ratelimit-limit"]
        return value if value != str(LIMIT) else None

    assert eventually(new_limit) == "60"
