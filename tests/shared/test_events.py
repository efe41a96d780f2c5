"""The event bus against real PostgreSQL and Redis: outbox, relay, consumer, dead letters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.database import create_session_factory, tenant_transaction
from shared.events.consumer import EventConsumer
from shared.events.dead import list_dead, replay
from shared.events.envelope import Event
from shared.events.relay import OutboxRelay
from shared.fleet import REPO_ROOT
from shared.redis import create_redis
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
from tests.support.stack import Stack

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def relay_for(engine: AsyncEngine, redis: Redis, batch_size: int = 500) -> OutboxRelay:
    return OutboxRelay(engine, redis, schema="evtest", service=PRODUCER, batch_size=batch_size)


def consumer_for(
    engine: AsyncEngine, redis: Redis, handler=None, name: str = "c1", max_deliveries: int = 3
) -> EventConsumer:  # type: ignore[no-untyped-def]
    return EventConsumer(
        redis,
        create_session_factory(engine),
        service=EVTEST.name,
        schema="evtest",
        handlers={EVENT_TYPE: handler or recording_handler(name)},
        consumer_name=name,
        visibility_timeout_ms=100,
        max_deliveries=max_deliveries,
    )


async def commit_events(engine: AsyncEngine, count: int, note: str = "") -> list[Event]:
    events = [make_event(TENANT, f"{note}{i}") for i in range(count)]
    async with tenant_transaction(create_session_factory(engine), TENANT) as session:
        await OUTBOX.add_many(session, events)
    return events


async def effects(owner_engine: AsyncEngine) -> list[tuple[uuid.UUID, str]]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(text("select event_id, consumer from evtest.effects"))
        return [(row.event_id, row.consumer) for row in rows]


async def drain_consumer(
    consumer: EventConsumer, expected: int, owner_engine: AsyncEngine, timeout: float = 20
) -> None:
    await consumer.ensure_groups()
    deadline = time.monotonic() + timeout
    while len(await effects(owner_engine)) < expected and time.monotonic() < deadline:
        await consumer.poll_once(block_ms=50)
        await consumer.reclaim()


async def test_event_in_rolled_back_transaction_is_never_published(
    evtest_engine, redis, owner_engine
) -> None:
    sessions = create_session_factory(evtest_engine)
    with pytest.raises(RuntimeError):
        async with tenant_transaction(sessions, TENANT) as session:
            await OUTBOX.add(session, Noted(note="doomed"), TENANT)
            raise RuntimeError("business rule failed after the event was written")
    assert await relay_for(evtest_engine, redis).drain() == 0
    assert await redis.xlen(STREAM) == 0


async def test_committed_event_survives_relay_crash_between_xadd_and_mark(
    evtest_engine, redis, owner_engine
) -> None:
    [event] = await commit_events(evtest_engine, 1)
    crashed = relay_for(evtest_engine, redis)
    conn = await evtest_engine.connect()
    await conn.begin()
    rows = await crashed.claim(conn)
    await crashed.publish(rows)
    await conn.invalidate()  # the process dies here: no mark, the transaction is gone
    await conn.close()

    assert await relay_for(evtest_engine, redis).drain() == 1
    assert await redis.xlen(STREAM) == 2  # published twice: at-least-once
    await drain_consumer(consumer_for(evtest_engine, redis), 1, owner_engine)
    assert await effects(owner_engine) == [(event.id, "c1")]  # handled once: the inbox dedupes


async def test_events_committed_while_redis_is_down_are_all_delivered(
    stack: Stack, evtest_engine, owner_engine
) -> None:
    from devstack.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(stack.workdir / f"redis-outage-{uuid.uuid4().hex[:6]}", free_port(), durable=False)
    server.start()
    redis = create_redis(server.url)
    relay = relay_for(evtest_engine, redis, batch_size=200)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.2)
        server.stop()
        events = await commit_events(evtest_engine, 1000)
        await asyncio.sleep(1.0)  # the relay keeps failing against the dead Redis meanwhile
        server.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if await redis.xlen(STREAM) >= 1000:
                    break
            except Exception:
                pass
            await asyncio.sleep(0.1)
        entries = await redis.xrange(STREAM, count=2000)
        published = {Event.from_json(fields[b"event"]).id for _, fields in entries}
        assert published == {e.id for e in events}
        async with owner_engine.connect() as conn:
            assert (
                await conn.scalar(text("select count(*) from evtest.outbox where published_at is null")) == 0
            )
    finally:
        stop.set()
        await relay_task
        await redis.aclose()
        server.stop()


async def test_failing_handler_goes_to_dead_letters_after_n_tries_and_replay_brings_it_back(
    evtest_engine, redis, owner_engine
) -> None:
    attempts: list[uuid.UUID] = []
    healthy = False

    async def flaky(session: AsyncSession, event: Event) -> None:
        attempts.append(event.id)
        if not healthy:
            raise ValueError("downstream rejected the campaign")
        await recording_handler("c1")(session, event)

    [event] = await commit_events(evtest_engine, 1)
    published_before = metric("events_published_total", service=PRODUCER, stream=STREAM)
    await relay_for(evtest_engine, redis).drain()
    assert metric("events_published_total", service=PRODUCER, stream=STREAM) == published_before + 1
    failed_before = metric("events_failed_total", service=EVTEST.name, type=EVENT_TYPE)
    dead_before = metric("events_dead_total", service=EVTEST.name, reason="handler_failed")
    consumer = consumer_for(evtest_engine, redis, flaky, max_deliveries=3)
    await consumer.ensure_groups()
    deadline = time.monotonic() + 10
    while not await list_dead(redis) and time.monotonic() < deadline:
        await consumer.poll_once(block_ms=20)
        await asyncio.sleep(0.12)
        await consumer.reclaim()

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
    evtest_engine, redis, owner_engine
) -> None:
    async def picky(session: AsyncSession, event: Event) -> None:
        if event.data["note"].startswith("bad"):
            raise ValueError("bad event")
        await recording_handler("c1")(session, event)

    good = await commit_events(evtest_engine, 5, note="good")
    await commit_events(evtest_engine, 1, note="bad")
    await relay_for(evtest_engine, redis).drain()
    consumer = consumer_for(evtest_engine, redis, picky)
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
    payload: bytes, reason: str, evtest_engine, redis, owner_engine
) -> None:
    consumer = consumer_for(evtest_engine, redis)
    await consumer.ensure_groups()
    await redis.xadd(STREAM, {"event": payload})
    [good] = await commit_events(evtest_engine, 1)
    await relay_for(evtest_engine, redis).drain()

    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    deadline = time.monotonic() + 10
    while not await effects(owner_engine) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
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
    deadline = time.monotonic() + timeout
    rows = await effects(owner_engine)
    while len(rows) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rows = await effects(owner_engine)
    return rows


async def test_consumer_killed_mid_batch_is_reclaimed_and_each_effect_happens_once(
    stack: Stack, evtest_engine, redis, owner_engine, workers
) -> None:
    workers.append(_start_worker(stack, "doomed", delay=0.02, batch=100))
    events = await commit_events(evtest_engine, 300)
    await relay_for(evtest_engine, redis).drain()
    deadline = time.monotonic() + 10
    while not await effects(owner_engine) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait()
    handled_before = len(await effects(owner_engine))
    assert 0 < handled_before < 300
    assert (await redis.xpending(STREAM, EVTEST.name))["pending"] > 0

    workers.append(_start_worker(stack, "rescuer", delay=0.0))
    rows = await wait_for_effects(owner_engine, 300)
    await asyncio.sleep(0.5)
    rows = await effects(owner_engine)
    assert sorted(e for e, _ in rows) == sorted(e.id for e in events)  # every event, each exactly once
    assert {c for _, c in rows} == {"doomed", "rescuer"}
    assert (await redis.xpending(STREAM, EVTEST.name))["pending"] == 0


async def test_two_consumer_processes_in_one_group_share_the_work(
    stack: Stack, evtest_engine, redis, owner_engine, workers
) -> None:
    workers.append(_start_worker(stack, "alpha", delay=0.005, batch=10))
    workers.append(_start_worker(stack, "beta", delay=0.005, batch=10))
    events = await commit_events(evtest_engine, 400)
    await relay_for(evtest_engine, redis).drain()
    rows = await wait_for_effects(owner_engine, 400)
    assert sorted(e for e, _ in rows) == sorted(e.id for e in events)
    by_consumer = {name: sum(1 for _, c in rows if c == name) for name in ("alpha", "beta")}
    assert by_consumer["alpha"] > 0 and by_consumer["beta"] > 0, by_consumer


async def test_consumer_recreates_its_group_when_redis_lost_it(evtest_engine, redis, owner_engine) -> None:
    consumer = consumer_for(evtest_engine, redis)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.sleep(0.3)
        await redis.flushdb()  # stream and consumer group gone, as after a Redis wipe
        await asyncio.sleep(0.3)
        [event] = await commit_events(evtest_engine, 1)
        await relay_for(evtest_engine, redis).drain()
        rows = await wait_for_effects(owner_engine, 1, timeout=10)
        assert rows == [(event.id, "c1")]
    finally:
        stop.set()
        await task
