"""Session-wide real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL / TEST_REDIS_URL).

Everything runs against real servers: the migrate step builds every service schema plus the
test-only `evtest` schema, with their runtime roles, and the Redis users of every service are
set up, exactly as the dev stack does. Service processes use Redis database 0 through their own
users; the `redis` fixture hands tests of the event library an emptied database 1 instead, so it
never wipes what running services keep.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from devstack.embedded import free_port, throwaway_servers
from devstack.stackenv import (
    StackAddresses,
    apply_redis_users,
    ensure_signing_key,
    fleet_environments,
    secret_names,
)
from shared.database import Database
from shared.fleet import SERVICES, WITH_DATABASE
from shared.migrations import migrate
from shared.redis import create_redis
from tests.support.evtest import EVTEST
from tests.support.stack import FAST_PASSWORD_HASHING, Stack, owner_engine_for, running_services


def _scratch(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + "/1"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with throwaway_servers(
        "bizosaas-test-",
        database_url=os.environ.get("TEST_DATABASE_URL"),
        redis_url=os.environ.get("TEST_REDIS_URL"),
    ) as servers:
        passwords = {name: secrets.token_urlsafe(16) for name in [*secret_names(), EVTEST.name]}
        asyncio.run(migrate(servers.database_url, passwords, services=(*WITH_DATABASE, EVTEST)))
        acl = apply_redis_users(servers.redis_url, passwords)
        ports = {spec.name: free_port() for spec in SERVICES}
        key = ensure_signing_key(servers.workdir / "keys" / "jwt-signing.pem")
        addresses = StackAddresses(servers.database_url, servers.redis_url, ports, redis_acl=acl)
        envs = fleet_environments(addresses, passwords, signing_key=key)
        envs["user_management"].update(FAST_PASSWORD_HASHING)
        yield Stack(
            owner_url=servers.database_url,
            redis_url=servers.redis_url,
            scratch_redis_url=_scratch(servers.redis_url),
            passwords=passwords,
            envs=envs,
            ports=ports,
            workdir=servers.workdir,
            redis_server=servers.redis,
            extra_roles={EVTEST.name: str(EVTEST.role)},
        )


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    """Admin access to an emptied scratch database (not the one services use)."""
    client = create_redis(stack.scratch_redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def fleet_redis(stack: Stack) -> AsyncIterator[Redis]:
    """Admin access to the database the running services use; never flushed."""
    client = create_redis(stack.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def bus(stack: Stack) -> Iterator[SyncRedis]:
    """Synchronous admin access to the services' Redis: the event streams (tests.support.bus)."""
    client = SyncRedis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def owner_engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """The owner role through SQLAlchemy, for a test's own setup and inspection."""
    engine = owner_engine_for(stack.owner_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def evtest_db(stack: Stack, owner_engine: AsyncEngine) -> AsyncIterator[Database]:
    """The evtest runtime role's pool, on empty evtest tables."""
    async with owner_engine.begin() as conn:
        await conn.execute(text("truncate evtest.outbox, evtest.inbox, evtest.effects"))
    database = await Database(stack.runtime_url(EVTEST.name), pool_size=5).open()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def user_service(stack: Stack) -> Iterator[str]:
    """Base URL of user_management running as a real process (lockout after 5 failures)."""
    with running_services(
        stack, "user_management", ports={"user_management": stack.ports["user_management"]}
    ) as urls:
        yield urls["user_management"]
