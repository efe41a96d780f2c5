"""What the shared wiring gives every service: database, Redis, token verifier, circuit breakers.

`Infrastructure.open(settings)` makes them from the shared settings; a service's `bootstrap.py`
builds its own container on top (`BaseContainer` is the part every container has), and the app
factory starts the event bus from the same objects. Nothing here is a module global.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.auth.tokens import JwksCache, TokenVerifier, VerifiedTokens
from shared.config import DatabaseServiceSettings, ServiceSettings
from shared.database import Database
from shared.events.consumer import EventConsumer, Handler, RedisHandler
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay
from shared.http import BreakerRegistry
from shared.peers import Peers
from shared.redis import create_redis

READY_CHECK_TIMEOUT = 2.0

BackgroundTask = tuple[str, Callable[[asyncio.Event], Awaitable[None]]]
"""A name and a coroutine function that runs until the event is set."""


@dataclass
class Schema:
    """The service's own schema, reached as its runtime role."""

    database: Database
    outbox: Outbox
    name: str
    expected_revision: str | None


@dataclass
class Infrastructure:
    settings: ServiceSettings
    redis: Redis
    """REDIS_URL: the service's own keys (prefix `<service>:`)."""
    publisher: Redis
    """Appends to the service's stream and to events.dead, nothing else (when ACLs are set up)."""
    subscriber: Redis
    """Reads and acks the streams the service consumes."""
    verifier: TokenVerifier
    breakers: BreakerRegistry
    peers: Peers
    """Other services, called with this service's token (made on first use)."""
    db: Schema | None = None

    @classmethod
    async def open(cls, settings: ServiceSettings) -> Infrastructure:
        redis = create_redis(str(settings.redis_url))
        publisher = _redis_or(settings.events_publisher_redis_url, redis, max_connections=10)
        subscriber = _redis_or(settings.events_consumer_redis_url, redis, max_connections=10)
        keys = JwksCache(str(settings.jwks_url))
        verifier = TokenVerifier(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache=VerifiedTokens(settings.token_cache_size),
        )
        breakers = BreakerRegistry(settings.breaker_fail_max, settings.breaker_reset_seconds)
        infra = cls(settings, redis, publisher, subscriber, verifier, breakers, Peers(settings, breakers))
        if isinstance(settings, DatabaseServiceSettings):
            infra.db = await _open_schema(settings)
        return infra

    @property
    def database(self) -> Database:
        """The pool of a service that owns a schema."""
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no database")
        return self.db.database

    @property
    def outbox(self) -> Outbox:
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no database")
        return self.db.outbox

    def relay(self) -> OutboxRelay:
        assert self.db is not None
        return OutboxRelay(
            self.db.database,
            self.publisher,
            schema=self.db.name,
            service=self.settings.service_name,
            stream_maxlen=self.settings.events_stream_maxlen,
        )

    def consumer(self, handlers: dict[str, Handler] | dict[str, RedisHandler]) -> EventConsumer:
        settings = self.settings
        return EventConsumer(
            self.subscriber,
            self.db.database if self.db else None,
            service=settings.service_name,
            schema=self.db.name if self.db else None,
            handlers=handlers,
            publisher=self.publisher,
            state=self.redis,
            batch_size=settings.events_batch_size,
            visibility_timeout_ms=settings.events_visibility_timeout_ms,
            max_deliveries=settings.events_max_deliveries,
        )

    async def aclose(self) -> None:
        await self.peers.aclose()
        await self.verifier.keys.aclose()
        if self.db is not None:
            await self.db.database.close()
        for client in {id(c): c for c in (self.redis, self.publisher, self.subscriber)}.values():
            await client.aclose()


def _redis_or(url: object, fallback: Redis, *, max_connections: int) -> Redis:
    return create_redis(str(url), max_connections=max_connections) if url else fallback


async def _open_schema(settings: DatabaseServiceSettings) -> Schema:
    from shared.migrations import head_revision

    spec = settings.spec
    assert spec.schema
    database = Database(
        str(settings.database_url), pool_size=settings.db_pool_size, application_name=spec.name
    )
    return Schema(
        database=await database.open(),
        outbox=Outbox(spec.schema, spec.name),
        name=spec.schema,
        expected_revision=head_revision(spec),
    )


@dataclass
class BaseContainer:
    """The part of every service's container: the infrastructure it was built on.

    Subclasses add the service's use cases and clients, and may override `background_tasks`
    (schedulers, workers) and `aclose` (clients they opened)."""

    infra: Infrastructure

    def background_tasks(self) -> list[BackgroundTask]:
        return []

    async def aclose(self) -> None:
        return None


async def _check(name: str, probe: Callable[[], Awaitable[str | None]]) -> tuple[str, str]:
    try:
        problem = await asyncio.wait_for(probe(), timeout=READY_CHECK_TIMEOUT)
    except Exception as error:
        return name, f"failed: {type(error).__name__}"
    return name, problem or "ok"


async def readiness(infra: Infrastructure) -> dict[str, str]:
    """Redis, and for a service with a schema: the database and migrations at head."""

    async def redis_probe() -> None:
        await infra.redis.ping()

    checks = [_check("redis", redis_probe)]
    db = infra.db
    if db is not None:

        async def database_probe() -> None:
            await db.database.run(lambda conn: conn.fetchval("select 1"))

        async def migrations_probe() -> str | None:
            found = await db.database.run(
                lambda conn: conn.fetchval(f"select version_num from {db.name}.alembic_version")
            )
            if found != db.expected_revision:
                return f"at {found}, head is {db.expected_revision}"
            return None

        checks += [_check("database", database_probe), _check("migrations", migrations_probe)]
    return dict(await asyncio.gather(*checks))
