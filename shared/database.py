"""The database of a service: an asyncpg pool as its runtime role, and tenant transactions.

Row level security policies read `app.tenant_id` (DESIGN §3); every request or event handler runs
its work in `Database.transaction(tenant_id)`, which sets it transaction-locally, so it ends with
the transaction and a pooled connection never carries a tenant into the next one.

Why asyncpg and plain SQL rather than the ORM: this is the shared request path of every service,
and measured here it costs about half the time per transaction (README "Speed"). The same
measurement shaped three more choices:
- `BEGIN` and `set_config` travel in one round trip (a simple-query batch; the tenant is a
  validated UUID, so formatting it in is safe);
- no ping on checkout: a connection that died while pooled fails on that first statement, before
  anything happened, so the checkout is retried once on a fresh connection instead;
- no reset query on release: nothing session-level is ever set (locks and settings are
  transaction-local), and the transaction is always committed or rolled back before release.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
from sqlalchemy.engine import make_url

logger = logging.getLogger("shared.database")

Connection: TypeAlias = asyncpg.Connection  # type: ignore[type-arg]
"""A connection inside a transaction, as repositories and event handlers receive it."""

# A connection that died while pooled: safe to retry, nothing has been sent on it yet. When the
# server's goodbye arrived just before our first statement, asyncpg reports it as an internal
# client error ("another operation is in progress") rather than as a closed connection.
_DEAD_CONNECTION = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
)


def plain_url(url: str) -> str:
    """The libpq-style URL asyncpg understands (no SQLAlchemy driver suffix)."""
    return make_url(str(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def _begin(tenant_id: UUID | None) -> str:
    if tenant_id is None:
        return "BEGIN"
    return f"BEGIN; SELECT set_config('app.tenant_id', '{UUID(str(tenant_id))}', true)"


async def set_tenant(conn: Connection, tenant_id: UUID | str | None) -> None:
    """Move the rest of this transaction to another tenant; None clears it (nothing is visible)."""
    await conn.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id) if tenant_id else "")


async def _init_connection(conn: Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(_: Connection) -> None:
    return None


class Database:
    """One pool per process. Connections are made on demand (a database that is down at start
    shows in `/ready`, it does not stop the service)."""

    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "bizosaas") -> None:
        self.url = plain_url(url)
        self.pool_size = pool_size
        self.application_name = application_name
        self._pool: asyncpg.Pool | None = None  # type: ignore[type-arg]

    async def open(self) -> Database:
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=self.pool_size,
            init=_init_connection,
            reset=_no_reset,
            max_inactive_connection_lifetime=300,
            # JIT off: type introspection on a new connection takes ~150 ms with it; our queries
            # are short OLTP statements that never gain from it.
            server_settings={"application_name": self.application_name, "jit": "off"},
            command_timeout=60,
        )
        return self

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:  # type: ignore[type-arg]
        if self._pool is None:
            raise RuntimeError("the database is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self, tenant_id: UUID | None = None) -> AsyncIterator[Connection]:
        """One transaction scoped to `tenant_id`, committed when the block ends, rolled back when
        it raises. Without a tenant, row level security shows no tenant-owned row."""
        conn = await self._begin(tenant_id)
        try:
            yield conn
        except BaseException:
            await self._finish(conn, "ROLLBACK")
            raise
        await self._finish(conn, "COMMIT", reraise=True)

    async def _finish(self, conn: Connection, statement: str, *, reraise: bool = False) -> None:
        """End the transaction and give the connection back; a connection that broke on the way
        is closed, never pooled again (asyncpg cannot reset one caught mid-operation)."""
        try:
            if not conn.is_closed():
                await conn.execute(statement)
        except _DEAD_CONNECTION:
            conn.terminate()
            if reraise:
                await self.pool.release(conn)
                raise
        await self.pool.release(conn)

    async def _begin(self, tenant_id: UUID | None, attempts: int = 2) -> Connection:
        statement = _begin(tenant_id)
        for attempt in range(attempts):
            conn = await self.pool.acquire()
            try:
                await conn.execute(statement)
                return conn
            except _DEAD_CONNECTION:
                conn.terminate()
                await self.pool.release(conn)
                if attempt == attempts - 1:
                    raise
                logger.info("a pooled connection was dead; retrying on a fresh one")
        raise AssertionError("unreachable")

    async def run(self, work: Callable[[Connection], Awaitable[Any]]) -> Any:
        """Run `work` on a pooled connection outside any transaction (health checks)."""
        async with self.pool.acquire() as conn:
            return await work(conn)
