"""analytics as a real process on the session's PostgreSQL and Redis, with the real
user_management for tokens and a stand-in integration serving a large sync's rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from fakes._server import ThreadedFake
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack, running_services


@dataclass
class Integration:
    """integration's side of `rows_url`: rows it holds per path, and who asked for them."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def _integration_app(state: Integration) -> web.Application:
    async def rows(request: web.Request) -> web.Response:
        state.requests.append({"path": request.path, "headers": dict(request.headers)})
        found = state.rows.get(request.path)
        if found is None:
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        return web.json_response({"rows": found})

    app = web.Application()
    app.router.add_get("/api/v1/integrations/syncs/{sync_id}/rows", rows)
    return app


@pytest.fixture(scope="session")
def integration() -> Iterator[Integration]:
    state = Integration()
    fake = ThreadedFake(_integration_app(state))
    state.url = fake.start()
    try:
        yield state
    finally:
        fake.stop()


@pytest.fixture(scope="package")  # gone before tests/integration starts its own analytics
def analytics_service(stack: Stack, user_service: str, integration: Integration) -> Iterator[str]:
    overrides = {
        "INTEGRATION_URL": integration.url,
        "REPORT_POLL_SECONDS": "0.2",
        "ALERT_INTERVAL_SECONDS": "0.2",
        "EVENTS_VISIBILITY_TIMEOUT_MS": "2000",
    }
    with running_services(stack, "analytics", **overrides) as urls:
        yield urls["analytics"]


@pytest.fixture
def api(analytics_service: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=analytics_service, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str) -> Account:
    return register_owner(user_service)
