"""The shared request path against its floor (issue 8): `.venv/bin/python -m bench.request_path`.

In one run on real PostgreSQL and Redis: `GET /api/v1/users/me` on user_management (token check,
tenant transaction, one read, the answer) and the same work done by the floor app
(bench/floor.py: FastAPI + PyJWT + one asyncpg transaction, nothing else), with wrk at
BENCH_CONNECTIONS (16, both cores busy) and at one connection (latency with nothing queued).
Target: every service read at least 0.7 x the floor's requests/s at both concurrencies.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from bench._http import CONNECTIONS, DURATION, ratio, uvicorn_app, wrk
from bench._stack import bench_fleet, write_results


def register(base_url: str) -> str:
    body = {
        "tenant_name": "Bench",
        "email": f"bench-{secrets.token_hex(4)}@acme.io",
        "password": "a long bench password",
        "full_name": "Bench",
    }
    return httpx.post(f"{base_url}/api/v1/auth/register", json=body, timeout=30).json()["access_token"]


def measure(url: str, token: str) -> dict[str, Any]:
    wrk(url, token, duration="3s")  # warm-up: pools, caches, JIT of nothing
    return {"c16": wrk(url, token), "c1": wrk(url, token, connections=1)}


def main() -> dict[str, Any]:
    results: dict[str, Any] = {"connections": CONNECTIONS, "duration": DURATION}
    with bench_fleet(("user_management",)) as fleet:
        user_management = fleet.urls["user_management"]
        token = register(user_management)
        env = {
            "FLOOR_DATABASE_URL": fleet.envs["user_management"]["USER_MANAGEMENT_DATABASE_URL"],
            "FLOOR_KEY_FILE": fleet.envs["user_management"]["JWT_PRIVATE_KEY_FILE"],
        }
        with uvicorn_app("bench.floor:app", env) as floor:
            results["floor"] = measure(f"{floor}/api/v1/users/me", token)
        results["user_management /users/me"] = measure(f"{user_management}/api/v1/users/me", token)
        no_cache = {**fleet.envs["user_management"], "TOKEN_CACHE_SIZE": "0", "LOG_LEVEL": "WARNING"}
        with uvicorn_app("services.user_management.main:app", no_cache) as uncached:
            results["user_management /users/me, no token cache"] = measure(
                f"{uncached}/api/v1/users/me", token
            )
    floor_rps = {c: results["floor"][c]["rps"] for c in ("c16", "c1")}
    for name, figures in results.items():
        if isinstance(figures, dict) and "c16" in figures and name != "floor":
            figures["ratio_to_floor"] = {c: ratio(figures[c]["rps"], floor_rps[c]) for c in ("c16", "c1")}
    return results


if __name__ == "__main__":
    write_results("request_path", main())
