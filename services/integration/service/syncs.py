"""Syncs (flow 2): pull a connection's daily metrics and hand them to analytics.

A sync is a row first (queued by a user or by the schedule), then a leased job: a runner claims
it, pulls its window page by page, stores each page with the checkpoint in one transaction, and
ends by emitting `integration.sync_completed` (rows inline when few, else a paged `rows_url`).
A runner that dies leaves the lease to lapse; the next one resumes after the checkpoint. Provider
outages and rate limits requeue the sync with backoff, up to SYNC_MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.integration.clients.base import ProviderError
from services.integration.domain import windows
from services.integration.domain.catalog import PROVIDERS
from services.integration.events import SyncCompleted, SyncFailed
from services.integration.models import Connection, Sync
from services.integration.service.common import BACKGROUND_ROLE, IntegrationUnitOfWork, connection_or_404
from services.integration.service.grants import Grants, NeedsReauth, Providers
from shared import errors
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("integration.syncs")
CLAIM_BATCH = 4
RUNNER = f"{socket.gethostname()}:{os.getpid()}"[:100]


@dataclass(frozen=True)
class SyncPolicy:
    lease_seconds: float
    initial_days: int
    page_days: int
    inline_rows: int
    max_attempts: int


def rows_url(sync_id: uuid.UUID, page: int = 1) -> str:
    return f"/api/v1/integrations/syncs/{sync_id}/rows?page={page}"


class Syncs:
    def __init__(
        self, uow: IntegrationUnitOfWork, grants: Grants, providers: Providers, policy: SyncPolicy
    ) -> None:
        self.uow = uow
        self.grants = grants
        self.providers = providers
        self.policy = policy
        self._outage = Outage(logger, "sync runner: database")

    # --- asking ---------------------------------------------------------------------------------

    async def request(
        self,
        tenant_id: uuid.UUID,
        connection_id: uuid.UUID,
        actor: str,
        first: date | None,
        last: date | None,
    ) -> Sync:
        """A manual sync: the asked days, or the incremental window. One open sync per connection."""
        async with self.uow(tenant_id) as work:
            connection = await connection_or_404(work, connection_id)
            if not PROVIDERS[connection.provider].syncs:
                raise errors.InvalidInput(f"{connection.provider} connections have no metrics to sync")
            if connection.status != "active":
                raise errors.Conflict(f"the connection is {connection.status}", code="connection-not-active")
            window = self._window(connection, first, last)
            sync = await work.repo.add_sync_unless_open(_new_sync(connection, "manual", window, actor))
            if sync is None:
                open_sync = await work.repo.open_sync(connection.id)
                raise errors.Conflict(
                    "this connection is already syncing",
                    code="sync-in-progress",
                    sync_id=str(open_sync.id if open_sync else ""),
                )
            return sync

    def _window(self, connection: Connection, first: date | None, last: date | None) -> windows.Window:
        today = utcnow().date()
        if first is None and last is None:
            trailing = PROVIDERS[connection.provider].trailing_days
            return windows.incremental(connection.synced_through, today, trailing, self.policy.initial_days)
        try:
            return windows.requested(first or last or today, last or today - timedelta(days=1), today)
        except windows.InvalidWindow as error:
            raise errors.InvalidInput(str(error), code="invalid-window") from None

    async def get(self, tenant_id: uuid.UUID, sync_id: uuid.UUID) -> Sync:
        async with self.uow(tenant_id) as work:
            sync = await work.repo.sync(sync_id)
        if sync is None:
            raise errors.NotFound("no such sync")
        return sync

    async def list(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, limit: int, after: tuple[Any, uuid.UUID] | None
    ) -> list[Sync]:
        async with self.uow(tenant_id) as work:
            await connection_or_404(work, connection_id)
            return await work.repo.syncs(connection_id, limit, after)

    async def rows_page(self, tenant_id: uuid.UUID, sync_id: uuid.UUID, page: int) -> bytes:
        """One stored page as a JSON document, its rows spliced in as stored (no re-encoding)."""
        async with self.uow(tenant_id) as work:
            sync = await work.repo.sync(sync_id)
            if sync is None:
                raise errors.NotFound("no such sync")
            rows = await work.repo.rows_page(sync_id, page) if page <= sync.pages else None
        if rows is None:
            raise errors.NotFound("no such page")
        following = f'"{rows_url(sync_id, page + 1)}"' if page < sync.pages else "null"
        return f'{{"sync_id":"{sync_id}","page":{page},"pages":{sync.pages},"next":{following},"rows":{rows}}}'.encode()

    # --- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.tick, self._outage, is_infrastructure_error)

    async def tick(self) -> int:
        """Queue the scheduled syncs that are due, then run the due ones this replica claims."""
        await self.schedule_due()
        async with self.uow(None) as work:
            due = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.due_syncs(CLAIM_BATCH))
        results = await asyncio.gather(*(self.run_sync(t, s) for t, s in due), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.error("sync run failed: %s", type(result).__name__, exc_info=result)
        return len(due)

    async def schedule_due(self) -> None:
        async with self.uow(None) as work:
            due = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.due_connections(50))
        for tenant_id, connection_id in due:
            async with self.uow(tenant_id) as work:
                connection = await work.repo.connection(connection_id, for_update=True)
                now = utcnow()
                if connection is None or connection.next_sync_at is None or connection.next_sync_at > now:
                    continue  # another replica took it
                minutes = connection.sync_interval_minutes
                await work.repo.update(
                    connection, next_sync_at=now + timedelta(minutes=minutes) if minutes else None
                )
                window = self._window(connection, None, None)
                await work.repo.add_sync_unless_open(_new_sync(connection, "scheduled", window, "schedule"))

    async def run_sync(self, tenant_id: uuid.UUID, sync_id: uuid.UUID) -> None:
        claimed = await self._claim(tenant_id, sync_id)
        if claimed is None:
            return
        sync, connection = claimed
        try:
            sync = await self._pull(sync, connection)
        except ProviderError as error:
            await self._failed(sync, connection, error, retry=error.kind in ("rate_limited", "unavailable"))
            return
        except NeedsReauth as error:
            await self._failed(sync, connection, error, retry=False, needs_reauth=True)
            return
        await self._completed(sync, connection)

    async def _claim(self, tenant_id: uuid.UUID, sync_id: uuid.UUID) -> tuple[Sync, Connection] | None:
        async with self.uow(tenant_id) as work:
            sync = await work.repo.sync(sync_id, skip_locked=True)
            now = utcnow()
            if sync is None or sync.not_before > now:
                return None
            if sync.status == "running" and sync.lease_until and sync.lease_until > now:
                return None  # alive elsewhere
            if sync.status not in ("queued", "running"):
                return None
            connection = await work.repo.connection(sync.connection_id)
            if connection is None:
                return None
            sync = await work.repo.update(
                sync,
                status="running",
                attempts=sync.attempts + 1,
                lease_until=now + timedelta(seconds=self.policy.lease_seconds),
                started_at=sync.started_at or now,
                runner=RUNNER,
            )
            return sync, connection

    async def _pull(self, sync: Sync, connection: Connection) -> Sync:
        connector = self.providers.connector(connection.provider)
        window = windows.Window(sync.window_from, sync.window_to)
        for page in windows.pages(window, sync.checkpoint, self.policy.page_days):
            rows = await self._fetch(connection, page)
            async with self.uow(sync.tenant_id) as work:
                await work.repo.add_rows_page(sync, sync.pages + 1, rows)
                sync = await work.repo.update(
                    sync,
                    checkpoint=page.last,
                    rows=sync.rows + len(rows),
                    pages=sync.pages + 1,
                    lease_until=utcnow() + timedelta(seconds=self.policy.lease_seconds),
                )
        del connector
        return sync

    async def _fetch(self, connection: Connection, page: windows.Window) -> list[dict[str, Any]]:
        """One page of rows; a token the provider refuses is refreshed once, then it is a reauth."""
        connector = self.providers.connector(connection.provider)
        for attempt in range(2):
            grant = await self.grants.grant(connection.tenant_id, connection.id)
            try:
                return await connector.fetch_daily(grant, page.first, page.last)
            except ProviderError as error:
                if error.kind != "auth" or attempt:
                    raise
                await self.grants.expire(connection.tenant_id, connection.id)
        raise AssertionError("unreachable")

    async def _completed(self, sync: Sync, connection: Connection) -> None:
        async with self.uow(sync.tenant_id) as work:
            inline = await work.repo.all_rows(sync.id) if sync.rows <= self.policy.inline_rows else None
            now = utcnow()
            sync = await work.repo.update(
                sync, status="succeeded", finished_at=now, lease_until=None, error=None
            )
            current = await work.repo.connection(connection.id, for_update=True)
            if current is not None:
                through = max(d for d in (current.synced_through, sync.window_to) if d is not None)
                await work.repo.update(current, synced_through=through, last_sync_at=now, last_error=None)
            await work.emit(
                SyncCompleted(
                    connection_id=connection.id,
                    provider=connection.provider,
                    channel=str(PROVIDERS[connection.provider].channel),
                    sync_id=sync.id,
                    window_from=sync.window_from,
                    window_to=sync.window_to,
                    row_count=sync.rows,
                    rows=inline,
                    rows_url=None if inline is not None else rows_url(sync.id),
                )
            )

    async def _failed(
        self, sync: Sync, connection: Connection, error: Exception, *, retry: bool, needs_reauth: bool = False
    ) -> None:
        kind = error.kind if isinstance(error, ProviderError) else "needs_reauth" if needs_reauth else "error"
        message = f"{kind}: {error}"[:1000]
        async with self.uow(sync.tenant_id) as work:
            current = await work.repo.sync(sync.id)
            if current is None:
                return
            if retry and current.attempts < self.policy.max_attempts:
                wait = _backoff(current.attempts, getattr(error, "retry_after", None))
                await work.repo.update(
                    current,
                    status="queued",
                    not_before=utcnow() + timedelta(seconds=wait),
                    error=message,
                    lease_until=None,
                )
                return
            await work.repo.update(
                current, status="failed", finished_at=utcnow(), error=message, lease_until=None
            )
            await work.emit(
                SyncFailed(
                    connection_id=connection.id,
                    provider=connection.provider,
                    sync_id=sync.id,
                    error=message,
                    needs_reauth=needs_reauth,
                )
            )


def _backoff(attempts: int, retry_after: float | None) -> float:
    """Full jitter, at least what the provider asked for, at most 15 minutes."""
    jitter = random.uniform(0, min(900.0, 5.0 * 2**attempts))
    return min(900.0, max(retry_after or 0.0, jitter))


def _new_sync(connection: Connection, trigger: str, window: windows.Window, actor: str) -> Sync:
    return Sync(
        id=uuid.uuid4(),
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        trigger=trigger,
        window_from=window.first,
        window_to=window.last,
        requested_by=actor,
    )
