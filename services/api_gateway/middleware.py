"""The gateway's ASGI layers: the entry that sends proxied requests down a short path, the proxy
itself, operator-only endpoints, security headers."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api_gateway import routing
from services.api_gateway.edge import Edge, Refusal
from services.api_gateway.forwarding import Forwarder, send_problem

OPERATOR_PATHS = frozenset({"/metrics", "/health/services"})


class GatewayEntry:
    """The gateway's outermost ASGI app. `/api/v1/...` and the JWKS take the short path: one layer
    (request id, metrics, security headers; CORS when configured), the edge checks, forwarding.
    Everything else (the gateway's own routes, lifespan) is the FastAPI app with its full stack.
    Skipping FastAPI's layers for the proxy path is a measured choice (README "Speed")."""

    def __init__(self, api: Any, proxied: ASGIApp) -> None:
        self.api = api
        self.proxied = proxied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (route := routing.match(scope["path"])) is not None:
            scope["gateway.route"] = route
            scope["route_template"] = route.prefix + "/*"
            await self.proxied(scope, receive, send)
            return
        await self.api(scope, receive, send)


class ProxyEndpoint:
    """Edge checks, then forwarding; the edge and the forwarder come from the container, which
    exists once the app has started."""

    def __init__(self, api: Any) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container = self.api.state.container
        await proxy(container.edge, container.forwarder, scope["gateway.route"], scope, receive, send)


async def proxy(
    edge: Edge, forwarder: Forwarder, route: routing.Route, scope: Scope, receive: Receive, send: Send
) -> None:
    verdict = await edge.admit(scope, Headers(scope=scope))
    if isinstance(verdict, Refusal):
        await send_problem(
            scope,
            receive,
            send,
            verdict.status,
            verdict.detail,
            verdict.problem_type,
            verdict.headers,
            verdict.raw_headers,
        )
        return
    await forwarder.forward(route, scope, receive, send, verdict)


class OperatorOnlyMiddleware:
    """`/metrics` and `/health/services` name internal addresses: with `GATEWAY_OPERATOR_TOKEN`
    set they need `Authorization: Bearer <token>`; without it only a loopback peer gets them."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in OPERATOR_PATHS and not self._allowed(scope):
            if self.token is None:
                await send_problem(scope, receive, send, 403, "operator endpoint: only from this host")
            else:
                detail = "operator endpoint: a valid operator token is required"
                await send_problem(scope, receive, send, 401, detail, headers={"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        if self.token is not None:
            scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token)
        client = scope.get("client")
        try:
            return client is not None and ipaddress.ip_address(client[0]).is_loopback
        except ValueError:
            return False


class SecurityHeadersMiddleware:
    """Standard security headers on every answer of the gateway."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    )
    NAMES = frozenset(name for name, _ in HEADERS)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                # Replace, not add: an upstream's weaker copy must not sit beside ours.
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.NAMES]
                message["headers"] = [*kept, *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
