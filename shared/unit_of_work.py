"""Unit of work: one tenant-scoped transaction with the service's repository and its outbox.

A use case writes `async with self.uow(tenant_id) as work:` and gets the repository bound to that
transaction (`work.repo`) and `work.emit(payload)`, which writes the event to the outbox in the
same transaction: the state change and its event commit or roll back together (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from shared.database import Connection, Database, set_tenant
from shared.events.envelope import Event, EventData
from shared.events.outbox import Outbox

RepoT = TypeVar("RepoT")
T = TypeVar("T")


@dataclass
class Work(Generic[RepoT]):
    conn: Connection
    repo: RepoT
    outbox: Outbox
    tenant_id: UUID | None

    async def emit(self, payload: EventData, tenant_id: UUID | None = None) -> Event:
        return await self.outbox.add(self.conn, payload, tenant_id or self.tenant_id)

    async def read_as(self, role: str, query: Callable[[], Awaitable[T]]) -> T:
        """Run one read as `role` (SET LOCAL ROLE), then go on as the service. How background work
        finds due rows across tenants: through that role's own read-only policy
        (`shared.migration_ops.create_background_reader`), then each row in its tenant's scope."""
        await self.conn.execute(f"set local role {role}")
        found = await query()  # a failure aborts the transaction, and the role with it
        await self.conn.execute("reset role")
        return found

    async def scope_to(self, tenant_id: UUID | None) -> None:
        """Move the rest of this transaction to another tenant (event handlers that learn it late)."""
        await set_tenant(self.conn, tenant_id)
        self.tenant_id = tenant_id


class UnitOfWork(Generic[RepoT]):
    def __init__(self, database: Database, outbox: Outbox, repository: Callable[[Connection], RepoT]) -> None:
        self.database = database
        self.outbox = outbox
        self.repository = repository

    @asynccontextmanager
    async def __call__(self, tenant_id: UUID | None) -> AsyncIterator[Work[RepoT]]:
        """A transaction scoped to `tenant_id` (None: no tenant, row level security shows nothing)."""
        async with self.database.transaction(tenant_id) as conn:
            yield Work(conn, self.repository(conn), self.outbox, tenant_id)

    def bind(self, conn: Connection, tenant_id: UUID | None) -> Work[RepoT]:
        """The same, inside a transaction someone else opened (an event handler's)."""
        return Work(conn, self.repository(conn), self.outbox, tenant_id)
