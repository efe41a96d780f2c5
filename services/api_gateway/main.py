"""API Gateway service: the only public entry: routing, JWT check, rate limits, circuit breakers,
merged docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from services.api_gateway.api import ROUTERS
from services.api_gateway.bootstrap import build
from services.api_gateway.docs import merge
from services.api_gateway.handlers import build_handlers
from services.api_gateway.middleware import (
    GatewayEntry,
    OperatorOnlyMiddleware,
    ProxyEndpoint,
    SecurityHeadersMiddleware,
)
from services.api_gateway.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings
from shared.observability import RequestContextMiddleware

EXPOSED_HEADERS = ["X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"]


def _cors(settings: Settings) -> dict[str, Any] | None:
    if not settings.cors_origins:
        return None
    return {
        "allow_origins": settings.cors_origins,
        "allow_credentials": True,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "expose_headers": EXPOSED_HEADERS,
    }


def _own_routes(settings: Settings) -> FastAPI:
    """The gateway's own app: health, metrics (operators only), docs, the merged OpenAPI."""
    token = settings.operator_token.get_secret_value() if settings.operator_token else None
    layers: list[tuple[type, dict[str, Any]]] = [(OperatorOnlyMiddleware, {"token": token})]
    if cors := _cors(settings):
        layers.append((CORSMiddleware, cors))
    layers.append((SecurityHeadersMiddleware, {}))
    api = create_service_app(
        settings,
        title="BizOSaaS API",
        description="The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs.",
        routers=ROUTERS,
        build=build,
        handlers=build_handlers,
        middleware=layers,
    )
    own_openapi = api.openapi

    def merged_openapi() -> dict[str, Any]:
        """The gateway's own routes plus every service's public API (see docs.py)."""
        container = getattr(api.state, "container", None)
        return merge(own_openapi(), container.docs.documents if container else {})

    api.openapi = merged_openapi  # type: ignore[method-assign]
    return api


def create_app(settings: Settings) -> GatewayEntry:
    api = _own_routes(settings)
    proxied: ASGIApp = ProxyEndpoint(api)
    if cors := _cors(settings):
        proxied = CORSMiddleware(proxied, **cors)
    proxied = RequestContextMiddleware(proxied, settings.service_name, SecurityHeadersMiddleware.HEADERS)
    return GatewayEntry(api, proxied)


app = create_app(load_settings(Settings))
