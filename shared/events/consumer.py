"""The event consumer: one group per service, acked only after the handler's transaction commits.

Per batch it tries one transaction for all messages (fast path); if any handler raises, the batch
is rolled back and each message is retried alone so one bad event cannot hold back the others.
The inbox table (keyed by event id, written in the same transaction as the effect) makes
redelivery harmless. Messages idle longer than the visibility timeout are reclaimed with
XAUTOCLAIM; after `max_deliveries` failed handler runs a message goes to `events.dead` with the error
(database or Redis outages are waited out and not counted against the event).
Malformed messages (not JSON, not an envelope, unknown type, unsupported version) go there at once,
and so does an event from the wrong producer: a type is trusted only with the producer the catalog
names, read from that producer's own stream (each service's Redis user may append only to its own).

Three Redis clients, which may be one: `redis` reads and acks, `publisher` appends dead letters,
`state` keeps the failure counts under the service's own key prefix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared import errors
from shared.context import causation_id_var, request_id_var, tenant_id_var
from shared.database import Connection, Database, set_tenant
from shared.events.catalog import CATALOG, DEAD_LETTER_STREAM, producer_of, stream_of
from shared.events.delivery import Delivery, Malformed, is_infrastructure_error, parse_event
from shared.events.envelope import Event
from shared.events.metrics import (
    EVENTS_DEAD,
    EVENTS_DUPLICATE,
    EVENTS_FAILED,
    EVENTS_HANDLED,
    EVENTS_LOST,
    EVENTS_PENDING,
)
from shared.observability import safe_error_text
from shared.outage import Outage, sleep_unless_stopped

logger = logging.getLogger("shared.events.consumer")

Handler = Callable[[Connection, Event], Awaitable[None]]
RedisHandler = Callable[[None, Event], Awaitable[None]]

DEAD_STREAM_MAXLEN = 100_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class EventConsumer:
    def __init__(
        self,
        redis: Redis,
        database: Database | None,
        *,
        service: str,
        schema: str | None,
        handlers: dict[str, Handler] | dict[str, RedisHandler],
        publisher: Redis | None = None,
        state: Redis | None = None,
        consumer_name: str | None = None,
        batch_size: int = 200,
        visibility_timeout_ms: int = 30_000,
        max_deliveries: int = 5,
    ) -> None:
        unknown = set(handlers) - set(CATALOG)
        if unknown:
            raise ValueError(f"handlers for types not in the catalog: {sorted(unknown)}")
        self.redis = redis
        self.publisher = publisher or redis
        self.state = state or redis
        self.database = database
        self.service = service
        self.group = service
        self.handlers = handlers
        self.name = consumer_name or f"{service}-{socket.gethostname()}-{os.getpid()}"
        self.batch_size = batch_size
        self.visibility_timeout_ms = visibility_timeout_ms
        self.max_deliveries = max_deliveries
        self.streams = sorted({stream_of(producer_of(t)) for t in handlers})
        self.block_ms = max(10, min(1000, visibility_timeout_ms // 2))
        self._errors_key = f"{service}:events:errors"
        self._failures_key = f"{service}:events:failures"
        self.redelivery_cap = max_deliveries * 4
        self._inbox_sql = (
            f"insert into {schema}.inbox (event_id, event_type) "
            f"select * from unnest($1::uuid[], $2::text[]) on conflict do nothing returning event_id"
        )
        self._outage = Outage(logger, f"{service} consumer: Redis")

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        if not self.streams:
            return
        loop = asyncio.get_running_loop()
        reclaim_at = 0.0
        groups_ready = False
        while not stop.is_set():
            try:
                if not groups_ready:
                    await self.prepare()
                    groups_ready = True
                if loop.time() >= reclaim_at:
                    await self.reclaim()
                    reclaim_at = loop.time() + self.visibility_timeout_ms / 2000
                await self.poll_once()
                self._outage.recovered()
            except Exception as error:
                if isinstance(error, ResponseError) and "NOGROUP" in str(error):
                    groups_ready = False  # the stream or group was deleted (e.g. FLUSHDB): recreate it
                    await sleep_unless_stopped(stop, 0.05)
                    continue
                if is_infrastructure_error(error):
                    await sleep_unless_stopped(stop, self._outage.failed(error))
                    continue
                logger.exception("consumer loop error; continuing")
                await sleep_unless_stopped(stop, 0.5)

    async def prepare(self) -> None:
        """Create the consumer groups and open a database connection, so that the first event
        does not pay for connecting. `run` calls it; call it earlier to be ready sooner."""
        await self.ensure_groups()
        if self.database is not None:
            async with self.database.transaction() as conn:
                await conn.fetch(self._inbox_sql, [], [])

    async def poll_once(self, block_ms: int | None = None) -> int:
        """Read new messages once (blocking up to `block_ms`) and handle them."""
        response = await self.redis.xreadgroup(
            self.group,
            self.name,
            dict.fromkeys(self.streams, ">"),
            count=self.batch_size,
            block=self.block_ms if block_ms is None else block_ms,
        )
        handled = 0
        for stream, messages in response or []:
            deliveries = [
                Delivery(_text(stream), _text(mid), fields.get(b"event") if fields else None)
                for mid, fields in messages
            ]
            await self.process(deliveries)
            handled += len(deliveries)
        return handled

    async def reclaim(self) -> int:
        """Take over messages idle past the visibility timeout (crashed or failing consumers)."""
        total = 0
        for stream in self.streams:
            start = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.name,
                    min_idle_time=self.visibility_timeout_ms,
                    start_id=start,
                    count=self.batch_size,
                )
                start, messages = _text(reply[0]), reply[1]
                live = [(_text(mid), fields) for mid, fields in messages if mid is not None and fields]
                if live:
                    await self._process_reclaimed(stream, live)
                    total += len(live)
                if len(live) < len(messages):
                    await self._ack_vanished(stream)
                if start == "0-0":
                    break
            pending = await self.redis.xpending(stream, self.group)
            EVENTS_PENDING.labels(self.service, stream).set(pending["pending"])
        return total

    async def _ack_vanished(self, stream: str) -> None:
        """Pending entries trimmed from the stream before they were handled (the relay's MAXLEN
        overtook a consumer that was down): Redis 6.2 keeps them pending and XAUTOCLAIM returns
        them empty, so they would be claimed forever. Nothing is left to handle: ack, count, log."""
        pending = await self.redis.xpending_range(
            stream, self.group, min="-", max="+", count=self.batch_size, consumername=self.name
        )
        gone = []
        for entry in pending:
            message_id = _text(entry["message_id"])
            if not await self.redis.xrange(stream, min=message_id, max=message_id):
                gone.append(message_id)
        if gone:
            await self.redis.xack(stream, self.group, *gone)
            EVENTS_LOST.labels(self.service, stream).inc(len(gone))
            logger.error(
                "%d pending messages of %s were trimmed before being handled: %s",
                len(gone),
                stream,
                gone[:10],
            )

    async def _process_reclaimed(self, stream: str, messages: list[tuple[str, dict]]) -> None:
        detail = await self.redis.xpending_range(
            stream,
            self.group,
            min=messages[0][0],
            max=messages[-1][0],
            count=len(messages) * 2,
            consumername=self.name,
        )
        counts = {_text(d["message_id"]): int(d["times_delivered"]) for d in detail}
        fresh: list[Delivery] = []
        for mid, fields in messages:
            delivery = Delivery(stream, mid, fields.get(b"event"), counts.get(mid, 2))
            if delivery.deliveries > self.redelivery_cap:
                error = await self.state.hget(self._errors_key, delivery.key)
                reason = _text(error) if error else "consumer crashed or timed out on every delivery"
                await self._dead(
                    delivery, "redelivery_cap", f"delivered {delivery.deliveries} times: {reason}"
                )
            else:
                fresh.append(delivery)
        await self.process(fresh)

    async def process(self, deliveries: Iterable[Delivery]) -> None:
        to_handle: list[Delivery] = []
        to_ack: list[Delivery] = []
        for delivery in deliveries:
            try:
                delivery.event = parse_event(delivery.raw, delivery.stream)
            except Malformed as error:
                await self._dead(delivery, error.reason, str(error))
                continue
            (to_handle if delivery.event.type in self.handlers else to_ack).append(delivery)
        if to_ack:
            await self._ack(to_ack)
        if to_handle:
            await self._handle_batch(to_handle)

    async def _handle_batch(self, batch: list[Delivery]) -> None:
        if self.database is None:
            await self._handle_without_database(batch)
            return
        try:
            async with self.database.transaction() as conn:
                await self._apply(conn, batch)
        except Exception as error:
            if is_infrastructure_error(error):
                raise
            if len(batch) == 1:
                await self._failed(batch[0], error)
                return
            for delivery in batch:
                await self._handle_batch([delivery])
            return
        await self._ack(batch)

    async def _handle_without_database(self, batch: list[Delivery]) -> None:
        """A service with no database (the gateway): handlers must be idempotent by themselves,
        e.g. a Redis SET; each message is acked once its handler returned."""
        for delivery in batch:
            assert delivery.event is not None
            try:
                await self._run_handler(None, delivery.event)
            except Exception as error:
                if is_infrastructure_error(error):
                    raise
                await self._failed(delivery, error)
            else:
                delivery.handled = True
                await self._ack([delivery])

    async def _apply(self, conn: Connection, batch: list[Delivery]) -> None:
        events = [d.event for d in batch if d.event is not None]
        rows = await conn.fetch(self._inbox_sql, [e.id for e in events], [e.type for e in events])
        fresh = {row["event_id"] for row in rows}
        EVENTS_DUPLICATE.labels(self.service).inc(len(events) - len(fresh))
        current_tenant: UUID | str | None = "unset"
        for delivery in batch:
            event = delivery.event
            if event is None or event.id not in fresh:
                continue
            fresh.discard(event.id)
            if event.tenant_id != current_tenant:
                await set_tenant(conn, event.tenant_id)
                current_tenant = event.tenant_id
            await self._run_handler(conn, event)
            delivery.handled = True

    async def _run_handler(self, conn: Connection | None, event: Event) -> None:
        tokens = (
            request_id_var.set(event.correlation_id),
            causation_id_var.set(str(event.id)),
            tenant_id_var.set(str(event.tenant_id) if event.tenant_id else None),
        )
        try:
            await self.handlers[event.type](conn, event)
        finally:
            tenant_id_var.reset(tokens[2])
            causation_id_var.reset(tokens[1])
            request_id_var.reset(tokens[0])

    async def _ack(self, deliveries: list[Delivery]) -> None:
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.message_id)
        pipe = self.redis.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.group, *ids)
        await pipe.execute()
        retried = [d.key for d in deliveries if d.deliveries > 1]
        if retried:
            await self._forget(*retried)
        for delivery in deliveries:
            if delivery.handled and delivery.event is not None:
                EVENTS_HANDLED.labels(self.service, delivery.event.type).inc()

    async def _failed(self, delivery: Delivery, error: Exception) -> None:
        event_type = delivery.event.type if delivery.event else "?"
        EVENTS_FAILED.labels(self.service, event_type).inc()
        message = safe_error_text(error)[:2000]
        pipe = self.state.pipeline(transaction=True)
        pipe.hincrby(self._failures_key, delivery.key, 1)
        pipe.hset(self._errors_key, delivery.key, message)
        failures = int((await pipe.execute())[0])
        if isinstance(error, errors.InvalidInput):  # the event itself is refused: no try can differ
            await self._dead(delivery, "rejected", message, failures)
            return
        logger.warning(
            "handler for %s failed (%d of %d tries): %s", event_type, failures, self.max_deliveries, message
        )
        if failures >= self.max_deliveries:
            await self._dead(delivery, "handler_failed", message, failures)

    async def _dead(self, delivery: Delivery, reason: str, error: str, failures: int = 0) -> None:
        logger.error("dead-lettering %s from %s: %s: %s", delivery.message_id, delivery.stream, reason, error)
        entry = {
            "stream": delivery.stream,
            "group": self.group,
            "message_id": delivery.message_id,
            "event": delivery.raw if delivery.raw is not None else b"",
            "reason": reason,
            "error": error[:2000],
            "deliveries": str(max(delivery.deliveries, failures)),
            "dead_at": datetime.now(UTC).isoformat(),
        }
        # Appended before the ack, by the user that may append: a crash in between dead-letters
        # the message twice at worst, never loses it.
        await self.publisher.xadd(DEAD_LETTER_STREAM, entry, maxlen=DEAD_STREAM_MAXLEN, approximate=True)
        await self.redis.xack(delivery.stream, self.group, delivery.message_id)
        await self._forget(delivery.key)
        EVENTS_DEAD.labels(self.service, reason).inc()

    async def _forget(self, *keys: str) -> None:
        pipe = self.state.pipeline(transaction=False)
        pipe.hdel(self._errors_key, *keys)
        pipe.hdel(self._failures_key, *keys)
        await pipe.execute()
