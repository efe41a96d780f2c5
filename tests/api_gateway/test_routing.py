"""Routing of every prefix, the headers the gateway adds and strips (security headers, redirects to
an upstream's internal address), and the merged docs."""

from __future__ import annotations

import json
import socket
import uuid

import httpx
import pytest

from tests.api_gateway.helpers import GatewayProcess, assert_security_headers, unique_path
from tests.api_gateway.upstream import PREFIX, FakeUpstream, echo_of
from tests.support.kit import Account, assert_problem, eventually

# --- routing -----------------------------------------------------------------------------------


def test_user_management_prefixes_reach_the_real_service(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    """JWKS, /users and /tenants are answered by user_management itself, token and all."""
    jwks = http.get(f"{gateway.url}/.well-known/jwks.json")
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert keys and all(k["kid"] and k["alg"] in {"RS256", "ES256"} for k in keys)

    me = http.get(f"{gateway.url}/api/v1/users/me", headers=account.auth)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == account.email
    assert str(me.json()["id"]) == account.user_id

    tenant = http.get(f"{gateway.url}/api/v1/tenants/current", headers=account.auth)
    assert tenant.status_code == 200, tenant.text
    assert str(tenant.json()["id"]) == account.tenant_id


def test_campaigns_and_funnels_reach_campaign_management_unchanged(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    """Paths are never rewritten and the query string is kept byte for byte."""
    path = unique_path()
    query = "b=2&a=1&a=x%20y&empty="
    response = http.get(f"{gateway.url}{path}/deep/er?{query}", headers=account.auth)
    assert response.status_code == 200, response.text
    echo = echo_of(response)
    assert echo["method"] == "GET"
    assert echo["raw_path"] == f"{path}/deep/er?{query}"

    funnel = http.put(f"{gateway.url}/api/v1/funnels/f-1?x=1", headers=account.auth, json={"steps": 3})
    assert funnel.status_code == 200, funnel.text
    echo = echo_of(funnel)
    assert (echo["method"], echo["raw_path"]) == ("PUT", "/api/v1/funnels/f-1?x=1")
    assert echo["body"] == '{"steps":3}'


def test_percent_encoded_path_is_forwarded_as_sent(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    """An encoded `?` or `/` inside a segment stays encoded: it must not become a query or a new
    segment on the way upstream."""
    path = unique_path()
    response = http.get(f"{gateway.url}{path}/a%3Fb%3D1/c%2Fd?real=1", headers=account.auth)
    assert response.status_code == 200, response.text
    echo = echo_of(response)
    assert echo["raw_path"] == f"{path}/a%3Fb%3D1/c%2Fd?real=1"


def test_dot_segments_are_forwarded_verbatim(gateway: GatewayProcess, account: Account) -> None:
    """The upstream gets the very path the gateway matched (no dot-segment resolution on the way),
    so the route decision and what the upstream serves cannot disagree."""
    host, port = gateway.url.removeprefix("http://").split(":")
    target = f"/api/v1/funnels/../campaigns/echo/{uuid.uuid4().hex}"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {account.access_token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    if b"transfer-encoding: chunked" in head.lower():
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    assert json.loads(body)["raw_path"] == target


@pytest.mark.parametrize(
    ("path", "upstream_name"),
    [
        ("/api/v1/analytics/reports", "analytics"),
        ("/api/v1/integrations/list", "integration"),
        ("/api/v1/notifications", "notification"),
        ("/api/v1/ai/agents/run", "ai_agents"),
    ],
)
def test_prefixes_of_services_that_are_down_answer_502(
    gateway: GatewayProcess, http: httpx.Client, account: Account, path: str, upstream_name: str
) -> None:
    """A POST (never retried) to a down service is one failed attempt: a 502 naming that service."""
    response = http.post(f"{gateway.url}{path}", headers=account.auth, json={})
    body = assert_problem(response, 502)
    assert upstream_name in body["detail"]
    assert_security_headers(response)


def test_unknown_route_is_a_404_problem(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    for path in ("/api/v1/nope", "/api/v1/campaignsX/1", "/api/v2/campaigns"):
        response = http.get(f"{gateway.url}{path}", headers=account.auth)
        assert_problem(response, 404)
        assert_security_headers(response)


# --- headers -----------------------------------------------------------------------------------


def test_hop_by_hop_headers_are_not_forwarded(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    headers = {
        **account.auth,
        "Connection": "keep-alive, X-Custom",
        "X-Custom": "secret-hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-End-To-End": "kept",
    }
    response = http.get(f"{gateway.url}{unique_path()}", headers=headers)
    assert response.status_code == 200, response.text
    sent = {name for name, _ in echo_of(response)["headers"]}
    for name in ("x-custom", "keep-alive", "te", "upgrade", "proxy-authorization"):
        assert name not in sent, (name, sent)
    assert "x-custom" not in sent
    assert dict(echo_of(response)["headers"])["x-end-to-end"] == "kept"


def test_forwarded_headers_are_set(gateway: GatewayProcess, http: httpx.Client, account: Account) -> None:
    plain = echo_of(http.get(f"{gateway.url}{unique_path()}", headers=account.auth))
    sent = dict(plain["headers"])
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-host"] == gateway.url.removeprefix("http://")

    # A client's own X-Forwarded-* (the peer is not a trusted proxy here): the services behind
    # trust the gateway, so it passes on only the address it settled on itself, never the
    # client's claim (else a client could pick the address user_management logs and limits).
    spoofed = {
        **account.auth,
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    chained = echo_of(http.get(f"{gateway.url}{unique_path()}", headers=spoofed))["headers"]
    assert [v for k, v in chained if k == "x-forwarded-for"] == ["127.0.0.1"]
    assert [v for k, v in chained if k == "x-forwarded-proto"] == ["http"]
    assert [v for k, v in chained if k == "x-forwarded-host"] == [gateway.url.removeprefix("http://")]


def test_request_id_is_kept_or_created_and_the_same_on_both_sides(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    mine = f"req-{uuid.uuid4().hex}"
    kept = http.get(f"{gateway.url}{unique_path()}", headers={**account.auth, "X-Request-ID": mine})
    assert kept.headers.get_list("x-request-id") == [mine]
    assert [v for k, v in echo_of(kept)["headers"] if k == "x-request-id"] == [mine]

    made = http.get(f"{gateway.url}{unique_path()}", headers=account.auth)
    created = made.headers.get_list("x-request-id")
    assert len(created) == 1 and len(created[0]) >= 16
    assert [v for k, v in echo_of(made)["headers"] if k == "x-request-id"] == created

    other = http.get(f"{gateway.url}{unique_path()}", headers=account.auth)
    assert other.headers["x-request-id"] != created[0]


def test_rate_limit_headers_on_proxied_answers(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    proxied = http.get(f"{gateway.url}{unique_path()}", headers=account.auth)
    assert proxied.headers["ratelimit-limit"] == "100000"
    remaining = int(proxied.headers["ratelimit-remaining"])
    assert 0 < remaining < 100000
    assert int(proxied.headers["ratelimit-reset"]) >= 1

    again = http.get(f"{gateway.url}{unique_path()}", headers=account.auth)
    assert int(again.headers["ratelimit-remaining"]) < remaining


def test_security_headers_on_every_kind_of_answer(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    """Proxied answers (the fake, user_management), the gateway's own pages, and problems made
    at the edge, by the proxy and by the app (429s: see test_limits.py)."""
    answers = {
        "proxied": http.get(f"{gateway.url}{unique_path()}", headers=account.auth),
        "user_management": http.get(f"{gateway.url}/.well-known/jwks.json"),
        "health": http.get(f"{gateway.url}/health"),
        "docs": http.get(f"{gateway.url}/docs"),
        "openapi": http.get(f"{gateway.url}/openapi.json"),
        "401": http.get(f"{gateway.url}{unique_path()}"),
        "404 proxy": http.get(f"{gateway.url}/api/v1/nope", headers=account.auth),
        "404 app": http.get(f"{gateway.url}/nothing-here"),
        "413": http.post(f"{gateway.url}{unique_path()}", headers=account.auth, content=b"x" * 70_000),
        "5xx": http.post(f"{gateway.url}/api/v1/ai/tasks", headers=account.auth, json={}),
        "operator 401": http.get(f"{gateway.url}/metrics"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "proxied": 200,
        "user_management": 200,
        "health": 200,
        "docs": 200,
        "openapi": 200,
        "401": 401,
        "404 proxy": 404,
        "404 app": 404,
        "413": 413,
        "5xx": statuses["5xx"],
        "operator 401": 401,
    }
    assert statuses["5xx"] in (502, 503)  # ai_agents is down (503 once its circuit is open)
    for response in answers.values():
        assert_security_headers(response)


def test_an_upstreams_own_security_headers_do_not_weaken_the_gateways(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    """The fake's /framed answers `X-Frame-Options: SAMEORIGIN` and `Referrer-Policy: unsafe-url`;
    the client must get the gateway's values only."""
    response = http.get(f"{gateway.url}{PREFIX}/framed", headers=account.auth)
    assert response.status_code == 200
    assert_security_headers(response)


# --- redirects ---------------------------------------------------------------------------------


def test_a_redirect_to_the_upstreams_own_address_becomes_a_gateway_path(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    """The upstream's internal address never reaches the client; other sites' addresses are kept."""
    own = http.get(f"{gateway.url}{PREFIX}/redirect/own", headers=account.auth)
    assert own.status_code == 302
    assert own.headers.get_list("location") == [f"{PREFIX}/elsewhere"]
    assert upstream.url.removeprefix("http://") not in str(own.headers)

    foreign = http.get(f"{gateway.url}{PREFIX}/redirect/foreign", headers=account.auth)
    assert foreign.status_code == 302
    assert foreign.headers.get_list("location") == ["https://partner.example/callback?state=1"]


def test_a_redirect_to_another_port_of_the_same_host_is_kept(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    response = http.get(f"{gateway.url}{PREFIX}/redirect/lookalike", headers=account.auth)
    assert response.status_code == 302
    assert response.headers.get_list("location") == [f"{upstream.url}0{PREFIX}/elsewhere"]


# --- docs --------------------------------------------------------------------------------------


def test_openapi_merges_user_management_paths(gateway: GatewayProcess, http: httpx.Client) -> None:
    def merged() -> dict | None:
        document = http.get(f"{gateway.url}/openapi.json").json()
        return document if "/api/v1/auth/login" in document.get("paths", {}) else None

    document = eventually(merged, timeout=15, interval=0.3)
    paths = document["paths"]
    assert "/api/v1/users/me" in paths and "/api/v1/tenants/current" in paths
    assert "/health/services" in paths  # the gateway's own route
    assert "/ready" not in paths


def test_docs_render_swagger_from_local_assets(gateway: GatewayProcess, http: httpx.Client) -> None:
    page = http.get(f"{gateway.url}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/docs/swagger-ui-bundle.js" in page.text
    assert "/openapi.json" in page.text
    assert "cdn.jsdelivr.net" not in page.text and "unpkg.com" not in page.text
    bundle = http.get(f"{gateway.url}/static/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert http.get(f"{gateway.url}/static/docs/swagger-ui.css").status_code == 200
