"""Every upstream's readiness, latency and circuit state (operators only, see middleware.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from fastapi import APIRouter

from services.api_gateway.api.deps import ContainerDep

router = APIRouter(tags=["gateway"])


async def _probe(
    http: aiohttp.ClientSession, name: str, base_url: str, breaker_state: str
) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        async with http.get(f"{base_url}/ready", timeout=aiohttp.ClientTimeout(total=2)) as resp:
            status = "ready" if resp.status == 200 else "not_ready"
    except (aiohttp.ClientError, TimeoutError):
        status = "unreachable"
    latency = round((time.perf_counter() - started) * 1000, 1)
    return name, {"url": base_url, "status": status, "latency_ms": latency, "breaker": breaker_state}


@router.get("/health/services", summary="Readiness, latency and circuit state of every upstream")
async def services_health(container: ContainerDep) -> dict[str, Any]:
    upstreams = container.forwarder.upstreams
    results = dict(
        await asyncio.gather(
            *(
                _probe(container.http, name, upstream.base_url, upstream.breaker.current_state)
                for name, upstream in sorted(upstreams.items())
            )
        )
    )
    degraded = any(item["status"] != "ready" or item["breaker"] != "closed" for item in results.values())
    return {"status": "degraded" if degraded else "ok", "services": results}
