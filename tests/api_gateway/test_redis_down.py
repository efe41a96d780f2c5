"""With its Redis gone, the gateway fails open (the default): authenticated requests still pass,
and every unchecked limit is counted in `gateway_rate_limit_unavailable_total`. Once Redis is back,
limits apply again and the count stops growing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.embedded import EmbeddedRedis, free_port
from tests.api_gateway.helpers import GatewayProcess, gateway_env, running_gateways, unique_path
from tests.api_gateway.upstream import FakeUpstream
from tests.support.kit import Account, eventually, metric_value
from tests.support.stack import Stack

UNAVAILABLE = "gateway_rate_limit_unavailable_total"


@dataclass
class Isolated:
    gateway: GatewayProcess
    redis: EmbeddedRedis


@pytest.fixture(scope="module")
def isolated(
    stack: Stack,
    user_service: str,
    upstream: FakeUpstream,
    dead_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Isolated]:
    """A gateway on its own embedded Redis, which the test may stop."""
    folder: Path = tmp_path_factory.mktemp("gateway-redis")
    own_redis = EmbeddedRedis(folder / "redis", free_port(), durable=False)
    own_redis.start()
    try:
        env = gateway_env(stack, upstream.url, dead_url, REDIS_URL=own_redis.url)
        with running_gateways((env, stack.log_root / "gateway-redis-down")) as (gateway,):
            yield Isolated(gateway, own_redis)
    finally:
        own_redis.stop()


def _unavailable(http: httpx.Client, gateway: GatewayProcess) -> float:
    return metric_value(http.get(f"{gateway.url}/metrics", headers=gateway.operator).text, UNAVAILABLE)


def test_requests_pass_and_are_counted_while_redis_is_down(
    isolated: Isolated, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    url = isolated.gateway.url
    path = unique_path()
    limited = http.get(f"{url}{path}", headers=account.auth)
    assert limited.status_code == 200
    assert limited.headers["ratelimit-limit"] == "100000"
    before = _unavailable(http, isolated.gateway)

    isolated.redis.stop()
    for _ in range(3):
        response = http.get(f"{url}{path}", headers=account.auth)
        assert response.status_code == 200, response.text
        assert "ratelimit-limit" not in response.headers  # nothing was checked, nothing to report
    assert upstream.hits(path) == 4

    after = _unavailable(http, isolated.gateway)
    assert after >= before + 3, (before, after)

    # Edge authentication does not depend on Redis: a bad token is still refused.
    assert http.get(f"{url}{path}", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert upstream.hits(path) == 4
    assert http.get(f"{url}/ready").status_code == 503  # readiness does report the outage

    # Redis is back (same port, empty): limits apply again, and nothing more goes uncounted.
    isolated.redis.start()

    def limited_again() -> httpx.Response | None:
        response = http.get(f"{url}{path}", headers=account.auth)
        assert response.status_code == 200, response.text
        return response if "ratelimit-limit" in response.headers else None

    back = eventually(limited_again, timeout=20, interval=0.2)
    assert back.headers["ratelimit-limit"] == "100000"
    assert int(back.headers["ratelimit-remaining"]) == 99999  # a full bucket, less this request
    settled = _unavailable(http, isolated.gateway)
    assert settled >= after
    for _ in range(5):
        response = http.get(f"{url}{path}", headers=account.auth)
        assert response.headers["ratelimit-limit"] == "100000"
    assert _unavailable(http, isolated.gateway) == settled
    eventually(lambda: http.get(f"{url}/ready").status_code == 200, timeout=20, interval=0.2)
