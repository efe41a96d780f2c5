"""The outbox relay: publishes committed outbox rows to the producer's stream (DESIGN §4).

Rows are claimed with `FOR UPDATE SKIP LOCKED`, XADDed in one pipeline, then marked sent in the
same transaction. If the process dies after XADD but before commit, the rows stay unsent and are
published again: delivery is at least once, and consumers' inboxes make it effectively once.
Redis being down rolls the transaction back, so events wait in the outbox and are never dropped.
A NOTIFY trigger on the outbox wakes the relay at commit; polling is the fallback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.database import Connection, Database
from shared.events.catalog import stream_of
from shared.events.delivery import is_infrastructure_error
from shared.events.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from shared.outage import Outage, sleep_unless_stopped

logger = logging.getLogger("shared.events.relay")


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        redis: Redis,
        *,
        schema: str,
        service: str,
        batch_size: int = 500,
        stream_maxlen: int = 100_000,
        poll_interval: float = 1.0,
        retention_hours: int = 72,
    ) -> None:
        self.database = database
        self.redis = redis
        self.schema = schema
        self.service = service
        self.stream = stream_of(service)
        self.batch_size = batch_size
        self.stream_maxlen = stream_maxlen
        self.poll_interval = poll_interval
        self._claim_sql = (
            f"select seq, payload from {schema}.outbox where published_at is null "
            f"order by seq limit $1 for update skip locked"
        )
        self._mark_sql = f"update {schema}.outbox set published_at = now() where seq = any($1::bigint[])"
        self._cleanup_sql = f"delete from {schema}.outbox where published_at < now() - make_interval(hours => {retention_hours})"
        self._backlog_sql = f"select count(*) from {schema}.outbox where published_at is null"
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._outage = Outage(logger, f"{service} relay: Redis or PostgreSQL")

    async def claim(self, conn: Connection) -> Sequence[Any]:
        """Lock up to one batch of unsent rows for this transaction."""
        return await conn.fetch(self._claim_sql, self.batch_size)

    async def publish(self, rows: Sequence[Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream, {"event": row["payload"]}, maxlen=self.stream_maxlen, approximate=True)
        await pipe.execute()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were sent."""
        async with self.database.transaction() as conn:
            rows = await self.claim(conn)
            if not rows:
                return 0
            await self.publish(rows)
            await conn.execute(self._mark_sql, [row["seq"] for row in rows])
        EVENTS_PUBLISHED.labels(self.service, self.stream).inc(len(rows))
        return len(rows)

    async def drain(self) -> int:
        """Publish until the outbox is empty (used at shutdown and by tests)."""
        total = 0
        while sent := await self.publish_batch():
            total += sent
        return total

    async def run(self, stop: asyncio.Event) -> None:
        housekeeping_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                await self._ensure_listener()
                self._wake.clear()
                try:
                    sent = await self.publish_batch()
                    if loop.time() >= housekeeping_at:
                        await self._housekeeping()
                        housekeeping_at = loop.time() + 60
                except Exception as error:
                    if not is_infrastructure_error(error):
                        raise
                    await sleep_unless_stopped(stop, self._outage.failed(error))
                    continue
                self._outage.recovered()
                if sent < self.batch_size:
                    await self._wait_for_work(stop)
        finally:
            await self._close_listener()

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _housekeeping(self) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(self._cleanup_sql)
            OUTBOX_BACKLOG.labels(self.service).set(await conn.fetchval(self._backlog_sql) or 0)

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.database.url, timeout=2)
            await self._listener.add_listener(f"outbox_{self.schema}", self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            self._listener = None

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            try:
                await asyncio.wait_for(self._listener.close(), timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                self._listener.terminate()
        self._listener = None
