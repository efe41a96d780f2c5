"""Gateway processes between the real user_management and a fake upstream (the shared kit does
the rest: problems, polling, accounts, metrics)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.embedded import free_port
from devstack.fleet import Fleet
from shared.fleet import spec
from tests.support.stack import Stack

DOWN_PEERS = ("ANALYTICS_URL", "INTEGRATION_URL", "NOTIFICATION_URL", "AI_AGENTS_URL")
GENEROUS_PLANS = {"basic": "100000/3600", "pro": "200000/3600", "enterprise": "300000/3600"}
# README "Gateway": on every answer, proxied, the gateway's own, and problems alike.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def gateway_env(stack: Stack, upstream_url: str, dead_url: str, **overrides: str) -> dict[str, str]:
    """The gateway's own environment, with campaign_management at the fake and other peers down."""
    env = stack.env("api_gateway")
    env["CAMPAIGN_MANAGEMENT_URL"] = upstream_url
    env["USER_MANAGEMENT_URL"] = stack.url("user_management")
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
    operator_token: str

    @property
    def operator(self) -> dict[str, str]:
        """Headers that open /metrics and /health/services."""
        return {"Authorization": f"Bearer {self.operator_token}"}

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
                envs={"api_gateway": env},
                ports={"api_gateway": port},
                log_dir=log_dir,
                services=(spec("api_gateway"),),
            )
            gateways.append(GatewayProcess(f"http://127.0.0.1:{port}", fleet, env["GATEWAY_OPERATOR_TOKEN"]))
            fleet.start()
        for gateway in gateways:
            gateway.fleet.wait_ready(timeout=45, on_news=lambda _: None)
        yield gateways
    finally:
        for gateway in gateways:
            gateway.fleet.stop(timeout=10)


def unique_path(kind: str = "echo") -> str:
    """A fresh path on the fake, so hit counts of one test are not disturbed by others."""
    return f"/api/v1/campaigns/{kind}/{uuid.uuid4().hex[:12]}"


def fresh_address() -> str:
    """A client address no other test uses (IPv6 documentation range), so its bucket is new."""
    tag = uuid.uuid4().hex
    return f"2001:db8::{tag[:4]}:{tag[4:8]}:{tag[8:12]}"


def assert_security_headers(response: httpx.Response) -> None:
    """Each security header exactly once, with the gateway's value (a second, different copy
    would leave the browser to pick one)."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], (response.url, name, response.headers)
