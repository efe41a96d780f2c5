"""Stand-ins for the fleet peers campaign_management calls, for its own tests: a real HTTP server
answering the documented contracts of analytics (a campaign's performance), ai_agents (creating a
task), integration (a tenant's Mautic credentials) and notification (a message to a user),
recording every request. The fleet tests
run the real services instead."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes._server import ThreadedFake


@dataclass
class Peers:
    requests: list[dict[str, Any]] = field(default_factory=list)
    performance: dict[str, dict[str, Any]] = field(default_factory=dict)
    analytics_down: bool = False
    mautic_credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    notification_status: int = 201
    urls: dict[str, str] = field(default_factory=dict)

    def seen(self, path_start: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(path_start)]


def _apps(peers: Peers) -> dict[str, web.Application]:
    """One server per peer, as in the fleet: each has its own host, hence its own circuit."""

    async def record(request: web.Request) -> dict[str, Any]:
        body = await request.json() if request.can_read_body else None
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": body,
        }
        peers.requests.append(entry)
        return entry

    async def performance(request: web.Request) -> web.Response:
        await record(request)
        if peers.analytics_down:
            return web.json_response({"title": "down"}, status=503)
        campaign_id = request.match_info["campaign_id"]
        figures = peers.performance.get(campaign_id)
        if figures is None:  # as analytics answers for a campaign it has no figures for
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        return web.json_response(figures)

    async def create_task(request: web.Request) -> web.Response:
        await record(request)
        task_id = str(uuid.uuid4())
        return web.json_response(
            {"id": task_id, "status": "queued", "status_url": f"/api/v1/ai/tasks/{task_id}"}, status=202
        )

    async def mautic(request: web.Request) -> web.Response:
        await record(request)
        found = peers.mautic_credentials.get(request.headers.get("X-Tenant-ID", ""))
        if found is None:
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        return web.json_response(found)

    async def notify(request: web.Request) -> web.Response:
        entry = await record(request)
        status = entry["status"] = peers.notification_status
        if status >= 400:
            return web.json_response({"title": "injected", "status": status}, status=status)
        return web.json_response({"id": str(uuid.uuid4()), "status": "queued"}, status=status)

    apps = {name: web.Application() for name in ("analytics", "ai_agents", "integration", "notification")}
    apps["analytics"].router.add_get("/api/v1/analytics/campaigns/{campaign_id}/performance", performance)
    apps["ai_agents"].router.add_post("/api/v1/ai/tasks", create_task)
    apps["integration"].router.add_get("/api/v1/integrations/mautic/credentials", mautic)
    apps["notification"].router.add_post("/api/v1/notifications", notify)
    return apps


@contextmanager
def running_peers() -> Iterator[Peers]:
    peers = Peers()
    fakes = {name: ThreadedFake(app) for name, app in _apps(peers).items()}
    try:
        for name, fake in fakes.items():
            peers.urls[name] = fake.start()
        yield peers
    finally:
        for fake in fakes.values():
            if fake.url:
                fake.stop()
