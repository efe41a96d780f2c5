"""Edge authentication: refusals never reach the upstream; public routes need no token; events
from user_management (deactivation, plan change) take effect at the gateway within seconds; the
operator endpoints need the operator token (or, without one configured, a loopback client)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.api_gateway import keys
from services.api_gateway.middleware import OPERATOR_PATHS, OperatorOnlyMiddleware
from shared.events.outbox import Outbox
from tests.api_gateway.helpers import GatewayProcess, unique_path
from tests.api_gateway.upstream import FakeUpstream
from tests.support.kit import PASSWORD, Account, assert_problem, eventually, register_owner
from tests.support.stack import Stack

USER_EVENTS = "events.user_management"


def _resign(token: str, key: object, **changes: object) -> str:
    """The token's claims with `changes`, signed with `key` under the original header (kid)."""
    header = jwt.get_unverified_header(token)
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return jwt.encode(claims, key, algorithm=header["alg"], headers={"kid": header["kid"]})


def _refused(
    gateway: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, headers: dict[str, str]
) -> dict:
    """Call the fake through the gateway; it must be a 401 problem that never reached the fake."""
    path = unique_path()
    response = http.get(f"{gateway.url}{path}", headers=headers)
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert upstream.hits(path) == 0
    return body


def test_missing_or_garbage_tokens_are_refused_at_the_edge(
    gateway: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, account: Account
) -> None:
    _refused(gateway, http, upstream, {})
    _refused(gateway, http, upstream, {"Authorization": account.access_token})  # no scheme
    _refused(gateway, http, upstream, {"Authorization": f"Basic {account.access_token}"})
    _refused(gateway, http, upstream, {"Authorization": "Bearer not-a-jwt"})
    _refused(gateway, http, upstream, {"Authorization": "Bearer aaa.bbb.ccc"})
    unsigned = jwt.encode(jwt.decode(account.access_token, options={"verify_signature": False}), None, "none")
    _refused(gateway, http, upstream, {"Authorization": f"Bearer {unsigned}"})


