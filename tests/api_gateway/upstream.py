"""A fake campaign_management: a real aiohttp server on 127.0.0.1 in a thread with its own loop.

The gateway processes reach it over real TCP, so the tests observe exactly what crossed the
wire: every request is recorded on arrival (before its body is read), and the special routes
under `/api/v1/campaigns/` misbehave on purpose (slow, flaky, streaming, failing once, redirecting
to the fake's own internal address).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

PREFIX = "/api/v1/campaigns"
BIG_SIZE = 5 * 1024 * 1024
BIG_BODY = random.Random(20240601).randbytes(BIG_SIZE)
BIG_SHA256 = hashlib.sha256(BIG_BODY).hexdigest()
# Longer than the gateway's UPSTREAM_TIMEOUT_SECONDS (1.5 in the tests): the gap itself is the
# behaviour under test (an upstream that does not answer in time), so this one stays a sleep.
SLOW_SECONDS = 5.0
# How long a gated route waits at most for its gate (a test that failed never opens it).
GATE_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it (headers in wire order, names lower-cased)."""

    method: str
    path: str
    raw_path: str
    headers: list[tuple[str, str]]
    received_at: float  # time.monotonic() on arrival

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


class FakeUpstream:
    """Start with `start()` (returns the base URL), stop with `stop()`; safe to read from tests."""

    def __init__(self) -> None:
        self.url = ""
        self.flaky_failing = False
        self._seen: list[Seen] = []
        self._retry_keys: set[str] = set()
        self._gates: dict[str, asyncio.Event] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-upstream", daemon=True)
        self._runner: web.AppRunner | None = None

    # --- what tests read -------------------------------------------------------------------------

    def requests(self, prefix: str = "/") -> list[Seen]:
        with self._lock:
            return [seen for seen in self._seen if seen.path.startswith(prefix)]

    def hits(self, prefix: str = "/") -> int:
        return len(self.requests(prefix))

    # --- what tests control ----------------------------------------------------------------------

    def open_gate(self, key: str) -> None:
        """Let the route waiting on `key` go on (e.g. the SSE route's second event)."""
        self._loop.call_soon_threadsafe(self._gate(key).set)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.url

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> str:
        app = web.Application(middlewares=[self._record], client_max_size=BIG_SIZE * 2)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/health", self._ready)
        app.router.add_route("*", f"{PREFIX}/sse/{{key}}", self._sse)
        app.router.add_route("*", f"{PREFIX}/redirect/{{kind}}", self._redirect)
        app.router.add_route("*", f"{PREFIX}/framed", self._framed)
        app.router.add_route("*", f"{PREFIX}/slow", self._slow)
        app.router.add_route("*", f"{PREFIX}/flaky", self._flaky)
        app.router.add_route("*", f"{PREFIX}/big", self._big)
        app.router.add_route("*", f"{PREFIX}/retry-once/{{key}}", self._retry_once)
        app.router.add_route("*", "/api/{tail:.*}", self._echo)
        # handler_cancellation: when the gateway gives up on /slow and hangs up, the handler stops.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    # --- routes ----------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            request.raw_path,
            [(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in request.raw_headers],
            time.monotonic(),
        )
        if seen.path.startswith("/api/"):
            with self._lock:
                self._seen.append(seen)
        return await handler(request)

    async def _ready(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "service": "campaign_management"})

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query_string": request.query_string,
                "headers": [
                    [key.decode("latin-1").lower(), value.decode("latin-1")]
                    for key, value in request.raw_headers
                ],
                "body": body.decode("utf-8", errors="replace"),
                "body_bytes": len(body),
            }
        )

    def _gate(self, key: str) -> asyncio.Event:
        """Only ever called on the fake's own loop (see `open_gate`)."""
        return self._gates.setdefault(key, asyncio.Event())

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        """The first event at once, the second only once the test has opened the gate: a client
        can see the first event only if the gateway passes it on before the answer is complete."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(b"event: tick\ndata: first\n\n")
        try:
            await asyncio.wait_for(self._gate(request.match_info["key"]).wait(), GATE_CAP_SECONDS)
        except TimeoutError:
            await response.write(b"event: tick\ndata: gate-never-opened\n\n")
        await response.write(b"event: tick\ndata: second\n\n")
        await response.write_eof()
        return response

    async def _slow(self, _: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_SECONDS)  # a deliberate gap: see SLOW_SECONDS
        return web.json_response({"slow": True})

    async def _redirect(self, request: web.Request) -> web.Response:
        """`own`: to the fake's own (internal) address; `foreign`: to another site; `lookalike`: to
        another port whose URL merely starts with the fake's base URL."""
        targets = {
            "own": f"{self.url}{PREFIX}/elsewhere",
            "foreign": "https://partner.example/callback?state=1",
            "lookalike": f"{self.url}0{PREFIX}/elsewhere",
        }
        return web.Response(status=302, headers={"Location": targets[request.match_info["kind"]]})

    async def _framed(self, _: web.Request) -> web.Response:
        """An upstream that sets its own, weaker, security headers."""
        return web.json_response(
            {"framed": True}, headers={"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "unsafe-url"}
        )

    async def _flaky(self, _: web.Request) -> web.Response:
        if self.flaky_failing:
            return web.json_response({"error": "flaky is failing"}, status=500)
        return web.json_response({"flaky": "ok"})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = BIG_SIZE
        await response.prepare(request)
        for start in range(0, BIG_SIZE, 64 * 1024):
            await response.write(BIG_BODY[start : start + 64 * 1024])
        await response.write_eof()
        return response

    async def _retry_once(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        with self._lock:
            first = key not in self._retry_keys
            self._retry_keys.add(key)
        if first:
            return web.json_response({"error": "try again"}, status=503)
        return web.json_response({"key": key, "ok": True})


def echo_of(response: Any) -> dict[str, Any]:
    """The echo route's JSON body of an httpx response."""
    return json.loads(response.content)
