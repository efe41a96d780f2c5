"""The objects of the gateway, built once at start: edge checks, forwarder, merged docs."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from services.api_gateway.docs import MergedDocs
from services.api_gateway.edge import Edge
from services.api_gateway.forwarding import Forwarder, make_upstreams
from services.api_gateway.local_limits import LocalLimiter
from services.api_gateway.ratelimit import RateLimiter
from services.api_gateway.settings import Settings
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure


@dataclass
class Container(BaseContainer):
    settings: Settings
    http: aiohttp.ClientSession
    limiter: RateLimiter | LocalLimiter
    edge: Edge
    forwarder: Forwarder
    docs: MergedDocs

    def background_tasks(self) -> list[BackgroundTask]:
        tasks: list[BackgroundTask] = [("merged-docs", self.docs.run)]
        if isinstance(self.limiter, LocalLimiter):
            tasks.append(("rate-limit-sync", self.limiter.run))
        return tasks

    async def aclose(self) -> None:
        await self.http.close()
        await self.limiter.aclose()


async def build(infra: Infrastructure, settings: Settings) -> Container:
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=200, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        ),
        auto_decompress=False,
    )
    upstreams = make_upstreams(settings)
    limiter: RateLimiter | LocalLimiter = RateLimiter(
        str(settings.redis_url), fail_open=settings.rate_limit_fail_open
    )
    if settings.rate_limit_mode == "local":
        limiter = LocalLimiter(limiter, str(settings.redis_url), settings.rate_limit_sync_ms / 1000)
    return Container(
        infra=infra,
        settings=settings,
        http=http,
        limiter=limiter,
        edge=Edge(settings, infra.verifier, limiter),
        forwarder=Forwarder(settings, http, upstreams),
        docs=MergedDocs(http, {name: upstream.base_url for name, upstream in upstreams.items()}),
    )
