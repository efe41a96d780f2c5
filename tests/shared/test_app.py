"""The app factory every service uses: operational routes, problems, request ids, metrics, logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from services.analytics.settings import Settings as AnalyticsSettings
from shared.app import create_service_app
from tests.support.stack import Stack

router = APIRouter(prefix="/api/v1/probe")


class Signup(BaseModel):
    email: str = Field(max_length=50)
    password: str = Field(min_length=8)


@router.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    logging.getLogger("probe").info("item read", extra={"item_id": item_id})
    return {"id": item_id}


@router.post("/signup", status_code=201)
async def signup(body: Signup) -> dict[str, str]:
    return {"email": body.email}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password is hunter2")


def make_app(stack: Stack, **overrides: str) -> FastAPI:
    values = {
        "REDIS_URL": stack.redis_url,
        "JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",
        "ANALYTICS_DATABASE_URL": stack.runtime_url("analytics"),
        **overrides,
    }
    settings = AnalyticsSettings(**values)
    return create_service_app(settings, title="Probe", routers=[router])


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(stack)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            yield http


async def test_health_and_ready_report_each_dependency(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "database": "ok", "migrations": "ok"}


async def test_ready_is_a_503_problem_when_redis_is_unreachable(stack: Stack) -> None:
    app = make_app(stack, REDIS_URL="redis://127.0.0.1:9/0")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://x") as http,
    ):
        ready = await http.get("/ready")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["checks"]["redis"].startswith("failed")
    assert ready.json()["checks"]["database"] == "ok"


async def test_request_id_is_kept_or_created_and_returned(client: httpx.AsyncClient) -> None:
    kept = await client.get("/api/v1/probe/items/1", headers={"X-Request-ID": "req-42"})
    assert kept.headers["x-request-id"] == "req-42"
    created = await client.get("/api/v1/probe/items/1")
    again = await client.get("/api/v1/probe/items/1")
    assert len(created.headers["x-request-id"]) == 32
    assert created.headers["x-request-id"] != again.headers["x-request-id"]


async def test_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= missing.json().keys()

    invalid = await client.post("/api/v1/probe/signup", json={"email": "a@b.c", "password": "s3cr"})
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert "s3cr" not in invalid.text  # the rejected input is not echoed back

    crash = await client.get("/api/v1/probe/boom")
    assert crash.status_code == 500
    assert crash.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in crash.text


async def test_metrics_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    for item in (7, 8, 9):
        await client.get(f"/api/v1/probe/items/{item}")
    metrics = (await client.get("/metrics")).text
    assert 'route="/api/v1/probe/items/{item_id}"' in metrics
    assert "/api/v1/probe/items/7" not in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert "http_requests_in_flight" in metrics


async def test_swagger_and_redoc_are_served_from_local_assets(client: httpx.AsyncClient) -> None:
    docs = (await client.get("/docs")).text
    assert "/static/docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    bundle = await client.get("/static/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert (await client.get("/static/docs/swagger-ui.css")).status_code == 200
    redoc = (await client.get("/redoc")).text
    assert "/static/docs/redoc.standalone.js" in redoc and "fonts.googleapis" not in redoc
    assert (await client.get("/static/docs/redoc.standalone.js")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/probe/items/{item_id}" in spec["paths"]


async def test_logs_are_json_with_service_and_request_id(client: httpx.AsyncClient, capsys) -> None:  # type: ignore[no-untyped-def]
    await client.get("/api/v1/probe/items/5", headers={"X-Request-ID": "trace-me"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    entry = next(line for line in lines if line["message"] == "item read")
    assert entry["service"] == "analytics"
    assert entry["request_id"] == "trace-me"
    assert entry["item_id"] == 5
