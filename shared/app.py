"""The one app factory every service uses, so none of them repeats this wiring.

It installs problem handlers, request ids and metrics, local Swagger UI and ReDoc, `/health`,
`/ready` and `/metrics`. Its lifespan opens the shared infrastructure (database as the service's
runtime role, Redis, the token verifier), asks the service to build its container from it
(`bootstrap.py`), and only then starts the outbox relay, the event consumer with the handlers
built from that container, and the container's own background tasks. A failing build leaves
nothing running; shutdown stops the tasks first, then closes the container and the infrastructure.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.config import ServiceSettings
from shared.docs import docs_assets, docs_routes
from shared.events.consumer import EventConsumer, Handler, RedisHandler
from shared.infrastructure import BaseContainer, Infrastructure, readiness
from shared.observability import RequestContextMiddleware, configure_logging
from shared.problems import install_problem_handlers, problem_response

logger = logging.getLogger("shared.app")

SHUTDOWN_GRACE = 5.0

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
ContainerT = TypeVar("ContainerT", bound=BaseContainer)

Build = Callable[[Infrastructure, SettingsT], Awaitable[ContainerT]]
Handlers = dict[str, Handler] | dict[str, RedisHandler]
HandlersOf = Callable[[ContainerT], Handlers]


async def _stop_tasks(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    stop.set()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _background(
    infra: Infrastructure, container: BaseContainer, handlers: Handlers, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    runners: list[tuple[str, Callable[[asyncio.Event], Awaitable[None]]]] = []
    if infra.db is not None:
        runners.append(("outbox-relay", infra.relay().run))
    if handlers:
        consumer: EventConsumer = infra.consumer(handlers)
        runners.append(("event-consumer", consumer.run))
    runners.extend(container.background_tasks())
    return [asyncio.create_task(run(stop), name=name) for name, run in runners]


def _lifespan(
    settings: SettingsT, build: Build[SettingsT, ContainerT], handlers_of: HandlersOf[ContainerT] | None
) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        infra = await Infrastructure.open(settings)
        try:
            container = await build(infra, settings)
        except BaseException:
            await infra.aclose()
            raise
        app.state.infra = infra
        app.state.container = container
        app.state.token_verifier = infra.verifier
        stop = asyncio.Event()
        tasks = _background(infra, container, handlers_of(container) if handlers_of else {}, stop)
        # What exists now (modules, schemas, the container) lives as long as the process: out of
        # the collector's sight, so a full collection scans only what requests allocate.
        gc.collect()
        gc.freeze()
        logger.info("service started")
        try:
            yield
        finally:
            await _stop_tasks(stop, tasks)
            await container.aclose()
            await infra.aclose()
            logger.info("service stopped")

    return lifespan


def _operational_routes(service: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready")
    async def ready(request: Request) -> Response:
        checks = await readiness(request.app.state.infra)
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ready", "service": service, "checks": checks})
        failing = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
        return problem_response(503, f"not ready: {failing}", problem_type="not-ready", checks=checks)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    router.include_router(docs_routes())
    return router


async def _no_container(infra: Infrastructure, settings: ServiceSettings) -> BaseContainer:
    return BaseContainer(infra)


def create_service_app(
    settings: SettingsT,
    *,
    title: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    build: Build[SettingsT, ContainerT] = _no_container,  # type: ignore[assignment]
    handlers: HandlersOf[ContainerT] | None = None,
    version: str = "0.1.0",
    middleware: Sequence[tuple[type, dict[str, Any]]] = (),
) -> FastAPI:
    """`build` makes the service's container once at start; `handlers` maps event types to the
    container's handlers; `middleware` runs inside the request-id and metrics layer."""
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings, build, handlers),
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for middleware_class, options in middleware:
        app.add_middleware(middleware_class, **options)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.mount("/static/docs", StaticFiles(directory=docs_assets()), name="docs-assets")
    app.include_router(_operational_routes(settings.service_name))
    for router in routers:
        app.include_router(router)
    return app
