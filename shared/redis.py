"""One way to open Redis, so timeouts and health checks are the same everywhere."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, *, max_connections: int = 50) -> Redis:
    return Redis.from_url(
        str(url),
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=2.0,
        max_connections=max_connections,
    )
