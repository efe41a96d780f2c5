"""Forwarding to an upstream: a circuit per upstream, timeouts, retries, streaming both ways.

Plain ASGI on an aiohttp client: bodies stream in both directions unbuffered. aiohttp forwards
several times more requests per second here than httpx's AsyncClient (README "Gateway").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pybreaker
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import Receive, Scope, Send
from yarl import URL

from services.api_gateway import routing
from services.api_gateway.edge import Admission
from services.api_gateway.settings import Settings
from shared.context import request_id_var
from shared.problems import problem_response

logger = logging.getLogger("api_gateway.forwarding")

UPSTREAM_REQUESTS = Counter(
    "gateway_upstream_requests_total",
    "Requests forwarded, by upstream, route and status",
    ["upstream", "route", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_latency_seconds",
    "Time to the upstream's response headers",
    ["upstream", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_STATE = Gauge("gateway_breaker_state", "0 closed, 1 half-open, 2 open", ["upstream"])
_STATE_VALUE = {"closed": 0, "half-open": 1, "open": 2}

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# Set by the gateway from what it saw itself; a client's copy would be believed downstream.
REPLACED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-request-id"})
# Also `date` and `server`: uvicorn sets its own, and two of each would confuse clients.
RESPONSE_SKIP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"date",
        b"server",
        b"x-request-id",
    }
)
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})
MIN_RETRY_BUDGET_SECONDS = 0.05


@functools.cache
def _requests_counter(upstream: str, route: str, status: int) -> Any:
    return UPSTREAM_REQUESTS.labels(upstream, route, str(status))


def _count(labels: tuple[str, str], status: int) -> None:
    _requests_counter(*labels, status).inc()


@functools.cache
def _latency(labels: tuple[str, str]) -> Any:
    return UPSTREAM_LATENCY.labels(*labels)


class BodyTooLarge(Exception):
    """The client's body went over the limit: the client's fault, never the upstream's."""


class UpstreamFailed(Exception):
    """A 5xx answer: counted against the circuit, yet passed on to the client."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _BreakerStateListener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        BREAKER_STATE.labels(cb.name).set(_STATE_VALUE.get(new_state.name, 0))
        logger.warning("circuit for %s is now %s", cb.name, new_state.name)


@dataclass(frozen=True)
class Failure:
    status: int
    detail: str
    problem_type: str | None
    retryable: bool
    headers: dict[str, str] | None = None


@dataclass
class Upstream:
    name: str
    base_url: str
    breaker: pybreaker.CircuitBreaker


def make_upstreams(settings: Settings) -> dict[str, Upstream]:
    upstreams = {}
    for name in sorted({upstream for _, upstream in routing.ROUTES}):
        breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_seconds,
            name=name,
            throw_new_error_on_trip=False,
            listeners=[_BreakerStateListener()],
            exclude=[BodyTooLarge],
        )
        upstreams[name] = Upstream(name, settings.peer_url(name), breaker)
        BREAKER_STATE.labels(name).set(0)
    return upstreams


class Forwarder:
    def __init__(
        self, settings: Settings, http: aiohttp.ClientSession, upstreams: dict[str, Upstream]
    ) -> None:
        self.settings = settings
        self.http = http
        self.upstreams = upstreams

    async def forward(
        self, route: routing.Route, scope: Scope, receive: Receive, send: Send, admission: Admission
    ) -> None:
        upstream = self.upstreams[route.upstream]
        method = scope["method"]
        url = _upstream_url(upstream.base_url, scope)
        outgoing = _upstream_headers(scope, admission.client_ip)
        has_body = any(k == b"content-length" and v != b"0" for k, v in scope["headers"]) or any(
            k == b"transfer-encoding" for k, _ in scope["headers"]
        )
        retries = self.settings.upstream_retries if method in RETRYABLE_METHODS and not has_body else 0
        deadline = time.monotonic() + self.settings.upstream_timeout_seconds
        labels = (upstream.name, route.prefix)
        for attempt in range(retries + 1):
            last = attempt == retries
            started = time.perf_counter()
            try:
                body = _LimitedBody(receive, admission.body_limit) if has_body else None
                response = await self._send(upstream, method, url, outgoing, body)
            except (pybreaker.CircuitBreakerError, BodyTooLarge, TimeoutError, aiohttp.ClientError) as error:
                failure = self._failure(upstream, error, admission.body_limit)
                if failure.retryable and not last and _worth_retrying(deadline):
                    await _backoff(attempt)
                    continue
                if failure.status != 413:
                    _count(labels, failure.status)
                await send_problem(
                    scope,
                    receive,
                    send,
                    failure.status,
                    failure.detail,
                    failure.problem_type,
                    failure.headers,
                )
                return
            _latency(labels).observe(time.perf_counter() - started)
            if response.status in RETRYABLE_STATUSES and not last and _worth_retrying(deadline):
                response.release()
                await _backoff(attempt)
                continue
            _count(labels, response.status)
            await _relay_response(response, send, admission.limit_headers, upstream.base_url)
            return

    def _failure(self, upstream: Upstream, error: Exception, body_limit: int) -> Failure:
        """What the client is told when no upstream answer can be passed on."""
        if isinstance(error, pybreaker.CircuitBreakerError):
            retry_after = {"Retry-After": str(max(1, int(upstream.breaker.reset_timeout)))}
            return Failure(
                503, f"{upstream.name} is unavailable (circuit open)", "circuit-open", False, retry_after
            )
        if isinstance(error, BodyTooLarge):
            return Failure(413, f"request body over {body_limit} bytes", None, False)
        if isinstance(error, TimeoutError):
            return Failure(504, f"{upstream.name} did not answer in time", "upstream-timeout", True)
        return Failure(502, f"{upstream.name} is unreachable", "bad-gateway", True)

    async def _send(
        self,
        upstream: Upstream,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: _LimitedBody | None,
    ) -> aiohttp.ClientResponse:
        try:
            with upstream.breaker.calling():
                # The session's sock_read timeout (UPSTREAM_TIMEOUT_SECONDS of silence) bounds the
                # wait for the answer; retries happen only while the overall deadline allows.
                try:
                    response = await self.http.request(
                        method,
                        url,
                        headers=headers,
                        data=body.chunks() if body else None,
                        allow_redirects=False,
                        auto_decompress=False,
                    )
                except (aiohttp.ClientError, TimeoutError):
                    # aiohttp reports a failing body iterator as a connection error; when it was
                    # our size limit, answer 413 and keep it off the upstream's circuit.
                    if body is not None and body.overflowed:
                        raise BodyTooLarge from None
                    raise
                if response.status >= 500:
                    raise UpstreamFailed(response)
                return response
        except UpstreamFailed as failed:
            return failed.response


class _LimitedBody:
    """The client's body, streamed, refused once it passes `limit` bytes."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.overflowed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                self.overflowed = True
                raise BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


