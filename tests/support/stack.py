"""The servers and settings of one test session: real PostgreSQL and Redis, every schema
migrated, and per-service environments built exactly as the dev stack builds them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.embedded import EmbeddedRedis
from devstack.stackenv import runtime_url
from shared.fleet import WITH_DATABASE

# Argon2id stays on in tests, with cheap parameters so hundreds of logins take seconds.
FAST_PASSWORD_HASHING = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1"}


@dataclass
class Stack:
    owner_url: str
    redis_url: str
    """Admin access to the Redis database the service processes use (db 0)."""
    scratch_redis_url: str
    """Admin access to another database of the same server, for tests of the event library."""
    passwords: dict[str, str]
    envs: dict[str, dict[str, str]]
    """Each service's own environment, as the dev launcher gives it."""
    ports: dict[str, int]
    workdir: Path
    redis_server: EmbeddedRedis | None
    extra_roles: dict[str, str] = field(default_factory=dict)

    def env(self, service: str, **overrides: str) -> dict[str, str]:
        return {**self.envs[service], **overrides}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def log_root(self) -> Path:
        """Where service processes log: `TEST_LOG_DIR` keeps them after the run, else the scratch folder."""
        kept = os.environ.get("TEST_LOG_DIR")
        return Path(kept) if kept else self.workdir / "logs"

    def runtime_url(self, service: str) -> str:
        role = self.extra_roles.get(service) or next(s.role for s in WITH_DATABASE if s.name == service)
        assert role
        return runtime_url(self.owner_url, role, self.passwords[service])


@contextmanager
def running_services(
    stack: Stack, *names: str, log_name: str = "", ports: Mapping[str, int] | None = None, **overrides: str
) -> Iterator[dict[str, str]]:
    """Start the named services as real uvicorn processes (as the dev stack does) and stop them
    afterwards; yields their base URLs. `overrides` apply to each one's environment."""
    with running_fleet(stack, *names, log_name=log_name, ports=ports, **overrides) as fleet:
        yield {proc.spec.name: proc.url for proc in fleet.processes}


@contextmanager
def running_fleet(
    stack: Stack, *names: str, log_name: str = "", ports: Mapping[str, int] | None = None, **overrides: str
) -> Iterator[Any]:
    """The same, yielding the supervising `devstack.fleet.Fleet` (to kill and restart a process)."""
    from devstack.embedded import free_port
    from devstack.fleet import Fleet
    from shared.fleet import spec

    chosen = dict(ports or {name: free_port() for name in names})
    fleet = Fleet(
        envs={name: stack.env(name, **overrides) for name in names},
        ports=chosen,
        log_dir=stack.log_root / (log_name or "-".join(names)),
        services=tuple(spec(name) for name in names),
    )
    fleet.start()
    try:
        fleet.wait_ready(timeout=60, on_news=lambda _: None)
        yield fleet
    finally:
        fleet.stop(timeout=10)


def owner_engine_for(url: str) -> Any:
    """A SQLAlchemy engine for tests' own setup and inspection (the services use asyncpg)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from shared.migrations import async_url

    return create_async_engine(async_url(url), pool_size=2)
