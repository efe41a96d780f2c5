"""get_principal and require() in a real FastAPI app, verifying tokens against a real JWKS server.

Every service relies on these dependencies to enforce RBAC itself, so the HTTP contract matters:
401 with WWW-Authenticate for missing or bad tokens, 403 for missing permissions, problem+json.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.auth.deps import get_principal, require
from shared.auth.tokens import JwksCache, Principal, TokenVerifier
from shared.context import tenant_id_var
from shared.problems import PROBLEM_BASE, install_problem_handlers
from tests.support.jwks_server import (
    AUDIENCE,
    ISSUER,
    JwksServer,
    SigningKey,
    access_claims,
    service_claims,
)

WRITE = "/campaigns"
READ = "/reports"
ME = "/me"


def describe(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "tenant_id": str(principal.tenant_id) if principal.tenant_id else None,
        "is_service": principal.is_service,
        "role": principal.role,
        "context_tenant": tenant_id_var.get(),
    }


def build_app(verifier: TokenVerifier) -> FastAPI:
    """The smallest app wired the way create_service_app wires auth."""
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier

    @app.post(WRITE)
    async def write_campaign(principal: Principal = Depends(require("campaigns:write"))) -> dict[str, Any]:
        return describe(principal)

    @app.get(READ)
    async def read_reports(
        principal: Principal = Depends(require("analytics:read", allow_service=True)),
    ) -> dict[str, Any]:
        return describe(principal)

    @app.get(ME)
    async def me(principal: Principal = Depends(get_principal)) -> dict[str, Any]:
        return describe(principal)

    return app


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.ec("deps-ec")


@pytest.fixture
async def client(key: SigningKey) -> AsyncIterator[httpx.AsyncClient]:
    server = JwksServer()
    server.publish(key)
    await server.start()
    cache = JwksCache(server.url, min_refetch_seconds=60)
    app = build_app(TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
        yield http
    await cache.aclose()
    await server.stop()


def bearer(token: str, tenant: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if tenant is not None:
        headers["X-Tenant-ID"] = tenant
    return headers


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == PROBLEM_BASE + "unauthorized"
    return body


# --- 401 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [WRITE, READ, ME])
async def test_no_token_is_401_problem(client: httpx.AsyncClient, path: str) -> None:
    method = "POST" if path == WRITE else "GET"
    body = assert_unauthorized(await client.request(method, path))
    assert "bearer" in body["detail"]


async def test_non_bearer_authorization_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}))


async def test_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    body = assert_unauthorized(await client.get(ME, headers=bearer("not.a.jwt")))
    assert "malformed" in body["detail"]


async def test_token_from_an_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    stranger = SigningKey.ec("stranger")
    body = assert_unauthorized(await client.get(ME, headers=bearer(stranger.sign(access_claims()))))
    assert "unknown signing key" in body["detail"]


async def test_expired_token_is_401(client: httpx.AsyncClient, key: SigningKey) -> None:
    now = int(time.time())
    token = key.sign(access_claims(iat=now - 3600, exp=now - 600))
    body = assert_unauthorized(await client.post(WRITE, headers=bearer(token)))
    assert body["detail"] == "token expired"


async def test_refresh_token_is_401(client: httpx.AsyncClient, key: SigningKey) -> None:
    """A refresh token must never authorize an API call."""
    assert_unauthorized(await client.get(ME, headers=bearer(key.sign(access_claims(typ="refresh")))))


# --- 403 and 200 for users -------------------------------------------------------------------------


async def test_viewer_cannot_write_campaigns(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = key.sign(access_claims(role="viewer"))
    body = assert_problem(await client.post(WRITE, headers=bearer(token)), 403)
    assert body["type"] == PROBLEM_BASE + "forbidden"
    assert "campaigns:write" in body["detail"]


async def test_unknown_role_is_403(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = key.sign(access_claims(role="superuser"))
    assert_problem(await client.get(READ, headers=bearer(token)), 403)


@pytest.mark.parametrize("role", ["manager", "admin", "owner"])
async def test_manager_and_above_can_write_campaigns(
    client: httpx.AsyncClient, key: SigningKey, role: str
) -> None:
    """Success also sets the tenant context that logs and events pick up."""
    claims = access_claims(role=role)
    response = await client.post(WRITE, headers=bearer(key.sign(claims)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": claims["sub"],
        "tenant_id": claims["tid"],
        "is_service": False,
        "role": role,
        "context_tenant": claims["tid"],
    }


async def test_viewer_can_read_reports(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get(READ, headers=bearer(key.sign(access_claims(role="viewer"))))
    assert response.status_code == 200, response.text


async def test_user_cannot_switch_tenant_with_header(client: httpx.AsyncClient, key: SigningKey) -> None:
    """X-Tenant-ID is for service tokens only; a user stays in the tenant of their token."""
    claims = access_claims()
    other = str(uuid.uuid4())
    response = await client.post(WRITE, headers=bearer(key.sign(claims), tenant=other))
    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == claims["tid"]
    assert response.json()["context_tenant"] == claims["tid"]


# --- service tokens --------------------------------------------------------------------------------


async def test_service_token_acts_for_the_named_tenant(client: httpx.AsyncClient, key: SigningKey) -> None:
    tenant = str(uuid.uuid4())
    token = key.sign(service_claims("analytics:read"))
    response = await client.get(READ, headers=bearer(token, tenant=tenant))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "svc-reporting",
        "tenant_id": tenant,
        "is_service": True,
        "role": None,
        "context_tenant": tenant,
    }


async def test_service_token_without_tenant_is_403(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = key.sign(service_claims("analytics:read"))
    body = assert_problem(await client.get(READ, headers=bearer(token)), 403)
    assert "tenant" in body["detail"]


async def test_service_token_is_limited_to_its_scopes(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = key.sign(service_claims("campaigns:read"))
    body = assert_problem(await client.get(READ, headers=bearer(token, tenant=str(uuid.uuid4()))), 403)
    assert "analytics:read" in body["detail"]


async def test_service_token_refused_on_user_only_route(client: httpx.AsyncClient, key: SigningKey) -> None:
    """Even a service holding the scope cannot use an operation not opened to services."""
    token = key.sign(service_claims("campaigns:write analytics:read"))
    body = assert_problem(await client.post(WRITE, headers=bearer(token, tenant=str(uuid.uuid4()))), 403)
    assert "service" in body["detail"]


@pytest.mark.parametrize("tenant", ["not-a-uuid", "1234", "00000000-0000-4000-8000-00000000000"])
async def test_malformed_tenant_header_is_400(
    client: httpx.AsyncClient, key: SigningKey, tenant: str
) -> None:
    token = key.sign(service_claims("analytics:read"))
    body = assert_problem(await client.get(READ, headers=bearer(token, tenant=tenant)), 400)
    assert "X-Tenant-ID" in body["detail"]


# --- declaring routes ------------------------------------------------------------------------------


def test_require_rejects_unknown_permission_at_definition() -> None:
    """A typo in a route's permission must fail at import, not deny (or allow) at runtime."""
    with pytest.raises(ValueError, match="campaigns:destroy"):
        require("campaigns:destroy")
