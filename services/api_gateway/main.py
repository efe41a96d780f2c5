"""API Gateway service: the only public entry: routing, JWT check, rate limits, circuit breakers,
merged docs."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fastapi.middleware.cors import CORSMiddleware

from services.api_gateway.api import router
from services.api_gateway.docs import MergedDocs, merge
from services.api_gateway.handlers import make_handlers
from services.api_gateway.proxy import Gateway, GatewayMiddleware, SecurityHeadersMiddleware
from services.api_gateway.ratelimit import RateLimiter
from services.api_gateway.settings import Settings
from shared.app import ServiceRuntime, create_service_app
from shared.config import load_settings
from shared.redis import create_redis

settings = load_settings(Settings)
handler_redis = create_redis(str(settings.redis_url), max_connections=5)


async def startup(rt: ServiceRuntime) -> None:
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=200, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        ),
        auto_decompress=False,
    )
    gateway = Gateway(
        settings, rt.token_verifier, RateLimiter(rt.redis, fail_open=settings.rate_limit_fail_open), http
    )
    docs = MergedDocs(http, {name: upstream.base_url for name, upstream in gateway.upstreams.items()})
    stop = asyncio.Event()
    rt.extras.update(
        gateway=gateway, docs=docs, docs_stop=stop, docs_task=asyncio.create_task(docs.run(stop))
    )


async def shutdown(rt: ServiceRuntime) -> None:
    rt.extras["docs_stop"].set()
    await rt.extras["docs_task"]
    await rt.extras["gateway"].http.close()
    await handler_redis.aclose()


middleware: list[tuple[type, dict[str, Any]]] = [(GatewayMiddleware, {})]
if settings.cors_origins:
    middleware.append(
        (
            CORSMiddleware,
            {
                "allow_origins": settings.cors_origins,
                "allow_credentials": True,
                "allow_methods": ["*"],
                "allow_headers": ["*"],
                "expose_headers": [
                    "X-Request-ID",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "Retry-After",
                ],
            },
        )
    )
middleware.append((SecurityHeadersMiddleware, {}))

app = create_service_app(
    settings,
    title="BizOSaaS API",
    description="The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs.",
    routers=[router],
    handlers=make_handlers(handler_redis),
    startup=startup,
    shutdown=shutdown,
    middleware=middleware,
)

_own_openapi = app.openapi


def merged_openapi() -> dict[str, Any]:
    """The gateway's own routes plus every service's public API (see docs.py)."""
    docs: MergedDocs | None = getattr(app.state, "runtime", None) and app.state.runtime.extras.get("docs")
    return merge(_own_openapi(), docs.documents if docs else {})


app.openapi = merged_openapi  # type: ignore[method-assign]
