"""ResilientClient against a real HTTP server: retries, backoff, Retry-After, request ids, circuits.

No mocks: every attempt is a real request to a FakeServer on 127.0.0.1 (or a refused connect to a
port nobody listens on), and the assertions count what actually reached the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from shared.context import request_id_var
from shared.http import BreakerRegistry, CircuitOpen, ResilientClient
from tests.support.fake_http import FakeServer, Reply, dead_port

MakeClient = Callable[..., ResilientClient]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    """A fresh scriptable server per test, so request counts start at zero."""
    async with FakeServer() as srv:
        yield srv


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Build clients with a tiny backoff (fast suite) and close them all at teardown."""
    clients: list[ResilientClient] = []

    def make(base_url: str, **kwargs: Any) -> ResilientClient:
        kwargs.setdefault("backoff_base", 0.01)
        client = ResilientClient(base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# --- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "idempotent"), [("GET", None), ("PUT", None), ("DELETE", None), ("POST", True)]
)
async def test_idempotent_call_is_retried_on_503_until_it_succeeds(
    server: FakeServer, make_client: MakeClient, method: str, idempotent: bool | None
) -> None:
    """Idempotent methods (or calls marked idempotent) may be resent, and must resend the same body."""
    server.script("/items", Reply(503), Reply(503), Reply(200, body={"ok": True}))
    client = make_client(server.url, retries=3)

    response = await client.request(method, "/items", idempotent=idempotent, json={"n": 1})

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    seen = server.to("/items")
    assert len(seen) == 3
    assert {r.method for r in seen} == {method}
    assert {r.body for r in seen} == {b'{"n":1}'}


@pytest.mark.parametrize(("method", "idempotent"), [("POST", None), ("PATCH", None), ("GET", False)])
async def test_non_idempotent_call_is_not_retried_on_503(
    server: FakeServer, make_client: MakeClient, method: str, idempotent: bool | None
) -> None:
    """Resending a POST could charge a customer twice: one attempt, and the 503 goes to the caller."""
    server.script("/charge", Reply(503), Reply(200))
    client = make_client(server.url, retries=3)

    response = await client.request(method, "/charge", idempotent=idempotent, json={"amount": 5})

    assert response.status_code == 503
    assert server.count("/charge") == 1


async def test_a_post_refused_with_429_is_sent_again(server: FakeServer, make_client: MakeClient) -> None:
    """A 429 means the server did not process the request, so even a POST may be resent safely."""
    server.script("/batch", Reply(429, headers={"Retry-After": "0"}), Reply(429), Reply(201))
    client = make_client(server.url, retries=3)

    response = await client.post("/batch", json={"n": 1})

    assert response.status_code == 201
    assert [r.body for r in server.to("/batch")] == [b'{"n":1}'] * 3


async def test_exhausted_retries_return_the_last_error_response(
    server: FakeServer, make_client: MakeClient
) -> None:
    """After `retries` resends the caller gets the final 503 (not an exception) to handle itself."""
    server.always("/busy", Reply(503, body="still busy"))
    client = make_client(server.url, retries=2)

    response = await client.get("/busy")

    assert response.status_code == 503
    assert response.text == "still busy"
    assert server.count("/busy") == 3


async def test_4xx_is_not_retried(server: FakeServer, make_client: MakeClient) -> None:
    """A 404/400 will not change on a resend; retrying it only adds load."""
    server.always("/missing", Reply(404))
    client = make_client(server.url, retries=3)

    response = await client.get("/missing")

    assert response.status_code == 404
    assert server.count("/missing") == 1


async def test_connect_error_is_retried_then_raised(make_client: MakeClient) -> None:
    """A refused connect is transient for GET: every attempt is made, then the httpx error surfaces.

    Nothing listens, so the attempts are counted by the host's breaker, which records each failure.
    """
    with dead_port() as url:
        client = make_client(url, retries=2)
        with pytest.raises(httpx.ConnectError):
            await client.get("/anything")
        assert client.breaker.fail_counter == 3


async def test_connect_error_on_post_is_not_retried(make_client: MakeClient) -> None:
    """Even a connect error is not retried for a non-idempotent call unless the caller says so."""
    with dead_port() as url:
        client = make_client(url, retries=2)
        with pytest.raises(httpx.ConnectError):
            await client.post("/anything", json={})
        assert client.breaker.fail_counter == 1


async def test_timeout_is_retried_then_raised(server: FakeServer, make_client: MakeClient) -> None:
    """A server slower than the client timeout: each GET attempt times out, then TimeoutException."""
    server.always("/slow", Reply(200, delay=5.0))
    client = make_client(server.url, timeout=0.2, retries=2)

    with pytest.raises(httpx.TimeoutException):
        await client.get("/slow")

    assert server.count("/slow") == 3


