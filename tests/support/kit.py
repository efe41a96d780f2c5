"""What every service test needs: problem assertions, polling, a registered owner, metrics.

One definition each, so every test checks the same things the same way.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

PASSWORD = "Kit-Password-2024!"


def assert_problem(response: httpx.Response, status: int, problem_type: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` (and `type` ending in `problem_type`)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body.get("type"), str) and body["type"]
    assert body.get("title") and body.get("detail"), body
    if problem_type is not None:
        assert body["type"].endswith(f"/{problem_type}"), body
    return body


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value after `timeout`.
    Deadlines are generous: a loaded two-core machine may be slow, never wrong."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def eventually_async(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Account:
    """A tenant owner registered through POST /api/v1/auth/register."""

    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str
    tenant_id: str
    body: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.access_token)

    headers = auth


def registration(
    email: str | None = None,
    password: str | None = None,
    tenant_name: str | None = None,
    full_name: str = "Olivia Owner",
) -> dict[str, str]:
    """A fresh, valid registration body: unique email, a new strong password each time."""
    tag = uuid.uuid4().hex[:12]
    return {
        "tenant_name": tenant_name or f"Agency {tag}",
        "email": email or f"owner-{tag}@acme.io",
        "password": password or f"Pw9!{secrets.token_urlsafe(16)}",
        "full_name": full_name,
    }


def _account(body: dict[str, str], response: httpx.Response) -> Account:
    assert response.status_code == 201, response.text
    data = response.json()
    return Account(
        email=body["email"],
        password=body["password"],
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        user_id=str(data["user"]["id"]),
        tenant_id=str(data["tenant"]["id"]),
        body=data,
    )


def register_owner(base_url: str, client: httpx.Client | None = None, **fields: Any) -> Account:
    """Register a new tenant and its owner (plan basic) at `base_url` (a service or the gateway)."""
    body = registration(**fields)
    if client is not None:
        return _account(body, client.post(f"{base_url}/api/v1/auth/register", json=body))
    with httpx.Client(timeout=30) as http:
        return _account(body, http.post(f"{base_url}/api/v1/auth/register", json=body))


async def register_owner_async(
    api: httpx.AsyncClient, *, headers: dict[str, str] | None = None, **fields: Any
) -> Account:
    """The same through an async client whose base URL is the service or the gateway."""
    body = registration(**fields)
    return _account(body, await api.post("/api/v1/auth/register", json=body, headers=headers))


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples with these labels (0 if absent)."""
    total = 0.0
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    for line in text.splitlines():
        if line.startswith((f"{name} ", f"{name}{{")) and all(label in line for label in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def service_headers(
    user_service: str, stack: Any, service: str, tenant_id: str, scope: str | None = None
) -> dict[str, str]:
    """A service token of `service`'s own account (its secret from its own environment), acting
    for `tenant_id`: what a peer sends."""
    secret = stack.env(service)[f"{service.upper()}_CLIENT_SECRET"]
    form = {"grant_type": "client_credentials", "client_id": service, "client_secret": secret}
    if scope:
        form["scope"] = scope
    response = httpx.post(f"{user_service}/api/v1/auth/service-token", data=form, timeout=10)
    assert response.status_code == 200, response.text
    return {**bearer(response.json()["access_token"]), "X-Tenant-ID": tenant_id}
