"""Redis going away while events flow through relay and consumer: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import Counter

import pytest
from redis.asyncio import Redis

from devstack.embedded import EmbeddedRedis, free_port
from shared.events.envelope import Event
from shared.redis import create_redis
from tests.support.evbus import (
    commit_events,
    consumer_for,
    effects,
    group_caught_up,
    relay_for,
    unpublished,
)
from tests.support.evtest import STREAM, recording_handler
from tests.support.kit import eventually_async
from tests.support.stack import Stack


async def _caught_up(redis: Redis, owner_engine, committed: list[Event]) -> bool:  # type: ignore[no-untyped-def]
    """Every committed event published, read by the group and acked, and as many effects."""
    if await unpublished(owner_engine) or len(await effects(owner_engine)) < len(committed):
        return False
    return await group_caught_up(redis, STREAM)


async def test_redis_outage_mid_stream_delivers_every_event_exactly_once(
    stack: Stack, evtest_db, owner_engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.events.relay")
    caplog.set_level(logging.WARNING, logger="shared.events.consumer")
    # appendonly: the stream, the group and its pending entries survive the restart
    server = EmbeddedRedis(
        stack.workdir / f"redis-midstream-{uuid.uuid4().hex[:6]}", free_port(), durable=True
    )
    server.start()
    relay_redis, consumer_redis = create_redis(server.url), create_redis(server.url)
    relay = relay_for(evtest_db, relay_redis, batch_size=50)
    consumer = consumer_for(
        evtest_db,
        consumer_redis,
        recording_handler("c1", delay=0.001),
        max_deliveries=5,
        visibility_timeout_ms=500,
        batch_size=20,
    )
    committed: list[Event] = []
    producing = asyncio.Event()
    producing.set()

    async def produce() -> None:
        batch = 0
        while producing.is_set():
            committed.extend(await commit_events(evtest_db, 10, note=f"batch{batch}-"))
            batch += 1
            await asyncio.sleep(0.01)  # pacing only: a steady trickle of small transactions

    async def handled(at_least: int) -> int:
        count = len(await effects(owner_engine))
        return count if count >= at_least else 0

    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    producer = asyncio.create_task(produce())
    try:
        await eventually_async(lambda: handled(50))
        await asyncio.to_thread(server.stop)  # the tasks keep running while Redis goes away

        async def relay_is_stuck() -> bool:
            # the outage was noticed and committed events pile up unpublished: long enough for
            # the relay to retry a few times (backing off 0.05 s, 0.1 s, ...)
            noticed = any(
                r.name == "shared.events.relay" and "unavailable" in r.getMessage() for r in caplog.records
            )
            return noticed and await unpublished(owner_engine) >= 300

        await eventually_async(relay_is_stuck)
        await asyncio.to_thread(server.start)
        committed_before_restart = len(committed)
        await eventually_async(lambda: handled(committed_before_restart + 50))
        producing.clear()
        await producer
        await eventually_async(lambda: _caught_up(consumer_redis, owner_engine, committed), timeout=30)
    finally:
        producing.clear()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, producer, return_exceptions=True), timeout=30)
        await relay_redis.aclose()
        await consumer_redis.aclose()
        server.stop()

    assert all(task.exception() is None for task in tasks)
    # Order is not promised (a batch read just before the outage is reclaimed after the restart,
    # behind newer events), so the effects, one row per handler run, are compared as a sorted list:
    # every committed event exactly once, a duplicate fails.
    ran = [event_id for event_id, _ in await effects(owner_engine)]
    doubled = {str(event_id): n for event_id, n in Counter(ran).items() if n > 1}
    assert doubled == {}, f"handled more than once: {doubled}"
    assert sorted(ran) == sorted(e.id for e in committed)
    assert len(committed) > committed_before_restart > 0

    def outage_lines(logger: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == logger and "available" in r.getMessage()]

    # logged once when the outage started and once when it ended, not once per failed try
    relay_lines = outage_lines("shared.events.relay")
    assert ["available again" in m for m in relay_lines] == [False, True], relay_lines
    assert "unavailable" in relay_lines[0]
    tries = re.search(r"after (\d+) failed tries", relay_lines[1])
    assert tries and int(tries.group(1)) >= 2, relay_lines  # it really failed, more than once
    # the consumer lived through the same outage
    consumer_lines = outage_lines("shared.events.consumer")
    assert ["available again" in m for m in consumer_lines] == [False, True], consumer_lines
