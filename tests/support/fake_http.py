"""A scriptable fake HTTP server on 127.0.0.1 for testing HTTP clients without mocks.

The server is a real aiohttp app in the test's own event loop, bound to port 0 (the kernel
picks a free port, so there is no race). Each path answers from a queue of scripted replies
(`script`), falling back to a standing reply (`always`), else 404. Every request is recorded
with a server-side `time.monotonic()` arrival time, so tests can count attempts and measure
backoff where it actually happens: on the wire.

    async with FakeServer() as server:
        server.script("/x", Reply(503), Reply(200, body={"ok": True}))
        ...
        assert server.count("/x") == 2
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from fakes._server import FakeServer as LocalServer


@dataclass(frozen=True)
class Reply:
    """One scripted answer; `body` may be bytes, text or a JSON-able value; `delay` is seconds."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


@dataclass(frozen=True)
class Recorded:
    """A request as the server received it; `received_at` is the server's `time.monotonic()`."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]  # case-insensitive; `getall` shows repeated headers
    body: bytes
    received_at: float

    def form(self) -> dict[str, str]:
        """The body as `application/x-www-form-urlencoded` fields (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


Responder = Reply | Callable[[Recorded], Reply]
"""A fixed reply, or a function computing one from the request (e.g. a validating endpoint)."""


class FakeServer(LocalServer):
    """A real HTTP server whose answers are scripted per path and whose requests are recorded."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        super().__init__(app)
        self.requests: list[Recorded] = []
        self._queues: dict[str, deque[Responder]] = {}
        self._standing: dict[str, Responder] = {}

    def script(self, path: str, *replies: Responder) -> None:
        """Queue replies for `path`, used once each in order."""
        self._queues.setdefault(path, deque()).extend(replies)

    def always(self, path: str, reply: Responder) -> None:
        """Answer `path` with `reply` whenever its queue is empty."""
        self._standing[path] = reply

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.requests if path is None else self.to(path))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=await request.read(),
            received_at=time.monotonic(),
        )
        self.requests.append(recorded)
        queue = self._queues.get(request.path)
        responder = queue.popleft() if queue else self._standing.get(request.path)
        if responder is None:
            return web.Response(status=404, text=f"unscripted path {request.path}")
        reply = responder(recorded) if callable(responder) else responder
        if reply.delay:
            await asyncio.sleep(reply.delay)
        body, headers = reply.encode()
        return web.Response(status=reply.status, body=body, headers=headers)


@contextmanager
def dead_port() -> Iterator[str]:
    """A base URL on 127.0.0.1 where nothing listens: the port is bound (so nobody else takes it)
    but never listened on, so connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