async def test_retry_after_on_429_is_honoured(server: FakeServer, make_client: MakeClient) -> None:
    """The provider says when to come back; the jittered backoff (<= 10 ms here) must not override it."""
    server.script("/limited", Reply(429, headers={"Retry-After": "1"}), Reply(200))
    client = make_client(server.url, retries=3)

    response = await client.get("/limited")

    assert response.status_code == 200
    first, second = server.to("/limited")
    assert second.received_at - first.received_at >= 1.0


# --- request id propagation ----------------------------------------------------------------------


async def test_request_id_from_context_is_sent_on_every_attempt(
    server: FakeServer, make_client: MakeClient
) -> None:
    """Peers log the caller's request id, so one id must tie together all attempts of a call."""
    server.script("/peer", Reply(503), Reply(200))
    client = make_client(server.url, retries=3)

    token = request_id_var.set("req-7f3a")
    try:
        await client.get("/peer")
    finally:
        request_id_var.reset(token)

    seen = server.to("/peer")
    assert len(seen) == 2
    assert [r.headers.getall("X-Request-ID") for r in seen] == [["req-7f3a"], ["req-7f3a"]]


async def test_no_request_id_header_without_context(server: FakeServer, make_client: MakeClient) -> None:
    """Outside a request there is no id to propagate; an empty or 'None' header would mislead logs."""
    server.always("/peer", Reply(200))
    client = make_client(server.url)

    await client.get("/peer")

    assert "X-Request-ID" not in server.to("/peer")[0].headers


@pytest.mark.parametrize("spelling", ["X-Request-ID", "x-request-id"])
async def test_caller_request_id_header_wins_whatever_its_case(
    server: FakeServer, make_client: MakeClient, spelling: str
) -> None:
    """Header names are case-insensitive: a caller's own id must replace the context id, not join it."""
    server.always("/peer", Reply(200))
    client = make_client(server.url)

    token = request_id_var.set("from-context")
    try:
        await client.get("/peer", headers={spelling: "from-caller"})
    finally:
        request_id_var.reset(token)

    assert server.to("/peer")[0].headers.getall("X-Request-ID") == ["from-caller"]


# --- circuit breaker -----------------------------------------------------------------------------


async def test_circuit_opens_fails_fast_and_closes_after_successful_trial(
    server: FakeServer, make_client: MakeClient
) -> None:
    """fail_max 500s open the circuit; then calls fail fast without touching the host until a
    half-open trial after reset_timeout succeeds and closes it again."""
    client = make_client(server.url, breakers=BreakerRegistry(fail_max=3, reset_timeout=0.5))
    server.always("/down", Reply(500))

    for _ in range(3):
        # Every one of these calls reached the server, including the one that trips the circuit,
        # so each must hand back the 500 rather than claim it was not attempted.
        response = await client.get("/down")
        assert response.status_code == 500
    assert client.breaker.current_state == "open"

    with pytest.raises(CircuitOpen) as raised:
        await client.get("/down")
    assert raised.value.host == client.host
    assert server.count("/down") == 3

    await asyncio.sleep(0.6)
    server.always("/down", Reply(200))
    response = await client.get("/down")

    assert response.status_code == 200
    assert server.count("/down") == 4
    assert client.breaker.current_state == "closed"


async def test_failed_half_open_trial_reopens_the_circuit(
    server: FakeServer, make_client: MakeClient
) -> None:
    """One bad trial call sends the circuit back to open, and callers fail fast again."""
    client = make_client(server.url, breakers=BreakerRegistry(fail_max=2, reset_timeout=0.5))
    server.always("/down", Reply(500))
    for _ in range(2):
        await client.get("/down")
    assert client.breaker.current_state == "open"

    await asyncio.sleep(0.6)
    trial = await client.get("/down")

    assert trial.status_code == 500
    assert server.count("/down") == 3
    assert client.breaker.current_state == "open"
    with pytest.raises(CircuitOpen):
        await client.get("/down")
    assert server.count("/down") == 3


async def test_circuits_are_per_host(server: FakeServer, make_client: MakeClient) -> None:
    """A dead provider must not block calls to a healthy one sharing the same registry."""
    registry = BreakerRegistry(fail_max=1, reset_timeout=30)
    async with FakeServer() as healthy_server:
        healthy_server.always("/ok", Reply(200))
        server.always("/down", Reply(500))
        failing = make_client(server.url, breakers=registry)
        healthy = make_client(healthy_server.url, breakers=registry)

        await failing.get("/down")
        with pytest.raises(CircuitOpen):
            await failing.get("/down")
        response = await healthy.get("/ok")

    assert response.status_code == 200
    assert registry.states() == {failing.host: "open", healthy.host: "closed"}
