"""The event bus against real PostgreSQL and Redis: outbox, relay, consumer, dead letters."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import Connection
from shared.events.consumer import EventConsumer
from shared.events.dead import list_dead, replay
from shared.events.envelope import Event
from shared.fleet import REPO_ROOT
from shared.redis import create_redis
from tests.support.evbus import (
    TENANT,
    commit_events,
    consumer_for,
    effects,
    group_caught_up,
    metric,
    relay_for,
    unpublished,
)
from tests.support.evtest import (
    EVENT_TYPE,
    EVTEST,
    OUTBOX,
    PRODUCER,
    STREAM,
    Noted,
    make_event,
    recording_handler,
)
from tests.support.kit import eventually_async
from tests.support.stack import Stack


async def drain_consumer(
    consumer: EventConsumer, expected: int, owner_engine: AsyncEngine, timeout: float = 20
) -> None:
    """Consume until `expected` effects exist and the group has read and acked the whole stream,
    so a duplicate delivered later than the first copy would show up too."""
    await consumer.ensure_groups()

    async def done() -> bool:
        await consumer.poll_once(block_ms=50)
        await consumer.reclaim()
        return len(await effects(owner_engine)) >= expected and await group_caught_up(consumer.redis, STREAM)

    await eventually_async(done, timeout=timeout, interval=0.01)


async def test_event_in_rolled_back_transaction_is_never_published(evtest_db, redis, owner_engine) -> None:
    with pytest.raises(RuntimeError):
        async with evtest_db.transaction(TENANT) as conn:
            await OUTBOX.add(conn, Noted(note="doomed"), TENANT)
            raise RuntimeError("business rule failed after the event was written")
    assert await relay_for(evtest_db, redis).drain() == 0
    assert await redis.xlen(STREAM) == 0


async def test_committed_event_survives_relay_crash_between_xadd_and_mark(
    evtest_db, redis, owner_engine
) -> None:
    [event] = await commit_events(evtest_db, 1)
    crashed = relay_for(evtest_db, redis)
    conn = await evtest_db.pool.acquire()
    await conn.execute("BEGIN")
    rows = await crashed.claim(conn)
    await crashed.publish(rows)
    conn.terminate()  # the process dies here: no mark, the transaction is gone
    await evtest_db.pool.release(conn)

    assert await relay_for(evtest_db, redis).drain() == 1
    assert await redis.xlen(STREAM) == 2  # published twice: at-least-once
    await drain_consumer(consumer_for(evtest_db, redis), 1, owner_engine)
    assert await effects(owner_engine) == [(event.id, "c1")]  # handled once: the inbox dedupes


async def test_events_committed_while_redis_is_down_are_all_delivered(
    stack: Stack, evtest_db, owner_engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.events.relay")
    from devstack.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(stack.workdir / f"redis-outage-{uuid.uuid4().hex[:6]}", free_port(), durable=False)
    server.start()
    redis = create_redis(server.url)
    relay = relay_for(evtest_db, redis, batch_size=200)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        await commit_events(evtest_db, 1)
        await eventually_async(lambda: redis.xlen(STREAM))  # the relay is up and publishing
        server.stop()  # not durable: that first event is gone with it, the outbox had done its part
        events = await commit_events(evtest_db, 1000)
        # the relay keeps failing against the dead Redis meanwhile
        await eventually_async(lambda: _outage_noticed(caplog))
        assert await unpublished(owner_engine) == 1000
        server.start()
        await eventually_async(lambda: _no_unpublished(owner_engine), timeout=20)
        entries = await redis.xrange(STREAM, count=2000)
        published = {Event.from_json(fields[b"event"]).id for _, fields in entries}
        assert published == {e.id for e in events}
    finally:
        stop.set()
        await relay_task
        await redis.aclose()
        server.stop()


async def test_failing_handler_goes_to_dead_letters_after_n_tries_and_replay_brings_it_back(
    evtest_db, redis, owner_engine
) -> None:
    attempts: list[uuid.UUID] = []
    healthy = False

    async def flaky(conn: Connection, event: Event) -> None:
        attempts.append(event.id)
        if not healthy:
            raise ValueError("downstream rejected the campaign")
        await recording_handler("c1")(conn, event)

    [event] = await commit_events(evtest_db, 1)
    published_before = metric("events_published_total", service=PRODUCER, stream=STREAM)
    await relay_for(evtest_db, redis).drain()
    assert metric("events_published_total", service=PRODUCER, stream=STREAM) == published_before + 1
    failed_before = metric("events_failed_total", service=EVTEST.name, type=EVENT_TYPE)
    dead_before = metric("events_dead_total", service=EVTEST.name, reason="handler_failed")
    consumer = consumer_for(evtest_db, redis, flaky, max_deliveries=3)
    await consumer.ensure_groups()

    async def dead_lettered() -> bool:
        await consumer.poll_once(block_ms=20)
        await consumer.reclaim()
        return bool(await list_dead(redis))

    await eventually_async(dead_lettered, timeout=10, interval=0.05)

    [dead] = await list_dead(redis)
    assert len(attempts) == 3
    assert dead.reason == "handler_failed"
    assert "ValueError: downstream rejected the campaign" in dead.error
    assert dead.stream == STREAM and dead.group == EVTEST.name and dead.deliveries == 3
    assert Event.from_json(dead.event).id == event.id
    assert (await redis.xpending(STREAM, EVTEST.name))["pending"] == 0
    assert await effects(owner_engine) == []
    assert metric("events_failed_total", service=EVTEST.name, type=EVENT_TYPE) == failed_before + 3
    assert metric("events_dead_total", service=EVTEST.name, reason="handler_failed") == dead_before + 1

    healthy = True
    handled_before = metric("events_handled_total", service=EVTEST.name, type=EVENT_TYPE)
    await replay(redis, dead.id)
    assert await list_dead(redis) == []
    await drain_consumer(consumer, 1, owner_engine, timeout=5)
    assert await effects(owner_engine) == [(event.id, "c1")]
    assert metric("events_handled_total", service=EVTEST.name, type=EVENT_TYPE) == handled_before + 1


async def test_one_failing_event_does_not_hold_back_the_rest_of_its_batch(
    evtest_db, redis, owner_engine
) -> None:
    async def picky(conn: Connection, event: Event) -> None:
        if event.data["note"].startswith("bad"):
            raise ValueError("bad event")
        await recording_handler("c1")(conn, event)

    good = await commit_events(evtest_db, 5, note="good")
    await commit_events(evtest_db, 1, note="bad")
    await relay_for(evtest_db, redis).drain()
    consumer = consumer_for(evtest_db, redis, picky)
    await consumer.ensure_groups()
    await consumer.poll_once(block_ms=50)
    assert sorted(e for e, _ in await effects(owner_engine)) == sorted(e.id for e in good)
    assert (await redis.xpending(STREAM, EVTEST.name))["pending"] == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"this is not json", "malformed"),
        (b'{"type": "campaign.created"}', "malformed"),
        (
            make_event(TENANT).model_copy(update={"type": "campaign.exploded"}).to_json().encode(),
            "unknown_type",
        ),
        (make_event(TENANT).model_copy(update={"version": 9}).to_json().encode(), "unsupported_version"),
    ],
)
async def test_malformed_messages_are_dead_lettered_and_the_loop_goes_on(
    payload: bytes, reason: str, evtest_db, redis, owner_engine
) -> None:
    consumer = consumer_for(evtest_db, redis)
    await consumer.ensure_groups()
    await redis.xadd(STREAM, {"event": payload})
    [good] = await commit_events(evtest_db, 1)
    await relay_for(evtest_db, redis).drain()

    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually_async(lambda: effects(owner_engine), timeout=10)
    finally:
        stop.set()
        await task

    [dead] = await list_dead(redis)
    assert dead.reason == reason and dead.error
    assert await effects(owner_engine) == [(good.id, "c1")]
    assert (await redis.xpending(STREAM, EVTEST.name))["pending"] == 0


def _start_worker(stack: Stack, name: str, delay: float, batch: int = 50) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "EVTEST_DATABASE_URL": stack.runtime_url(EVTEST.name),
        "REDIS_URL": stack.scratch_redis_url,
        "PYTHONPATH": str(REPO_ROOT),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.consumer_worker",
            name,
            "--delay",
            str(delay),
            "--batch",
            str(batch),
            "--visibility-ms",
            "500",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line
    return proc


@pytest.fixture
async def workers(stack: Stack) -> AsyncIterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_for_effects(
    owner_engine: AsyncEngine, count: int, timeout: float = 30
) -> list[tuple[uuid.UUID, str]]:
    async def enough() -> list[tuple[uuid.UUID, str]] | None:
        rows = await effects(owner_engine)
        return rows if len(rows) >= count else None

    return await eventually_async(enough, timeout=timeout, interval=0.1)


async def _pending(redis: Redis) -> int:
    return int((await redis.xpending(STREAM, EVTEST.name))["pending"])


async def _outage_noticed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.name == "shared.events.relay" and "unavailable" in r.getMessage() for r in caplog.records)


async def _no_unpublished(owner_engine: AsyncEngine) -> bool:
    return await unpublished(owner_engine) == 0


async def test_consumer_killed_mid_batch_is_reclaimed_and_each_effect_happens_once(
    stack: Stack, evtest_db, redis, owner_engine, workers
) -> None:
    workers.append(_start_worker(stack, "doomed", delay=0.02, batch=100))
    events = await commit_events(evtest_db, 300)
    await relay_for(evtest_db, redis).drain()

    async def mid_batch() -> bool:
        # one batch committed, and the next one read but unacked (it takes ~2 s to handle)
        return bool(await effects(owner_engine)) and await _pending(redis) > 0

    await eventually_async(mid_batch, timeout=10, interval=0.02)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait()
    handled_before = len(await effects(owner_engine))
    assert 0 < handled_before < 300
    assert await _pending(redis) > 0

    workers.append(_start_worker(stack, "rescuer", delay=0.0))

    async def all_acked() -> bool:
        # effects commit before the ack: once all is read and acked, no late duplicate can follow
        return len(await effects(owner_engine)) >= 300 and await group_caught_up(redis, STREAM)

    await eventually_async(all_acked, timeout=30, interval=0.1)
    rows = await effects(owner_engine)
    assert sorted(e for e, _ in rows) == sorted(e.id for e in events)  # every event, each exactly once
    assert {c for _, c in rows} == {"doomed", "rescuer"}


async def test_two_consumer_processes_in_one_group_share_the_work(
    stack: Stack, evtest_db, redis, owner_engine, workers
) -> None:
    workers.append(_start_worker(stack, "alpha", delay=0.005, batch=10))
    workers.append(_start_worker(stack, "beta", delay=0.005, batch=10))
    events = await commit_events(evtest_db, 400)
    await relay_for(evtest_db, redis).drain()
    rows = await wait_for_effects(owner_engine, 400)
    assert sorted(e for e, _ in rows) == sorted(e.id for e in events)
    by_consumer = {name: sum(1 for _, c in rows if c == name) for name in ("alpha", "beta")}
    assert by_consumer["alpha"] > 0 and by_consumer["beta"] > 0, by_consumer


async def test_consumer_recreates_its_group_when_redis_lost_it(evtest_db, redis, owner_engine) -> None:
    consumer = consumer_for(evtest_db, redis)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually_async(lambda: _group_exists(redis))
        await redis.flushdb()  # stream and consumer group gone, as after a Redis wipe
        await eventually_async(lambda: _group_exists(redis))  # the running consumer made it again
        [event] = await commit_events(evtest_db, 1)
        await relay_for(evtest_db, redis).drain()
        rows = await wait_for_effects(owner_engine, 1, timeout=10)
        assert rows == [(event.id, "c1")]
    finally:
        stop.set()
        await task


async def _group_exists(redis: Redis) -> bool:
    if not await redis.exists(STREAM):
        return False
    return any(group["name"] == EVTEST.name.encode() for group in await redis.xinfo_groups(STREAM))
