"""A resilient HTTP client for peers and external providers (DESIGN §8).

Timeouts on every call; retries with full-jitter backoff on connect errors, timeouts and
502/503/504 only for idempotent methods (or when the caller marks a call idempotent, e.g. with an
idempotency key), and on 429 for any method (the server refused it unprocessed); `Retry-After` is
honoured up to the backoff cap; one pybreaker circuit per host, so a dead provider fails fast
instead of tying up workers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pybreaker

from shared.context import request_id_var

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TransportError,)


class CircuitOpen(Exception):
    """The host's circuit is open; the call was not attempted."""

    def __init__(self, host: str, retry_after: float) -> None:
        super().__init__(f"circuit open for {host}")
        self.host = host
        self.retry_after = retry_after


class UpstreamFailure(Exception):
    """A 5xx answer counted against the circuit (raised inside the breaker, then unwrapped)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response


class BreakerRegistry:
    """One pybreaker circuit per host, shared by all clients of a process."""

    def __init__(self, fail_max: int = 5, reset_timeout: float = 30.0) -> None:
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._breakers: dict[str, pybreaker.CircuitBreaker] = {}

    def for_host(self, host: str) -> pybreaker.CircuitBreaker:
        breaker = self._breakers.get(host)
        if breaker is None:
            # throw_new_error_on_trip=False: the call that trips the circuit did reach the host, so
            # its own outcome is returned/raised; CircuitOpen is only for calls not attempted.
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.fail_max,
                reset_timeout=self.reset_timeout,
                name=host,
                throw_new_error_on_trip=False,
            )
            self._breakers[host] = breaker
        return breaker

    def states(self) -> dict[str, str]:
        return {host: breaker.current_state for host, breaker in self._breakers.items()}


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from now; None when absent or
    unreadable. Every client that honours a provider's wait reads it here."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class ResilientClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        retries: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
        breakers: BreakerRegistry | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.breakers = breakers or BreakerRegistry()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers=dict(headers or {}),
            transport=transport,
        )

    @property
    def breaker(self) -> pybreaker.CircuitBreaker:
        return self.breakers.for_host(self.host)

    async def request(
        self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; returns the last response (which may be an error status)."""
        method = method.upper()
        may_retry = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        headers = httpx.Headers(kwargs.pop("headers", None))  # case-insensitive
        request_id = request_id_var.get()
        if request_id and "X-Request-ID" not in headers:
            headers["X-Request-ID"] = request_id
        for attempt in range(1 + self.retries):
            last = attempt == self.retries
            try:
                response = await self._send_once(method, url, headers=headers, **kwargs)
            except TRANSIENT_ERRORS:
                if last or not may_retry:
                    raise
                await asyncio.sleep(self._backoff(attempt))
                continue
            # A 429 was refused unprocessed, so any method may try again; a 5xx may have acted.
            retryable = response.status_code == 429 or (may_retry and response.status_code in RETRY_STATUSES)
            if retryable and not last:
                await response.aclose()
                await asyncio.sleep(
                    self._backoff(attempt, retry_after_seconds(response.headers.get("retry-after")))
                )
                continue
            return response
        raise AssertionError("unreachable")

    async def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        breaker = self.breaker
        try:
            with breaker.calling():
                response = await self._http.request(method, url, **kwargs)
                if response.status_code >= 500:
                    raise UpstreamFailure(response)
                return response
        except pybreaker.CircuitBreakerError:
            raise CircuitOpen(self.host, breaker.reset_timeout) from None
        except UpstreamFailure as failure:
            return failure.response

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_cap)
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()
