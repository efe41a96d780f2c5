"""The gateway as real uvicorn processes between a real user_management and a fake upstream.

- `upstream`: the fake campaign_management (tests/api_gateway/upstream.py), shared by all tests.
- `gateway`: the default gateway with generous limits, shared by the whole package; other
  modules start their own (exact limits, Redis outage) with `running_gateways`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.embedded import free_port
from tests.api_gateway.helpers import GatewayProcess, gateway_env, running_gateways
from tests.api_gateway.upstream import FakeUpstream
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def dead_url() -> str:
    """A base URL where nothing listens (the services other than campaign_management are down)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def gateway(
    stack: Stack, user_service: str, upstream: FakeUpstream, dead_url: str
) -> Iterator[GatewayProcess]:
    env = gateway_env(stack, upstream.url, dead_url)
    with running_gateways((env, stack.log_root / "gateway-default")) as (started,):
        yield started


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15) as client:
        yield client


@pytest.fixture
def account(user_service: str) -> Account:
    """A fresh tenant owner (plan basic), registered directly at user_management."""
    return register_owner(user_service)
