"""Real PostgreSQL and Redis for a benchmark: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.embedded import throwaway_servers
from devstack.stackenv import runtime_url
from shared.fleet import WITH_DATABASE, spec
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
