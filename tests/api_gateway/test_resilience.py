"""Resilience against the misbehaving routes of the fake upstream: circuit breaker (on 5xx,
timeouts and refused connections), retries, timeouts, streaming both ways and body limits."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api_gateway.helpers import GatewayProcess, gateway_env, running_gateways, unique_path
from tests.api_gateway.upstream import BIG_SHA256, BIG_SIZE, PREFIX, FakeUpstream
from tests.support.fake_http import dead_port
from tests.support.kit import Account, assert_problem, eventually
from tests.support.stack import Stack

MAX_BODY = 65536
LONG_RESET_SECONDS = 60


def _breaker(http: httpx.Client, gateway: GatewayProcess, upstream: str = "campaign_management") -> str:
    health = http.get(f"{gateway.url}/health/services", headers=gateway.operator)
    assert health.status_code == 200
    return health.json()["services"][upstream]["breaker"]


@pytest.fixture(scope="module")
def tripping(
    stack: Stack, user_service: str, upstream: FakeUpstream, dead_url: str
) -> Iterator[GatewayProcess]:
    """A gateway whose circuits stay open for a minute once tripped (the default gateway's reopen
    after one second, too soon to look at an open circuit reliably), with notification on a port
    that refuses connections."""
    with dead_port() as refusing:
        env = gateway_env(
            stack,
            upstream.url,
            dead_url,
            BREAKER_RESET_SECONDS=str(LONG_RESET_SECONDS),
            NOTIFICATION_URL=refusing,
        )
        with running_gateways((env, stack.log_root / "gateway-tripping")) as (gateway,):
            yield gateway


@pytest.fixture(autouse=True)
def closed_circuit(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> Iterator[None]:
    """Each test starts with campaign_management's circuit closed and its failure count at zero
    (a success resets it), so failures from one test cannot trip the circuit in the next."""
    upstream.flaky_failing = False

    def healthy() -> bool:
        return http.get(f"{gateway.url}{unique_path()}", headers=account.auth).status_code == 200

    eventually(healthy, timeout=5, interval=0.2)
    yield
    upstream.flaky_failing = False


def test_circuit_opens_after_three_failures_and_recovers(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    flaky = f"{gateway.url}{PREFIX}/flaky"
    upstream.flaky_failing = True
    before = upstream.hits(f"{PREFIX}/flaky")
    for _ in range(3):
        response = http.get(flaky, headers=account.auth)
        assert response.status_code == 500  # the upstream's own answer, passed through, not retried
        assert response.json() == {"error": "flaky is failing"}
    assert upstream.hits(f"{PREFIX}/flaky") == before + 3

    started = time.perf_counter()
    refused = http.get(flaky, headers=account.auth)
    elapsed = time.perf_counter() - started
    body = assert_problem(refused, 503)
    assert body["type"].endswith("circuit-open")
    assert refused.headers["retry-after"] == "1"
    assert upstream.hits(f"{PREFIX}/flaky") == before + 3, "an open circuit must not call the upstream"
    print(f"open-circuit answer took {elapsed * 1000:.1f} ms")
    assert _breaker(http, gateway) == "open"

    upstream.flaky_failing = False

    def trial() -> httpx.Response | None:
        response = http.get(flaky, headers=account.auth)
        return response if response.status_code == 200 else None

    recovered = eventually(trial, timeout=5, interval=0.2)
    assert recovered.json() == {"flaky": "ok"}
    assert upstream.hits(f"{PREFIX}/flaky") == before + 4, "only the one trial call reaches the upstream"
    assert _breaker(http, gateway) == "closed"


def _assert_circuit_open(response: httpx.Response, upstream: str) -> None:
    body = assert_problem(response, 503, "circuit-open")
    assert upstream in body["detail"]
    assert response.headers["retry-after"] == str(LONG_RESET_SECONDS)


def test_timeouts_open_the_circuit(
    tripping: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    slow = f"{tripping.url}{PREFIX}/slow"
    before = upstream.hits(f"{PREFIX}/slow")
    with ThreadPoolExecutor(3) as pool:  # BREAKER_FAIL_MAX at once, each cut at the deadline
        answers = list(pool.map(lambda _: http.get(slow, headers=account.auth), range(3)))
    for response in answers:
        assert_problem(response, 504, "upstream-timeout")
    assert upstream.hits(f"{PREFIX}/slow") == before + 3

    _assert_circuit_open(http.get(slow, headers=account.auth), "campaign_management")
    _assert_circuit_open(
        http.get(f"{tripping.url}{unique_path()}", headers=account.auth), "campaign_management"
    )
    assert upstream.hits(f"{PREFIX}/slow") == before + 3, "an open circuit must not call the upstream"
    assert _breaker(http, tripping) == "open"


def test_refused_connections_open_the_circuit(
    tripping: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    inbox = f"{tripping.url}/api/v1/notifications/inbox"
    for _ in range(3):  # POSTs: one attempt each, never retried
        body = assert_problem(http.post(inbox, headers=account.auth, json={}), 502, "bad-gateway")
        assert "notification" in body["detail"]
    assert _breaker(http, tripping, "notification") == "open"

    _assert_circuit_open(http.post(inbox, headers=account.auth, json={}), "notification")
    _assert_circuit_open(http.get(inbox, headers=account.auth), "notification")
    health = http.get(f"{tripping.url}/health/services", headers=tripping.operator).json()
    notification = health["services"]["notification"]
    assert (notification["breaker"], notification["status"]) == ("open", "unreachable")
    assert health["status"] == "degraded"


def test_idempotent_requests_are_retried_others_are_not(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    get_path = f"{PREFIX}/retry-once/{uuid.uuid4().hex}"
    response = http.get(f"{gateway.url}{get_path}", headers=account.auth)
    assert response.status_code == 200, response.text
    assert upstream.hits(get_path) == 2

    post_path = f"{PREFIX}/retry-once/{uuid.uuid4().hex}"
    response = http.post(f"{gateway.url}{post_path}", headers=account.auth, json={"charge": 1})
    assert response.status_code == 503
    assert response.json() == {"error": "try again"}
    assert upstream.hits(post_path) == 1


def test_slow_upstream_answers_504(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    """Two at once (fewer than BREAKER_FAIL_MAX): each is one attempt, cut at the deadline."""
    before = upstream.hits(f"{PREFIX}/slow")
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: http.get(f"{gateway.url}{PREFIX}/slow", headers=account.auth), range(2))
        )
    for response in answers:
        body = assert_problem(response, 504)
        assert body["type"].endswith("upstream-timeout")
        assert "campaign_management" in body["detail"]
    assert upstream.hits(f"{PREFIX}/slow") == before + 2, "the deadline is spent: no retry"


def test_server_sent_events_stream_through(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    """The fake sends its second event only after the test has received the first, so the first
    can arrive only if the gateway passes it on at once (buffered, the read would time out)."""
    key = uuid.uuid4().hex
    received = b""
    with http.stream("GET", f"{gateway.url}{PREFIX}/sse/{key}", headers=account.auth) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        while b"data: first\n\n" not in received:
            received += next(chunks)
        assert b"second" not in received
        upstream.open_gate(key)
        received += b"".join(chunks)
    assert received == b"event: tick\ndata: first\n\nevent: tick\ndata: second\n\n"


def test_body_over_the_limit_is_refused_with_413(
    gateway: GatewayProcess, http: httpx.Client, account: Account, upstream: FakeUpstream
) -> None:
    path = unique_path()
    response = http.post(f"{gateway.url}{path}", headers=account.auth, content=b"x" * (MAX_BODY + 1))
    assert_problem(response, 413)
    assert upstream.hits(path) == 0

    at_limit = http.post(f"{gateway.url}{path}", headers=account.auth, content=b"y" * MAX_BODY)
    assert at_limit.status_code == 200
    assert at_limit.json()["body_bytes"] == MAX_BODY


async def test_chunked_body_over_the_limit_is_refused_with_413(
    gateway: GatewayProcess, account: Account, upstream: FakeUpstream
) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = min(8192, total - sent)
            sent += piece
            yield b"z" * piece

    async with httpx.AsyncClient(timeout=15) as client:
        path = unique_path()
        response = await client.post(
            f"{gateway.url}{path}", headers=account.auth, content=chunks(MAX_BODY * 3)
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)

        # The client's fault says nothing about the upstream: more of them leave its circuit closed.
        for _ in range(3):
            again = await client.post(
                f"{gateway.url}{path}", headers=account.auth, content=chunks(MAX_BODY * 2)
            )
            assert_problem(again, 413)
        health = (await client.get(f"{gateway.url}/health/services", headers=gateway.operator)).json()
        assert health["services"]["campaign_management"]["breaker"] == "closed"

        small = await client.post(f"{gateway.url}{path}", headers=account.auth, content=chunks(MAX_BODY // 2))
        assert small.status_code == 200
        assert small.json()["body_bytes"] == MAX_BODY // 2


def test_big_download_passes_through_intact(
    gateway: GatewayProcess, http: httpx.Client, account: Account
) -> None:
    digest = hashlib.sha256()
    size = 0
    with http.stream("GET", f"{gateway.url}{PREFIX}/big", headers=account.auth) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(BIG_SIZE)
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert size == BIG_SIZE
    assert digest.hexdigest() == BIG_SHA256
