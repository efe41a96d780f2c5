"""Async engine, sessions and the tenant scope of a transaction (DESIGN §3).

Row level security policies read `app.tenant_id`; every request or event handler runs its work in
`tenant_transaction`, which sets it with `set_config(..., true)` so it ends with the transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]

_SET_TENANT = text("select set_config('app.tenant_id', :tenant_id, true)")


def async_url(url: str) -> str:
    """`postgresql://` as written in settings, with the asyncpg driver SQLAlchemy needs."""
    parsed = make_url(str(url))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq-style URL asyncpg.connect understands (no SQLAlchemy driver suffix)."""
    parsed = make_url(str(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10, application_name: str = "bizosaas") -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Bound values (emails, hashes, payloads) stay out of error strings, hence out of logs
        # and dead letters.
        hide_parameters=True,
        # JIT off: asyncpg's type introspection query (first use of an array or enum type on each
        # new connection) takes ~150 ms with JIT on; our queries are short OLTP ones anyway.
        connect_args={"server_settings": {"application_name": application_name, "jit": "off"}},
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def set_tenant(session: AsyncSession, tenant_id: UUID | str | None) -> None:
    """Scope the rest of this transaction to one tenant; `None` clears it (the query sees no rows)."""
    await session.execute(_SET_TENANT, {"tenant_id": str(tenant_id) if tenant_id else ""})


@asynccontextmanager
async def tenant_transaction(
    sessions: SessionFactory, tenant_id: UUID | str | None
) -> AsyncIterator[AsyncSession]:
    """One transaction, committed on success, scoped to `tenant_id`."""
    async with sessions() as session, session.begin():
        if tenant_id is not None:
            await set_tenant(session, tenant_id)
        yield session
