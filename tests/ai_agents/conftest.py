"""ai_agents as a real process on the session's PostgreSQL (pgvector) and Redis, with the real
user_management for tokens, fixture websites on 127.0.0.1 (allowed by FETCH_ALLOW for these tests
only), and stand-ins for the peers it reads (campaign_management's campaigns, analytics' figures).
Each test module starts the service it needs (tools-only, or with the fake LLM): one at a time,
since every replica claims any tenant's tasks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from fakes._server import ThreadedFake
from tests.ai_agents.sites import Served, SiteServer, crawl_site, seo_site


@dataclass
class Peers:
    """campaign_management's and analytics' answers by campaign id, and what they were asked."""

    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    performance: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def _peers_app(state: Peers) -> web.Application:
    def answer(found: dict[str, Any] | None) -> web.Response:
        if found is None:
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        return web.json_response(found)

    async def campaign(request: web.Request) -> web.Response:
        state.requests.append({"path": request.path, "headers": dict(request.headers)})
        return answer(state.campaigns.get(request.match_info["cid"]))

    async def performance(request: web.Request) -> web.Response:
        state.requests.append({"path": request.path, "headers": dict(request.headers)})
        return answer(state.performance.get(request.match_info["cid"]))

    app = web.Application()
    app.router.add_get("/api/v1/campaigns/{cid}", campaign)
    app.router.add_get("/api/v1/analytics/campaigns/{cid}/performance", performance)
    return app


@pytest.fixture(scope="session")
def peers() -> Iterator[Peers]:
    state = Peers()
    fake = ThreadedFake(_peers_app(state))
    state.url = fake.start()
    try:
        yield state
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def site() -> Iterator[Served]:
    routes = {**crawl_site(pages=12), **{f"/seo{path}": handler for path, handler in seo_site().items()}}
    with SiteServer(routes) as served:
        yield served


def service_overrides(peers: Peers) -> dict[str, str]:
    return {
        "CAMPAIGN_MANAGEMENT_URL": peers.url,
        "ANALYTICS_URL": peers.url,
        "FETCH_ALLOW": '["127.0.0.0/8"]',
        "CRAWL_MAX_PAGES": "8",
        "TASK_POLL_SECONDS": "0.1",
        "TASK_LEASE_SECONDS": "2",
        "TASK_TIME_LIMIT_SECONDS": "30",
        "EVENTS_VISIBILITY_TIMEOUT_MS": "2000",
    }
