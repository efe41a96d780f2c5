"""Helpers for the event-bus tests around the `evtest` schema: commit, relay, consume, inspect.

Everything here drives the real library against the real servers; nothing is replaced.
"""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import Database
from shared.events.consumer import EventConsumer, Handler
from shared.events.envelope import Event
from shared.events.relay import OutboxRelay
from tests.support.evtest import EVENT_TYPE, EVTEST, OUTBOX, PRODUCER, make_event, recording_handler

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def metric(name: str, **labels: str) -> float:
    """One sample of the process-wide Prometheus registry (0 if it was never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def relay_for(
    database: Database, redis: Redis, batch_size: int = 500, poll_interval: float = 1.0
) -> OutboxRelay:
    return OutboxRelay(
        database, redis, schema="evtest", service=PRODUCER, batch_size=batch_size, poll_interval=poll_interval
    )


def consumer_for(
    database: Database,
    redis: Redis,
    handler: Handler | None = None,
    name: str = "c1",
    max_deliveries: int = 3,
    *,
    visibility_timeout_ms: int = 100,
    handlers: dict[str, Handler] | None = None,
    batch_size: int = 200,
) -> EventConsumer:
    return EventConsumer(
        redis,
        database,
        service=EVTEST.name,
        schema="evtest",
        handlers=handlers or {EVENT_TYPE: handler or recording_handler(name)},
        consumer_name=name,
        batch_size=batch_size,
        visibility_timeout_ms=visibility_timeout_ms,
        max_deliveries=max_deliveries,
    )


async def commit_events(database: Database, count: int, note: str = "") -> list[Event]:
    """`count` events written to the evtest outbox in one committed transaction."""
    events = [make_event(TENANT, f"{note}{i}") for i in range(count)]
    async with database.transaction(TENANT) as conn:
        await OUTBOX.add_many(conn, events)
    return events


async def effects(owner_engine: AsyncEngine) -> list[tuple[uuid.UUID, str]]:
    """Every handler effect as (event id, consumer), in the order the effects were written."""
    async with owner_engine.connect() as conn:
        rows = await conn.execute(text("select event_id, consumer from evtest.effects order by id"))
        return [(row.event_id, row.consumer) for row in rows]


async def unpublished(owner_engine: AsyncEngine) -> int:
    async with owner_engine.connect() as conn:
        return int(await conn.scalar(text("select count(*) from evtest.outbox where published_at is null")))


async def stream_event_ids(redis: Redis, stream: str) -> list[uuid.UUID]:
    """The event id of every message on `stream`, in stream order (duplicates kept)."""
    ids: list[uuid.UUID] = []
    start = "-"
    while True:
        entries = await redis.xrange(stream, min=start, max="+", count=1000)
        ids.extend(Event.from_json(fields[b"event"]).id for _, fields in entries)
        if len(entries) < 1000:
            return ids
        last = entries[-1][0].decode()
        start = f"({last}"


def recording(calls: list[uuid.UUID], inner: Handler | None = None) -> Handler:
    """A handler that notes each event id it runs for, then writes the usual effects row."""
    effect = inner or recording_handler("c1")

    async def handle(conn, event: Event) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.id)
        await effect(conn, event)

    return handle


async def group_caught_up(redis: Redis, stream: str, group: str = EVTEST.name) -> bool:
    """The group has read every message of `stream` and acked all of them."""
    if not await redis.exists(stream):
        return False
    info = await redis.xinfo_stream(stream)
    for found in await redis.xinfo_groups(stream):
        if found["name"] == group.encode():
            return found["pending"] == 0 and found["last-delivered-id"] == info["last-generated-id"]
    return False
