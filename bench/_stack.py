"""Real PostgreSQL and Redis for a benchmark: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.embedded import free_port, throwaway_servers
from devstack.fleet import Fleet
from devstack.stackenv import (
    StackAddresses,
    apply_redis_users,
    ensure_signing_key,
    fleet_environments,
    runtime_url,
    secret_names,
)
from shared.fleet import SERVICES, WITH_DATABASE, spec
from shared.migrations import migrate


@dataclass
class BenchStack:
    owner_url: str
    redis_url: str
    passwords: dict[str, str]
    workdir: Path

    def runtime_url(self, service: str) -> str:
        role = spec(service).role
        assert role
        return runtime_url(self.owner_url, role, self.passwords[service])


@dataclass
class BenchFleet:
    """Services running as in the dev stack, on benchmark servers."""

    stack: BenchStack
    envs: dict[str, dict[str, str]]
    urls: dict[str, str]


@contextmanager
def bench_fleet(names: tuple[str, ...], **overrides: str) -> Iterator[BenchFleet]:
    """The named services as real uvicorn processes on durable embedded servers (or the
    BENCH_DATABASE_URL / BENCH_REDIS_URL ones), each with its own least-privilege environment."""
    with throwaway_servers(
        "bizosaas-bench-",
        database_url=os.environ.get("BENCH_DATABASE_URL"),
        redis_url=os.environ.get("BENCH_REDIS_URL"),
        durable=os.environ.get("BENCH_PG_DURABLE", "1") == "1",
    ) as servers:
        passwords = {name: secrets.token_urlsafe(16) for name in secret_names()}
        asyncio.run(migrate(servers.database_url, passwords))
        acl = apply_redis_users(servers.redis_url, passwords)
        ports = {s.name: free_port() for s in SERVICES}
        key = ensure_signing_key(servers.workdir / "keys" / "jwt-signing.pem")
        envs = fleet_environments(
            StackAddresses(servers.database_url, servers.redis_url, ports, redis_acl=acl),
            passwords,
            signing_key=key,
        )
        for env in envs.values():
            env.update({"LOG_LEVEL": "WARNING", **overrides})
        fleet = Fleet(
            envs=envs, ports=ports, log_dir=servers.workdir / "logs", services=tuple(spec(n) for n in names)
        )
        fleet.start()
        try:
            fleet.wait_ready(90, on_news=lambda _: None)
            stack = BenchStack(servers.database_url, servers.redis_url, passwords, servers.workdir)
            yield BenchFleet(stack, envs, {n: f"http://127.0.0.1:{ports[n]}" for n in names})
        finally:
            fleet.stop()


@asynccontextmanager
async def bench_stack() -> AsyncIterator[BenchStack]:
    """Real servers from BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded (PostgreSQL with fsync on)."""
    with throwaway_servers(
        "bizosaas-bench-",
        database_url=os.environ.get("BENCH_DATABASE_URL"),
        redis_url=os.environ.get("BENCH_REDIS_URL"),
        durable=os.environ.get("BENCH_PG_DURABLE", "1") == "1",
    ) as servers:
        passwords = {s.name: secrets.token_urlsafe(12) for s in WITH_DATABASE}
        await migrate(servers.database_url, passwords)
        yield BenchStack(servers.database_url, servers.redis_url, passwords, servers.workdir)


def write_results(name: str, figures: dict[str, Any]) -> None:
    """Print the figures and keep them in bench/results/<name>.json (git-ignored)."""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
