"""Session-wide real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL / TEST_REDIS_URL).

Everything runs against real servers: the migrate step builds every service schema plus the
test-only `evtest` schema, with their runtime roles, exactly as the dev stack does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from devstack.embedded import EmbeddedRedis, free_port, throwaway_servers
from devstack.fleet import Fleet
from devstack.stackenv import ensure_signing_key, runtime_url, service_environment
from shared.database import create_engine
from shared.fleet import SERVICES, WITH_DATABASE, spec
from shared.migrations import migrate
from shared.redis import create_redis
from tests.support.evtest import EVTEST

# Argon2id stays on in tests, with cheap parameters so hundreds of logins take seconds.
FAST_PASSWORD_HASHING = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1"}


@dataclass
class Stack:
    owner_url: str
    redis_url: str
    passwords: dict[str, str]
    env: dict[str, str]
    workdir: Path
    redis_server: EmbeddedRedis | None

    def runtime_url(self, service: str) -> str:
        role = (
            EVTEST.role
            if service == EVTEST.name
            else next(s.role for s in WITH_DATABASE if s.name == service)
        )
        assert role
        return runtime_url(self.owner_url, role, self.passwords[service])


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with throwaway_servers(
        "bizosaas-test-",
        database_url=os.environ.get("TEST_DATABASE_URL"),
        redis_url=os.environ.get("TEST_REDIS_URL"),
    ) as servers:
        passwords = {spec.name: secrets.token_urlsafe(12) for spec in (*WITH_DATABASE, EVTEST)}
        passwords.update({f"{spec.name}_client": secrets.token_urlsafe(24) for spec in SERVICES})
        asyncio.run(migrate(servers.database_url, passwords, services=(*WITH_DATABASE, EVTEST)))
        ports = {spec.name: free_port() for spec in SERVICES}
        key = ensure_signing_key(servers.workdir / "keys" / "jwt-signing.pem")
        env = service_environment(servers.database_url, servers.redis_url, passwords, ports, signing_key=key)
        env.update(FAST_PASSWORD_HASHING)
        yield Stack(servers.database_url, servers.redis_url, passwords, env, servers.workdir, servers.redis)


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    """A Redis client on an empty database."""
    client = create_redis(stack.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def owner_engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stack.owner_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def evtest_engine(stack: Stack, owner_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The evtest runtime role's engine, on empty evtest tables."""
    from sqlalchemy import text

    async with owner_engine.begin() as conn:
        await conn.execute(text("truncate evtest.outbox, evtest.inbox, evtest.effects"))
    engine = create_engine(stack.runtime_url(EVTEST.name), pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def user_service(stack: Stack) -> Iterator[str]:
    """Base URL of user_management running as a real process (lockout after 5 failures)."""
    service = spec("user_management")
    port = int(stack.env["USER_MANAGEMENT_URL"].rsplit(":", 1)[1])
    fleet = Fleet(
        env=stack.env, ports={service.name: port}, log_dir=stack.workdir / "logs", services=(service,)
    )
    fleet.start()
    try:
        fleet.wait_ready(timeout=60)
        yield stack.env["USER_MANAGEMENT_URL"]
    finally:
        fleet.stop()
