"""API Gateway service: the only public entry: routing, JWT check, rate limits, circuit breakers,
merged docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.api_gateway.api import ROUTERS
from services.api_gateway.bootstrap import build
from services.api_gateway.docs import merge
from services.api_gateway.handlers import build_handlers
from services.api_gateway.middleware import (
    GatewayMiddleware,
    OperatorOnlyMiddleware,
    SecurityHeadersMiddleware,
)
from services.api_gateway.settings import Settings
from shared.app import create_service_app
from shared.config import load_settings

EXPOSED_HEADERS = ["X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"]


def _middleware(settings: Settings) -> list[tuple[type, dict[str, Any]]]:
    """Innermost first: the proxy, operator-only endpoints, CORS, then the security headers."""
    token = settings.operator_token.get_secret_value() if settings.operator_token else None
    layers: list[tuple[type, dict[str, Any]]] = [
        (GatewayMiddleware, {}),
        (OperatorOnlyMiddleware, {"token": token}),
    ]
    if settings.cors_origins:
        cors = {
            "allow_origins": settings.cors_origins,
            "allow_credentials": True,
            "allow_methods": ["*"],
            "allow_headers": ["*"],
            "expose_headers": EXPOSED_HEADERS,
        }
        layers.append((CORSMiddleware, cors))
    layers.append((SecurityHeadersMiddleware, {}))
    return layers


def create_app(settings: Settings) -> FastAPI:
    app = create_service_app(
        settings,
        title="BizOSaaS API",
        description="The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs.",
        routers=ROUTERS,
        build=build,
        handlers=build_handlers,
        middleware=_middleware(settings),
    )
    own_openapi = app.openapi

    def merged_openapi() -> dict[str, Any]:
        """The gateway's own routes plus every service's public API (see docs.py)."""
        container = getattr(app.state, "container", None)
        return merge(own_openapi(), container.docs.documents if container else {})

    app.openapi = merged_openapi  # type: ignore[method-assign]
    return app


app = create_app(load_settings(Settings))
