"""Shared helpers for the user_management tests: fresh tenants, tokens, events, security log.

Several test modules use these; add functions rather than renaming existing ones.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from redis.asyncio import Redis

from tests.support.kit import Account, register_owner_async

EVENTS_STREAM = "events.user_management"


def unique_email(prefix: str = "user", domain: str = "acme.io") -> str:
    """A platform-unique address: the database is shared by every test of the session."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@{domain}"


def strong_password() -> str:
    """A fresh password that passes the policy (long, varied, unrelated to any email)."""
    return f"Pw9!{secrets.token_urlsafe(16)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    """The token's claims, unverified: tests inspect what the issuer put in."""
    return jwt.decode(token, options={"verify_signature": False})


Registered = Account
register_tenant = register_owner_async


async def login(
    api: httpx.AsyncClient, email: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await api.post("/api/v1/auth/login", json={"email": email, "password": password}, headers=headers)


async def security_log(api: httpx.AsyncClient, access_token: str, limit: int = 100) -> list[dict[str, Any]]:
    """The caller's own security log, newest first."""
    response = await api.get(
        "/api/v1/users/me/security-log", params={"limit": limit}, headers=bearer(access_token)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def decode_entry(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The event envelope of one stream entry."""
    return json.loads(fields[b"event"])


async def stream_events(redis: Redis, stream: str = EVENTS_STREAM) -> list[dict[str, Any]]:
    """Every event envelope currently in the stream, oldest first."""
    return [decode_entry(fields) for _, fields in await redis.xrange(stream)]


async def wait_for_event(
    redis: Redis,
    event_type: str,
    where: Callable[[dict[str, Any]], bool] = lambda _: True,
    *,
    stream: str = EVENTS_STREAM,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The first event of `event_type` whose envelope satisfies `where`, polling until `timeout`
    (the outbox relay publishes shortly after the commit, not within the request)."""
    deadline = time.monotonic() + timeout
    while True:
        for event in await stream_events(redis, stream):
            if event.get("type") == event_type and where(event):
                return event
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event_type} event matching the condition in {stream} after {timeout}s")
        await asyncio.sleep(0.1)


async def service_token(api: httpx.AsyncClient, stack: Any, service: str, scope: str | None = None) -> str:
    """A service token of `service`'s own account (its secret from its own environment)."""
    secret = stack.env(service)[f"{service.upper()}_CLIENT_SECRET"]
    form = {"grant_type": "client_credentials", "client_id": service, "client_secret": secret}
    if scope:
        form["scope"] = scope
    response = await api.post("/api/v1/auth/service-token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def mint_invitation(api: httpx.AsyncClient, stack: Any, tenant_id: str, user_id: str) -> str:
    """What notification does to send an invitation email: mint a fresh one-time link."""
    token = await service_token(api, stack, "notification", "users:invite")
    response = await api.post(
        f"/api/v1/users/{user_id}/invitation-link", headers={**bearer(token), "X-Tenant-ID": tenant_id}
    )
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["url"])
    assert url.path.endswith("/accept-invite")
    (invite,) = parse_qs(url.query)["token"]
    assert invite.startswith("inv_")
    return invite
