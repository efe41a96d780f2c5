"""Real PostgreSQL and Redis for a benchmark: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
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
    workdir = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    os.chmod(workdir, 0o755)  # the embedded PostgreSQL runs as another user
    postgres = redis = None
    try:
        owner_url = os.environ.get("BENCH_DATABASE_URL")
        if not owner_url:
            durable = os.environ.get("BENCH_PG_DURABLE", "1") == "1"
            postgres = EmbeddedPostgres(
                workdir / "postgres", free_port(), secrets.token_urlsafe(12), durable=durable
            )
            owner_url = postgres.start()
        redis_url = os.environ.get("BENCH_REDIS_URL")
        if not redis_url:
            redis = EmbeddedRedis(workdir / "redis", free_port(), durable=False)
            redis_url = redis.start()
        passwords = {s.name: secrets.token_urlsafe(12) for s in WITH_DATABASE}
        await migrate(owner_url, passwords)
        yield BenchStack(owner_url, redis_url, passwords, workdir)
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