def test_forged_and_expired_tokens_are_refused(
    gateway: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, account: Account, stack: Stack
) -> None:
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _resign(account.access_token, own_key, role="owner")
    assert (
        "signature"
        in _refused(gateway, http, upstream, {"Authorization": f"Bearer {forged}"})["detail"].lower()
    )

    real_key = Path(stack.env("user_management")["JWT_PRIVATE_KEY_FILE"]).read_bytes()
    now = int(time.time())
    expired = _resign(account.access_token, real_key, iat=now - 3600, exp=now - 600)
    assert (
        "expired"
        in _refused(gateway, http, upstream, {"Authorization": f"Bearer {expired}"})["detail"].lower()
    )

    # Control: the same re-signing with a live expiry is accepted, so the refusal above was the expiry.
    path = unique_path()
    fresh = _resign(account.access_token, real_key, iat=now, exp=now + 600)
    assert http.get(f"{gateway.url}{path}", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert upstream.hits(path) == 1


def test_refresh_and_service_tokens_are_not_access_tokens(
    gateway: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, account: Account, stack: Stack
) -> None:
    _refused(gateway, http, upstream, {"Authorization": f"Bearer {account.refresh_token}"})

    issued = http.post(
        f"{gateway.url}/api/v1/auth/service-token",
        data={
            "grant_type": "client_credentials",
            "client_id": "notification",
            "client_secret": stack.env("notification")["NOTIFICATION_CLIENT_SECRET"],
        },
    )
    assert issued.status_code == 200, issued.text
    service_token = issued.json()["access_token"]
    assert jwt.decode(service_token, options={"verify_signature": False})["typ"] == "service"
    body = _refused(gateway, http, upstream, {"Authorization": f"Bearer {service_token}"})
    assert "service" in body["detail"].lower()
    users = http.get(f"{gateway.url}/api/v1/users/me", headers={"Authorization": f"Bearer {service_token}"})
    assert_problem(users, 401)


def test_public_routes_need_no_token(gateway: GatewayProcess, http: httpx.Client) -> None:
    registered = register_owner(gateway.url, http)  # through the gateway, no Authorization header
    login = http.post(
        f"{gateway.url}/api/v1/auth/login", json={"email": registered.email, "password": registered.password}
    )
    assert login.status_code == 200, login.text
    assert int(login.headers["ratelimit-limit"]) == 1000  # the per-IP limit of public auth routes
    assert http.get(f"{gateway.url}/.well-known/jwks.json").status_code == 200

    me = http.get(
        f"{gateway.url}/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["email"] == registered.email

    # Webhooks are public: forwarded without a token; integration is down, so 502 (or, once its
    # circuit has opened, 503), never 401.
    hook = http.post(f"{gateway.url}/api/v1/webhooks/stripe", content=b'{"type":"invoice.paid"}')
    body = assert_problem(hook, hook.status_code)
    assert hook.status_code in (502, 503) and "integration" in body["detail"].lower()

    # ... while the other auth routes are not public.
    assert_problem(http.get(f"{gateway.url}/api/v1/auth/sessions"), 401)


def _publish(bus: redis.Redis, event_type: str, data: dict, tenant_id: str) -> None:
    event = Outbox("users", "user_management").build(event_type, data, tenant_id)
    bus.xadd(USER_EVENTS, {"event": event.to_json()})


def test_a_deactivated_user_is_refused_at_the_edge_within_seconds(
    gateway: GatewayProcess,
    http: httpx.Client,
    upstream: FakeUpstream,
    bus: redis.Redis,
    account: Account,
) -> None:
    """End to end: the owner deactivates a colleague with a real DELETE; user_management emits
    `user.deactivated`; the gateway's consumer puts the colleague on the deny list, so even a
    route user_management never sees (the fake upstream here) refuses the remaining token."""
    colleague_email = f"colleague-{uuid.uuid4().hex[:10]}@acme.io"
    created = http.post(
        f"{gateway.url}/api/v1/users",
        headers=account.auth,
        json={"email": colleague_email, "full_name": "Cole League", "role": "manager", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    signed_in = http.post(
        f"{gateway.url}/api/v1/auth/login", json={"email": colleague_email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    colleague = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    colleague_id = created.json()["id"]
    path = unique_path()
    assert http.get(f"{gateway.url}{path}", headers=colleague).status_code == 200

    removed = http.delete(f"{gateway.url}/api/v1/users/{colleague_id}", headers=account.auth)
    assert removed.status_code == 204, removed.text

    def refused() -> httpx.Response | None:
        response = http.get(f"{gateway.url}{path}", headers=colleague)
        return response if response.status_code == 401 else None

    body = assert_problem(eventually(refused, timeout=15), 401)
    assert "deactivated" in body["detail"].lower()
    ttl = bus.pttl(keys.deny(colleague_id))
    assert 14 * 60_000 < ttl <= 16 * 60_000  # until the token's expiry (15 min) plus a leeway
    hits = upstream.hits(path)
    assert http.get(f"{gateway.url}{path}", headers=colleague).status_code == 401
    assert upstream.hits(path) == hits
    assert http.get(f"{gateway.url}{path}", headers=account.auth).status_code == 200


def test_plan_change_applies_the_new_limit_at_once(
    gateway: GatewayProcess,
    http: httpx.Client,
    bus: redis.Redis,
    account: Account,
    user_service: str,
) -> None:
    path = unique_path()
    assert http.get(f"{gateway.url}{path}", headers=account.auth).headers["ratelimit-limit"] == "100000"

    _publish(
        bus,
        "tenant.plan_changed",
        {"old_plan": "basic", "new_plan": "pro", "reason": "upgrade"},
        account.tenant_id,
    )

    def limit() -> str | None:
        value = http.get(f"{gateway.url}{path}", headers=account.auth).headers["ratelimit-limit"]
        return value if value != "100000" else None

    assert eventually(limit, timeout=10, interval=0.2) == "200000"  # the pro limit
    assert bus.get(keys.plan(account.tenant_id)) == b"pro"
    assert bus.ttl(keys.plan(account.tenant_id)) > 3600

    other = register_owner(user_service)  # another tenant keeps its own plan
    assert http.get(f"{gateway.url}{path}", headers=other.auth).headers["ratelimit-limit"] == "100000"


# --- operator endpoints ------------------------------------------------------------------------


def test_operator_endpoints_need_the_operator_token(
    gateway: GatewayProcess, http: httpx.Client, upstream: FakeUpstream, account: Account
) -> None:
    """/metrics and /health/services name internal addresses: nothing of them without the token."""
    wrong = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {gateway.operator_token}x"},
        {"Authorization": f"Bearer {gateway.operator_token[:-1]}"},
        account.auth,  # a user's access token is not the operator's
    ]
    for path in ("/metrics", "/health/services"):
        for headers in wrong:
            response = http.get(f"{gateway.url}{path}", headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert upstream.url not in response.text and "campaign_management" not in response.text
        for variant in (f"{path}/", f"{path}?format=json"):
            sneaky = http.get(f"{gateway.url}{variant}")
            assert sneaky.status_code != 200 and upstream.url not in sneaky.text, (variant, sneaky.text)

    metrics = http.get(f"{gateway.url}/metrics", headers=gateway.operator)
    assert metrics.status_code == 200
    assert "gateway_breaker_state" in metrics.text
    health = http.get(f"{gateway.url}/health/services", headers=gateway.operator)
    assert health.status_code == 200
    assert health.json()["services"]["campaign_management"]["url"] == upstream.url


async def _operator_get(
    app: OperatorOnlyMiddleware, client: str, path: str, **headers: str
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(client, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        return await http.get(path, headers=headers)


def _inner_app() -> Starlette:
    async def internals(_: Request) -> PlainTextResponse:
        return PlainTextResponse("internal addresses")

    return Starlette(routes=[Route(path, internals) for path in (*OPERATOR_PATHS, "/health")])


@pytest.mark.parametrize("path", sorted(OPERATOR_PATHS))
async def test_without_an_operator_token_only_loopback_clients_get_operator_endpoints(path: str) -> None:
    guarded = OperatorOnlyMiddleware(_inner_app(), token=None)
    for loopback in ("127.0.0.1", "127.0.0.2", "::1"):
        allowed = await _operator_get(guarded, loopback, path)
        assert (allowed.status_code, allowed.text) == (200, "internal addresses"), loopback
    for remote in ("10.0.0.5", "203.0.113.9", "2001:db8::1", "not-an-address"):
        refused = await _operator_get(guarded, remote, path)
        assert_problem(refused, 403)
        assert "internal addresses" not in refused.text
    # Only the operator paths are guarded.
    assert (await _operator_get(guarded, "10.0.0.5", "/health")).status_code == 200


@pytest.mark.parametrize("path", sorted(OPERATOR_PATHS))
async def test_with_an_operator_token_even_loopback_clients_need_it(path: str) -> None:
    guarded = OperatorOnlyMiddleware(_inner_app(), token="op-secret")
    assert_problem(await _operator_get(guarded, "127.0.0.1", path), 401)
    assert_problem(await _operator_get(guarded, "127.0.0.1", path, Authorization="Bearer op-secre"), 401)
    remote = await _operator_get(guarded, "10.0.0.5", path, Authorization="Bearer op-secret")
    assert (remote.status_code, remote.text) == (200, "internal addresses")
