"""The one app factory every service uses, so none of them repeats this wiring.

It installs problem handlers, request ids and metrics, local Swagger UI and ReDoc, `/health`,
`/ready` and `/metrics`; its lifespan opens the database (as the service's runtime role) and
Redis, runs the outbox relay and the event consumer as background tasks, and stops them cleanly.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth.tokens import JwksCache, TokenVerifier
from shared.config import DatabaseServiceSettings, ServiceSettings
from shared.database import SessionFactory, create_engine, create_session_factory
from shared.events.consumer import EventConsumer, Handler
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay
from shared.http import BreakerRegistry
from shared.observability import RequestContextMiddleware, configure_logging
from shared.problems import install_problem_handlers, problem_response
from shared.redis import create_redis

logger = logging.getLogger("shared.app")

READY_CHECK_TIMEOUT = 2.0
SHUTDOWN_GRACE = 5.0


def _docs_assets() -> Path:
    found = importlib.util.find_spec("fastapi_offline")
    assert found and found.origin, "fastapi-offline (Swagger UI and ReDoc assets) is not installed"
    return Path(found.origin).parent / "static"


@dataclass
class ServiceRuntime:
    """What a running service holds; routers reach it through `runtime(request)`."""

    settings: ServiceSettings
    redis: Redis
    token_verifier: TokenVerifier
    breakers: BreakerRegistry
    engine: AsyncEngine | None = None
    sessions: SessionFactory | None = None
    outbox: Outbox | None = None
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    expected_revision: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Hook = Callable[[ServiceRuntime], Awaitable[None]]


def _open_runtime(settings: ServiceSettings, handlers: dict[str, Handler]) -> ServiceRuntime:
    redis = create_redis(str(settings.redis_url))
    keys = JwksCache(str(settings.jwks_url))
    verifier = TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    rt = ServiceRuntime(settings=settings, redis=redis, token_verifier=verifier, breakers=BreakerRegistry())
    if isinstance(settings, DatabaseServiceSettings):
        from shared.migrations import head_revision

        spec = settings.spec
        assert spec.schema
        rt.engine = create_engine(
            str(settings.database_url), pool_size=settings.db_pool_size, application_name=spec.name
        )
        rt.sessions = create_session_factory(rt.engine)
        rt.outbox = Outbox(spec.schema, spec.name)
        rt.relay = OutboxRelay(
            rt.engine,
            redis,
            schema=spec.schema,
            service=spec.name,
            stream_maxlen=settings.events_stream_maxlen,
        )
        rt.expected_revision = head_revision(spec)
    if handlers:
        rt.consumer = EventConsumer(
            redis,
            rt.sessions,
            service=settings.service_name,
            schema=settings.spec.schema,
            handlers=handlers,
            batch_size=settings.events_batch_size,
            visibility_timeout_ms=settings.events_visibility_timeout_ms,
            max_deliveries=settings.events_max_deliveries,
        )
    return rt


async def _close_runtime(rt: ServiceRuntime) -> None:
    await rt.token_verifier.keys.aclose()
    if rt.engine is not None:
        await rt.engine.dispose()
    await rt.redis.aclose()


async def _stop_tasks(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    stop.set()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _lifespan(
    settings: ServiceSettings, handlers: dict[str, Handler], startup: Hook | None, shutdown: Hook | None
) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        rt = _open_runtime(settings, handlers)
        app.state.runtime = rt
        app.state.token_verifier = rt.token_verifier
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if rt.relay is not None:
            tasks.append(asyncio.create_task(rt.relay.run(stop), name="outbox-relay"))
        if rt.consumer is not None:
            tasks.append(asyncio.create_task(rt.consumer.run(stop), name="event-consumer"))
        if startup is not None:
            await startup(rt)
        logger.info("service started")
        try:
            yield
        finally:
            await _stop_tasks(stop, tasks)
            if shutdown is not None:
                await shutdown(rt)
            await _close_runtime(rt)
            logger.info("service stopped")

    return lifespan


async def _check(name: str, probe: Callable[[], Awaitable[str | None]]) -> tuple[str, str]:
    try:
        problem = await asyncio.wait_for(probe(), timeout=READY_CHECK_TIMEOUT)
    except Exception as error:
        return name, f"failed: {type(error).__name__}"
    return name, problem or "ok"


async def readiness(rt: ServiceRuntime) -> dict[str, str]:
    async def redis_probe() -> None:
        await rt.redis.ping()

    checks = [_check("redis", redis_probe)]
    if rt.engine is not None:
        schema = rt.settings.spec.schema

        async def database_probe() -> None:
            async with rt.engine.connect() as conn:  # type: ignore[union-attr]
                await conn.execute(text("select 1"))

        async def migrations_probe() -> str | None:
            async with rt.engine.connect() as conn:  # type: ignore[union-attr]
                found = await conn.scalar(text(f"select version_num from {schema}.alembic_version"))
            if found != rt.expected_revision:
                return f"at {found}, head is {rt.expected_revision}"
            return None

        checks += [_check("database", database_probe), _check("migrations", migrations_probe)]
    return dict(await asyncio.gather(*checks))


def _operational_routes(service: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready")
    async def ready(request: Request) -> Response:
        checks = await readiness(runtime(request))
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ready", "service": service, "checks": checks})
        failing = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
        return problem_response(503, f"not ready: {failing}", problem_type="not-ready", checks=checks)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/docs")
    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} - ReDoc",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )

    return router


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    handlers: dict[str, Handler] | None = None,
    startup: Hook | None = None,
    shutdown: Hook | None = None,
    version: str = "0.1.0",
    middleware: Sequence[tuple[type, dict[str, Any]]] = (),
) -> FastAPI:
    """`middleware` runs inside the request-id and metrics layer (the gateway's proxy uses it)."""
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings, handlers or {}, startup, shutdown),
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for middleware_class, options in middleware:
        app.add_middleware(middleware_class, **options)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.mount("/static/docs", StaticFiles(directory=_docs_assets()), name="docs-assets")
    app.include_router(_operational_routes(settings.service_name))
    for router in routers:
        app.include_router(router)
    return app
