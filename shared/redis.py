"""One way to open Redis, so timeouts, pooling and health checks are the same everywhere."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def create_redis(url: str, *, max_connections: int = 50, pool_timeout: float = 5.0) -> Redis:
    """A client whose pool makes bursts wait for a free connection (up to `pool_timeout`)
    instead of failing at once with "Too many connections"."""
    pool = BlockingConnectionPool.from_url(
        str(url),
        max_connections=max_connections,
        timeout=pool_timeout,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=2.0,
    )
    return Redis(connection_pool=pool)
