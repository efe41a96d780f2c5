"""JSON logs, the request id, and Prometheus HTTP metrics for every service.

The middleware is plain ASGI (no BaseHTTPMiddleware) so streaming answers pass through untouched
and the per-request cost stays small. Metrics are labelled by route template, never by raw path,
so ids in URLs cannot blow up the series count.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import request_id_var, tenant_id_var

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being served", ["service"])

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line with service, request id and tenant id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "tenant_id": tenant_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = safe_traceback(record.exc_info)
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at the time of the record, not at configuration."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


# Database drivers put bound values (and PostgreSQL's DETAIL lines, e.g. "Key (email)=(...)") in
# their messages; ours and the ORM's own never carry them. Their messages are replaced by a summary.
_DATABASE_MODULES = ("asyncpg", "sqlalchemy", "psycopg")


def _is_database_error(exc_type: type[BaseException] | None) -> bool:
    return exc_type is not None and exc_type.__module__.startswith(_DATABASE_MODULES)


def safe_error_text(error: BaseException) -> str:
    """`Class: message` for logs and dead letters, without a database error's values: for those,
    the class, the SQLSTATE and the constraint, which is what an operator needs to act."""
    if not _is_database_error(type(error)):
        return f"{type(error).__name__}: {error}"
    original = getattr(error, "orig", None) or error
    cause = getattr(original, "__cause__", None)
    driver = cause if _is_database_error(type(cause)) else original
    parts = [type(error).__name__]
    sqlstate = getattr(driver, "sqlstate", None) or getattr(original, "sqlstate", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    constraint = getattr(driver, "constraint_name", None)
    if constraint:
        parts.append(f"constraint {constraint}")
    if type(driver) is not type(error):
        parts.append(f"from {type(driver).__name__}")
    return (
        f"{parts[0]} ({', '.join(parts[1:])}; details hidden)"
        if len(parts) > 1
        else f"{parts[0]} (details hidden)"
    )


def _chain(te: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    seen: set[int] = set()
    stack = [te]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(x for x in (item.__cause__, item.__context__) if x is not None)


def safe_traceback(exc_info: Any) -> str:
    """The traceback as logging prints it, with database errors' messages hidden (see above)."""
    te = traceback.TracebackException(*exc_info)
    for item in _chain(te):
        if _is_database_error(item.exc_type):
            item._str = "(details hidden: bound values and row data stay out of logs)"  # type: ignore[attr-defined]
    return "".join(te.format()).rstrip()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore"):  # their INFO lines carry full URLs, which may hold tokens
        logging.getLogger(noisy).setLevel(logging.WARNING)


_ID_PREFIX = os.urandom(6).hex()
_ids = itertools.count(1)


def new_request_id() -> str:
    """Unique per process (a random prefix) and cheap (no system call per request)."""
    return f"{_ID_PREFIX}{next(_ids):020x}"


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 128 and value.isprintable() and " " not in value


class RequestContextMiddleware:
    """Keeps or creates `X-Request-ID`, returns it, and records the request's metrics.

    `response_headers` are set on every answer, replacing any copy the app sent (the gateway's
    security headers, so an upstream cannot weaken them)."""

    def __init__(
        self, app: ASGIApp, service: str, response_headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        self.app = app
        self.service = service
        self.in_flight = HTTP_IN_FLIGHT.labels(service)
        self.response_headers = response_headers
        self.replaced = frozenset(name for name, _ in response_headers)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _metrics(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        """The counter and histogram children of one series, looked up once (labels() is slow)."""
        key = (method, template, status)
        found = self._series.get(key)
        if found is None:
            found = (
                HTTP_REQUESTS.labels(self.service, method, template, str(status)),
                HTTP_LATENCY.labels(self.service, method, template),
            )
            if len(self._series) < 10_000:
                self._series[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _valid_request_id(incoming) else new_request_id()
        request_token = request_id_var.set(request_id)
        tenant_token = tenant_id_var.set(None)
        status = 500
        started = time.perf_counter()
        self.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if self.replaced:
                    headers = [(k, v) for k, v in headers if k.lower() not in self.replaced]
                message["headers"] = [
                    *headers,
                    *self.response_headers,
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight.dec()
            route = scope.get("route")
            template = scope.get("route_template") or getattr(route, "path", None) or "unmatched"
            requests, latency = self._metrics(scope["method"], template, status)
            requests.inc()
            latency.observe(time.perf_counter() - started)
            tenant_id_var.reset(tenant_token)
            request_id_var.reset(request_token)
