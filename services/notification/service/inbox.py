"""The in-app inbox and its live stream.

Every inbox insert NOTIFYs `inbox_notifications` (a trigger); one LISTEN connection per process
fans the news out to the open streams of that user, which read their new rows by sequence number.
A stream resumes after `Last-Event-ID` (the sequence number of the last message it saw), so a
reconnect through the gateway loses nothing; a comment every 15 s keeps proxies from closing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.notification.models import InboxItem
from services.notification.service.common import NotificationUnitOfWork
from shared import errors

logger = logging.getLogger("notification.inbox")
HEARTBEAT_SECONDS = 15.0


def item_json(item: InboxItem) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "notification_id": str(item.notification_id),
        "category": item.category,
        "title": item.title,
        "body": item.body,
        "data": item.data,
        "read_at": item.read_at.isoformat() if item.read_at else None,
        "archived_at": item.archived_at.isoformat() if item.archived_at else None,
        "created_at": item.created_at.isoformat(),
    }


class Inbox:
    def __init__(self, uow: NotificationUnitOfWork) -> None:
        self.uow = uow

    async def page(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, state: str, limit: int, before: int | None
    ) -> tuple[list[InboxItem], int, int | None]:
        """Items newest first, the unread count, and the sequence number to page on from."""
        async with self.uow(tenant_id) as work:
            found = await work.repo.inbox(user_id, state, limit + 1, before)
            unread = await work.repo.unread_count(user_id)
        items = found[:limit]
        more = len(found) > limit and items[-1].seq is not None
        return items, unread, items[-1].seq if more else None

    async def mark(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, item_id: uuid.UUID | None, what: str
    ) -> int:
        column = {"read": "read_at", "archive": "archived_at"}[what]
        async with self.uow(tenant_id) as work:
            changed = await work.repo.mark_inbox(user_id, item_id, column)
        if item_id is not None and changed == 0:
            raise errors.NotFound("no such inbox message")
        return changed

    async def after(self, tenant_id: uuid.UUID, user_id: uuid.UUID, seq: int) -> list[InboxItem]:
        async with self.uow(tenant_id) as work:
            return await work.repo.inbox_after(user_id, seq)

    async def latest_seq(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        async with self.uow(tenant_id) as work:
            newest = await work.repo.inbox(user_id, "all", 1, None)
        return newest[0].seq or 0 if newest else 0


class InboxStreams:
    """The LISTEN side: per user, the events of the open streams waiting for news."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncpg.Connection | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Keep one listening connection; reconnect after a database outage."""
        while not stop.is_set():
            try:
                self._listener = await asyncpg.connect(self.database_url, timeout=5)
                await self._listener.add_listener("inbox_notifications", self._notified)
                self._wake_all()  # news may have come while no one listened
                while not stop.is_set() and not self._listener.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=5)
            except (OSError, asyncpg.PostgresError) as error:
                logger.warning("inbox listener: %s; retrying", type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1)
            finally:
                if self._listener is not None and not self._listener.is_closed():
                    await self._listener.close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        parts = payload.split()
        if len(parts) == 3:
            for event in self._waiters.get(uuid.UUID(parts[1]), ()):
                event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def stream(
        self, inbox: Inbox, tenant_id: uuid.UUID, user_id: uuid.UUID, last_seq: int | None
    ) -> AsyncIterator[str]:
        """Server-sent events: `id` is the sequence number, `data` the message as JSON."""
        news = asyncio.Event()
        self._waiters[user_id].add(news)
        try:
            seq = last_seq if last_seq is not None else await inbox.latest_seq(tenant_id, user_id)
            yield "retry: 2000\n\n"
            while True:
                news.clear()  # before reading: news that comes during the read wakes the next wait
                for item in await inbox.after(tenant_id, user_id, seq):
                    seq = item.seq or seq
                    yield f"id: {seq}\nevent: notification\ndata: {json.dumps(item_json(item))}\n\n"
                try:
                    await asyncio.wait_for(news.wait(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._waiters[user_id].discard(news)
            if not self._waiters[user_id]:
                del self._waiters[user_id]
