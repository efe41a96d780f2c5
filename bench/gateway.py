"""Gateway benchmark (issues 4 and 8): `.venv/bin/python -m bench.gateway` (needs `wrk` and nginx).

Two cases, each with its baselines in the same run, wrk with BENCH_CONNECTIONS (16: both cores
busy) and with one connection (the latency a request gains, nothing queued):

1. The gateway's own cost: a bare ASGI upstream (bench/bare_upstream.py) called directly, through
   nginx as a plain reverse proxy, through the minimal aiohttp proxy (bench/minimal_proxy.py),
   and through our gateway with everything on (token check, deny list, tenant limit, breaker,
   request id, metrics, security headers), once with exact limits (a Redis round trip per
   request, the default) and once with RATE_LIMIT_MODE=local (buckets synced every 100 ms).
   Targets: the gateway at least 0.7x the minimal proxy's requests/s, and at most 0.4 ms added
   at p50 with one connection.
2. A real endpoint: `GET /api/v1/users/me` on user_management, directly and through the gateway.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench._http import CONNECTIONS, DURATION, nginx_proxy, ratio, uvicorn_app, wrk
from bench._stack import bench_fleet, write_results
from shared.auth.permissions import PLANS

PATH = "/api/v1/campaigns/c-1"
UNLIMITED = json.dumps(dict.fromkeys(PLANS, "1000000000/3600"))


def register(base_url: str) -> str:
    body = {
        "tenant_name": "Bench",
        "email": f"bench-{secrets.token_hex(4)}@acme.io",
        "password": "a long bench password",
        "full_name": "Bench",
    }
    return httpx.post(f"{base_url}/api/v1/auth/register", json=body, timeout=30).json()["access_token"]


def both(url: str, token: str | None) -> dict[str, Any]:
    wrk(url, token, duration="2s")  # warm-up: connection pools, token cache, JWKS
    return {"c16": wrk(url, token), "c1": wrk(url, token, connections=1)}


def compare(results: dict[str, Any]) -> None:
    """Ratios the targets speak of, written beside the raw figures."""
    fast = results["fast_upstream"]
    for name in ("nginx", "minimal_proxy", "gateway", "gateway_local"):
        fast[name]["rps_ratio_to_direct"] = ratio(fast[name]["c16"]["rps"], fast["direct"]["c16"]["rps"])
        fast[name]["c1_p50_added_ms"] = round(fast[name]["c1"]["p50_ms"] - fast["direct"]["c1"]["p50_ms"], 3)
    for name in ("gateway", "gateway_local"):
        fast[name]["rps_ratio_to_minimal_proxy"] = {
            c: ratio(fast[name][c]["rps"], fast["minimal_proxy"][c]["rps"]) for c in ("c16", "c1")
        }
    real = results["users_me"]
    real["gateway"]["rps_ratio_to_direct"] = ratio(
        real["gateway"]["c16"]["rps"], real["direct"]["c16"]["rps"]
    )
    real["gateway"]["c1_p50_added_ms"] = round(
        real["gateway"]["c1"]["p50_ms"] - real["direct"]["c1"]["p50_ms"], 3
    )


def main() -> dict[str, Any]:
    results: dict[str, Any] = {"connections": CONNECTIONS, "duration": DURATION}
    folder = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    with uvicorn_app("bench.bare_upstream:app") as upstream:
        port = int(upstream.rsplit(":", 1)[1])
        overrides = {"PLAN_RATE_LIMITS": UNLIMITED, "CAMPAIGN_MANAGEMENT_URL": upstream}
        with (
            bench_fleet(("user_management", "api_gateway"), **overrides) as fleet,
            nginx_proxy(folder / "nginx", port) as nginx,
            uvicorn_app("bench.minimal_proxy:app", {"UPSTREAM": upstream}) as minimal,
            uvicorn_app(
                "services.api_gateway.main:app", {**fleet.envs["api_gateway"], "RATE_LIMIT_MODE": "local"}
            ) as gateway_local,
        ):
            token = register(fleet.urls["user_management"])
            gateway = fleet.urls["api_gateway"]
            results["fast_upstream"] = {
                "direct": both(f"{upstream}{PATH}", token),
                "nginx": both(f"{nginx}{PATH}", token) if nginx else {},
                "minimal_proxy": both(f"{minimal}{PATH}", token),
                "gateway": both(f"{gateway}{PATH}", token),
                "gateway_local": both(f"{gateway_local}{PATH}", token),
            }
            me = "/api/v1/users/me"
            results["users_me"] = {
                "direct": both(f"{fleet.urls['user_management']}{me}", token),
                "gateway": both(f"{gateway}{me}", token),
            }
    compare(results)
    return results


if __name__ == "__main__":
    write_results("gateway", main())
