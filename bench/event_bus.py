"""Event bus benchmark (issue 2): run `.venv/bin/python -m bench.event_bus`.

Measures, in one run on real PostgreSQL and Redis:
1. baseline: a bare redis-py XADD / XREADGROUP / XACK loop, events/s;
2. our consumer (envelope parsing, catalog checks, inbox dedupe in a PostgreSQL transaction,
   ack after commit), events/s in one process, and its ratio to the baseline;
3. outbox relay throughput (committed rows -> XADD -> marked sent), events/s;
4. latency at a steady 1,000 events/s with the consumer in another process, p50 and p99: from
   XADD to handled (the bus), and from the producer's outbox commit to handled (the whole path,
   10 events per transaction, relay in the producing process as in a service).
Targets: consumer >= 5,000 events/s, relay >= 2,000 events/s, p99 < 50 ms at 1,000 events/s.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from bench._stack import BenchStack, bench_stack, percentile, write_results
from shared.database import Connection, Database
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay
from shared.redis import create_redis

PRODUCER = "analytics"
EVENT_TYPE = "metrics.ingested"
STREAM = "events.analytics"
GROUP = "notification"  # a real consumer group name with its own schema and inbox
THROUGHPUT_EVENTS = 20_000
RELAY_EVENTS = 20_000
LATENCY_RATE = 1_000
LATENCY_SECONDS = 10
TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000be")
OUTBOX = Outbox("analytics", PRODUCER)


async def _noop(_conn: Connection, _event: Event) -> None:
    return None


def _envelope(seq: int) -> bytes:
    return OUTBOX.build(EVENT_TYPE, {"seq": seq, "rows": 10}, TENANT).to_json().encode()


async def bare_redis_loop(redis: Redis, count: int) -> float:
    stream, group = "bench.bare", "bare"
    await redis.delete(stream)
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    payload = _envelope(0)
    for start in range(0, count, 500):
        pipe = redis.pipeline(transaction=False)
        for _ in range(min(500, count - start)):
            pipe.xadd(stream, {"event": payload})
        await pipe.execute()
    handled = 0
    started = time.perf_counter()
    while handled < count:
        reply = await redis.xreadgroup(group, "c", {stream: ">"}, count=500, block=100)
        for _, messages in reply:
            for _message_id, fields in messages:
                json.loads(fields[b"event"])
            await redis.xack(stream, group, *[message_id for message_id, _ in messages])
            handled += len(messages)
    return count / (time.perf_counter() - started)


async def consumer_throughput(stack: BenchStack, redis: Redis, count: int) -> float:
    await redis.delete(STREAM)
    for start in range(0, count, 500):
        pipe = redis.pipeline(transaction=False)
        for seq in range(start, min(start + 500, count)):
            pipe.xadd(STREAM, {"event": _envelope(seq)})
        await pipe.execute()
    database = await Database(stack.runtime_url(GROUP), pool_size=4).open()
    consumer = EventConsumer(
        redis,
        database,
        service=GROUP,
        schema="notifications",
        handlers={EVENT_TYPE: _noop},
        batch_size=500,
    )
    await consumer.ensure_groups()
    started = time.perf_counter()
    handled = 0
    while handled < count:
        handled += await consumer.poll_once(block_ms=100)
    elapsed = time.perf_counter() - started
    pending = (await redis.xpending(STREAM, GROUP))["pending"]
    assert pending == 0, f"{pending} messages left unacked"
    await database.close()
    return count / elapsed


async def relay_throughput(stack: BenchStack, redis: Redis, count: int) -> float:
    await redis.delete(STREAM)
    database = await Database(stack.runtime_url(PRODUCER), pool_size=4).open()
    for start in range(0, count, 1000):
        async with database.transaction(TENANT) as conn:
            await OUTBOX.add_many(
                conn, [OUTBOX.build(EVENT_TYPE, {"seq": i}, TENANT) for i in range(start, start + 1000)]
            )
    relay = OutboxRelay(database, redis, schema="analytics", service=PRODUCER, batch_size=500)
    started = time.perf_counter()
    sent = await relay.drain()
    elapsed = time.perf_counter() - started
    assert sent == count and await redis.xlen(STREAM) == count
    await database.close()
    return count / elapsed


def _latency_consumer(runtime_url: str, redis_url: str, expected: int, ready: Any, results: Any) -> None:
    """Runs in its own process: handles events and reports commit-to-handled latencies (ms)."""

    async def run() -> None:
        latencies: list[float] = []
        done = asyncio.Event()

        async def measure(_conn: Connection, event: Event) -> None:
            latencies.append((time.time() - event.data["committed_at"]) * 1000)
            if len(latencies) >= expected:
                done.set()

        database = await Database(runtime_url, pool_size=4).open()
        redis = create_redis(redis_url)
        consumer = EventConsumer(
            redis,
            database,
            service=GROUP,
            schema="notifications",
            handlers={EVENT_TYPE: measure},
            batch_size=200,
        )
        await consumer.prepare()
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        ready.set()
        await asyncio.wait_for(done.wait(), timeout=LATENCY_SECONDS * 6)
        stop.set()
        await task
        results.put(latencies)
        await redis.aclose()
        await database.close()

    asyncio.run(run())


async def _paced(total: int, rate: float, send) -> float:  # type: ignore[no-untyped-def]
    """Call `send(i)` `total` times at `rate` per second; returns the rate achieved."""
    started = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return total / (time.perf_counter() - started)


async def _start_latency_consumer(stack: BenchStack, redis: Redis, total: int):  # type: ignore[no-untyped-def]
    await redis.delete(STREAM)
    owner = await Database(stack.owner_url, pool_size=1).open()
    async with owner.transaction() as conn:
        await conn.execute("truncate notifications.inbox, analytics.outbox")
    await owner.close()
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    args = (stack.runtime_url(GROUP), stack.redis_url, total, ready, results)
    worker = ctx.Process(target=_latency_consumer, args=args)
    worker.start()
    if not await asyncio.to_thread(ready.wait, 60):
        raise RuntimeError("the latency consumer process did not start")
    return worker, results


def _summary(achieved: float, latencies: list[float]) -> dict[str, float]:
    return {
        "rate": achieved,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


async def xadd_to_handled_latency(stack: BenchStack, redis: Redis) -> dict[str, float]:
    """The bus alone: XADD at a steady rate here, handled (inbox transaction, ack) in another process."""
    total = LATENCY_RATE * LATENCY_SECONDS
    worker, results = await _start_latency_consumer(stack, redis, total)

    async def publish(seq: int) -> None:
        event = OUTBOX.build(EVENT_TYPE, {"seq": seq, "committed_at": time.time()}, TENANT)
        await redis.xadd(STREAM, {"event": event.to_json()})

    await asyncio.gather(*(redis.ping() for _ in range(30)))  # open the producer's pool first
    achieved = await _paced(total, LATENCY_RATE, publish)
    latencies = await asyncio.to_thread(results.get, True, 120)
    worker.join(30)
    return _summary(achieved, latencies)


async def commit_to_handled_latency(stack: BenchStack, redis: Redis) -> dict[str, float]:
    """The whole path: outbox commit (10 events per transaction), relay woken by NOTIFY, consumer."""
    total = LATENCY_RATE * LATENCY_SECONDS
    worker, results = await _start_latency_consumer(stack, redis, total + 80)
    database = await Database(stack.runtime_url(PRODUCER), pool_size=8).open()
    relay = OutboxRelay(database, redis, schema="analytics", service=PRODUCER)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))

    async def commit_ten(_: int) -> None:
        async with database.transaction(TENANT) as conn:
            now = time.time()
            events = [OUTBOX.build(EVENT_TYPE, {"committed_at": now}, TENANT) for _ in range(10)]
            await OUTBOX.add_many(conn, events)

    await asyncio.gather(*(redis.ping() for _ in range(30)))
    async with asyncio.TaskGroup() as warm:  # open the producer's database pool first
        for _ in range(8):
            warm.create_task(commit_ten(-1))
    achieved = 10 * await _paced(total // 10, LATENCY_RATE / 10, commit_ten)
    latencies = await asyncio.to_thread(results.get, True, 120)
    worker.join(30)
    stop.set()
    await relay_task
    await database.close()
    return _summary(achieved, latencies)


async def main() -> dict[str, Any]:
    async with bench_stack() as stack:
        redis = create_redis(stack.redis_url)
        bare = await bare_redis_loop(redis, THROUGHPUT_EVENTS)
        consumer = await consumer_throughput(stack, redis, THROUGHPUT_EVENTS)
        relay = await relay_throughput(stack, redis, RELAY_EVENTS)
        bus_latency = await xadd_to_handled_latency(stack, redis)
        path_latency = await commit_to_handled_latency(stack, redis)
        await redis.aclose()
    return {
        "bare_redis_events_per_s": round(bare),
        "consumer_events_per_s": round(consumer),
        "consumer_to_bare_ratio": round(consumer / bare, 2),
        "relay_events_per_s": round(relay),
        "xadd_to_handled": {k: round(v, 2) for k, v in bus_latency.items()},
        "commit_to_handled": {k: round(v, 2) for k, v in path_latency.items()},
    }


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    write_results("event_bus", asyncio.run(main()))
