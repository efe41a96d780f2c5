"""Running a fake: in the test's event loop, in a thread (for synchronous tests and the dev
stack), or as `python -m fakes.<name> --port N`."""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

AppFactory = Callable[[], web.Application]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def json_object(request: web.Request) -> dict[str, Any]:
    """A control request's JSON body: `{}` when empty, 400 when not JSON."""
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    return data if isinstance(data, dict) else {}


def public_origin(request: web.Request, public_url: str | None) -> str:
    """The origin clients reach the fake at: the configured one, else the request's own."""
    return public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"


@dataclass
class FailRule:
    """`POST /_fake/fail {"path_prefix", "status", "count"}`: the next `count` requests under the prefix
    answer `status` in the provider's error shape."""

    path_prefix: str
    status: int
    count: int

    @classmethod
    def of(cls, data: Mapping[str, object]) -> FailRule:
        return cls(str(data.get("path_prefix", "/")), int(data.get("status", 500)), int(data.get("count", 1)))  # type: ignore[arg-type]


def failure_control(rules_of: Callable[[web.Request], list[FailRule]]) -> Handler:
    """The `POST /_fake/fail` handler over the app's rule list."""

    async def fake_fail(request: web.Request) -> web.Response:
        rule = FailRule.of(await json_object(request))
        rules_of(request).append(rule)
        return web.json_response(vars(rule))

    return fake_fail


def take_failure(rules: list[FailRule], path: str) -> FailRule | None:
    """The rule that fails this request (spending one of its count), if any; control paths never fail."""
    if path.startswith("/_fake/"):
        return None
    for rule in rules:
        if rule.count != 0 and path.startswith(rule.path_prefix):
            rule.count -= 1
            return rule
    return None


class FakeServer:
    """An aiohttp app on 127.0.0.1; port 0 lets the kernel pick a free one (no race)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class ThreadedFake:
    """The same in a thread with its own event loop: `url = fake.start()`, later `fake.stop()`.
    Read the app's state from the test thread only for inspection (the handlers own it)."""

    def __init__(self, app: web.Application, port: int = 0) -> None:
        self.server = FakeServer(app, port=port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake", daemon=True)

    @property
    def app(self) -> web.Application:
        return self.server.app

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return self.server.url


def run_cli(name: str, make_app: AppFactory, default_port: int) -> None:
    """`python -m fakes.<name> [--port N] [--host H]`: serve until interrupted."""
    parser = argparse.ArgumentParser(prog=f"python -m fakes.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    print(f"fake {name} on http://{args.host}:{args.port}", flush=True)
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)
