"""Starting gateway processes, registering real users, and small HTTP helpers for the tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from devstack.embedded import free_port
from devstack.fleet import Fleet
from shared.fleet import spec

T = TypeVar("T")

PASSWORD = "Gateway-Tests-2024!"
DOWN_PEERS = ("ANALYTICS_URL", "INTEGRATION_URL", "NOTIFICATION_URL", "AI_AGENTS_URL")
GENEROUS_PLANS = {"basic": "100000/3600", "pro": "200000/3600", "enterprise": "300000/3600"}


def gateway_env(base: dict[str, str], upstream_url: str, dead_url: str, **overrides: str) -> dict[str, str]:
    """The services' environment with campaign_management at the fake and other peers down."""
    env = dict(base)
    env["CAMPAIGN_MANAGEMENT_URL"] = upstream_url
    for name in DOWN_PEERS:
        env[name] = dead_url
    env.update(
        UPSTREAM_TIMEOUT_SECONDS="1.5",
        UPSTREAM_CONNECT_TIMEOUT_SECONDS="1",
        BREAKER_FAIL_MAX="3",
        BREAKER_RESET_SECONDS="1",
        GATEWAY_MAX_BODY_BYTES="65536",
        UPSTREAM_RETRIES="2",
        PLAN_RATE_LIMITS=json.dumps(GENEROUS_PLANS),
        AUTH_IP_RATE_LIMIT="1000/60",
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


@dataclass
class GatewayProcess:
    url: str
    fleet: Fleet

    def log_tail(self) -> str:
        return "\n".join(p.log_tail() for p in self.fleet.processes)


@contextmanager
def running_gateways(*configs: tuple[dict[str, str], Path]) -> Iterator[list[GatewayProcess]]:
    """Start one api_gateway process per (env, log_dir), all at once; stop them afterwards."""
    gateways = []
    try:
        for env, log_dir in configs:
            port = free_port()
            fleet = Fleet(
                env=env, ports={"api_gateway": port}, log_dir=log_dir, services=(spec("api_gateway"),)
            )
            gateways.append(GatewayProcess(f"http://127.0.0.1:{port}", fleet))
            fleet.start()
        for gateway in gateways:
            gateway.fleet.wait_ready(timeout=45)
        yield gateways
    finally:
        for gateway in gateways:
            gateway.fleet.stop(timeout=10)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str
    tenant_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register(base_url: str, client: httpx.Client | None = None) -> Account:
    """Register a new tenant and its owner (plan basic) through `base_url`."""
    tag = uuid.uuid4().hex[:12]
    email = f"gw-{tag}@acme.io"
    body = {"tenant_name": f"Acme {tag}", "email": email, "password": PASSWORD, "full_name": "Gate Keeper"}
    own = client is None
    http = client or httpx.Client(timeout=15)
    try:
        response = http.post(f"{base_url}/api/v1/auth/register", json=body)
    finally:
        if own:
            http.close()
    assert response.status_code == 201, response.text
    data = response.json()
    return Account(
        email=email,
        password=PASSWORD,
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        user_id=str(data["user"]["id"]),
        tenant_id=str(data["user"]["tenant_id"]),
    )


def unique_path(kind: str = "echo") -> str:
    """A fresh path on the fake, so hit counts of one test are not disturbed by others."""
    return f"/api/v1/campaigns/{kind}/{uuid.uuid4().hex[:12]}"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert body.get("title") and body.get("detail")
    return body


def eventually(probe: Callable[[], T | None], timeout: float = 8.0, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def metric_value(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples (0 if absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((f"{name} ", f"{name}{{")):
            total += float(line.rsplit(" ", 1)[1])
    return total