def _upstream_url(base_url: str, scope: Scope) -> URL:
    """The path exactly as the client sent it (`raw_path`, not the percent-decoded `path`: an
    encoded `?` or `/` must not turn into a query or a new segment) and the raw query string.
    `encoded=True` keeps yarl from re-quoting it or resolving dot segments, so the upstream sees
    the very path that was matched against the route table."""
    target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    return URL(base_url + target, encoded=target.isascii())


def _upstream_headers(scope: Scope, client_ip: str) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop ones, plus what the gateway vouches for itself:
    `X-Forwarded-For` is the client address the gateway settled on (past its trusted proxies),
    so a client cannot plant an address that the services behind would believe."""
    raw = scope["headers"]
    named_in_connection = {
        token.strip().lower().encode()
        for key, value in raw
        if key == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    headers: list[tuple[str, str]] = []
    for key, value in raw:
        if key == b"content-length":
            headers.append(("content-length", value.decode("latin-1")))
        elif key not in HOP_BY_HOP and key not in named_in_connection and key not in REPLACED:
            headers.append((key.decode("latin-1"), value.decode("latin-1")))
    headers.append(("x-forwarded-for", client_ip))
    headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
    host = next((v.decode("latin-1") for k, v in raw if k == b"host"), "")
    if host:
        headers.append(("x-forwarded-host", host))
    request_id = request_id_var.get()
    if request_id:
        headers.append(("x-request-id", request_id))
    return headers


def _public_location(value: bytes, base_url: str) -> bytes:
    """An upstream's redirect to its own internal address (same scheme, host and port) becomes a
    path on the gateway; any other location is passed on as it is."""
    text = value.decode("latin-1")
    rest = text[len(base_url) :]
    if text.startswith(base_url) and (not rest or rest[0] in "/?#"):
        return (rest if rest.startswith("/") else "/" + rest).encode("latin-1")
    return value


SMALL_BODY = 64 * 1024


async def _relay_response(
    response: aiohttp.ClientResponse, send: Send, extra_headers: list[tuple[bytes, bytes]], base_url: str
) -> None:
    headers = []
    for key, value in response.raw_headers:
        name = key.lower()
        if name in RESPONSE_SKIP:
            continue
        headers.append(
            (name, _public_location(value, base_url) if name in (b"location", b"content-location") else value)
        )
    await send({"type": "http.response.start", "status": response.status, "headers": headers + extra_headers})
    try:
        length = response.content_length
        if length is not None and length <= SMALL_BODY:  # announced and small: one message
            await send({"type": "http.response.body", "body": await response.read(), "more_body": False})
            return
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        response.release()


def _worth_retrying(deadline: float) -> bool:
    """Whether enough of the budget is left for another attempt. The margin matters: uvloop fires
    timers up to a millisecond before `time.monotonic()` reaches the deadline, and an attempt with
    no budget left would still send the request upstream (and count against its circuit) again."""
    return deadline - time.monotonic() > MIN_RETRY_BUDGET_SECONDS


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))


async def send_problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    problem_type: str | None = None,
    headers: dict[str, str] | None = None,
    raw_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    response = problem_response(status, detail, headers=headers, problem_type=problem_type)
    if raw_headers:
        response.raw_headers.extend(raw_headers)
    await response(scope, receive, send)
