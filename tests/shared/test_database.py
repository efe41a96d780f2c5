"""Tenancy and schema isolation in real PostgreSQL, as the migrate step builds them (DESIGN §3)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import create_engine, create_session_factory, tenant_transaction
from shared.fleet import WITH_DATABASE
from shared.migrations import head_revision, migrate
from tests.support.evtest import EVTEST
from tests.support.stack import Stack

TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
TENANT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


async def test_every_tenant_table_has_forced_rls_and_a_policy(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    """
                    select n.nspname as schema, c.relname as table, c.relrowsecurity as enabled,
                           c.relforcerowsecurity as forced,
                           (select count(*) from pg_policies p
                             where p.schemaname = n.nspname and p.tablename = c.relname) as policies
                    from pg_class c
                    join pg_namespace n on n.oid = c.relnamespace
                    join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
                    where c.relkind in ('r', 'p')
                      and n.nspname not in ('pg_catalog', 'information_schema')
                    """
                )
            )
        ).all()
    assert rows, "expected at least the evtest.effects table"
    offenders = [f"{r.schema}.{r.table}" for r in rows if not (r.enabled and r.forced and r.policies)]
    assert offenders == []


@pytest.fixture
async def tenant_rows(evtest_engine: AsyncEngine) -> AsyncEngine:
    sessions = create_session_factory(evtest_engine)
    for tenant, note in ((TENANT_A, "a-secret"), (TENANT_B, "b-secret")):
        async with tenant_transaction(sessions, tenant) as session:
            await session.execute(
                text(
                    "insert into evtest.effects (tenant_id, event_id, consumer, note) "
                    "values (:t, :e, 'test', :n)"
                ),
                {"t": tenant, "e": uuid.uuid4(), "n": note},
            )
    return evtest_engine


async def test_a_tenant_sees_only_its_rows(tenant_rows: AsyncEngine) -> None:
    async with tenant_transaction(create_session_factory(tenant_rows), TENANT_A) as session:
        notes = (await session.execute(text("select note from evtest.effects"))).scalars().all()
    assert notes == ["a-secret"]


async def test_a_tenant_cannot_update_or_delete_another_tenants_rows(tenant_rows: AsyncEngine) -> None:
    sessions = create_session_factory(tenant_rows)
    async with tenant_transaction(sessions, TENANT_A) as session:
        updated = await session.execute(
            text("update evtest.effects set note = 'pwned' where note = 'b-secret'")
        )
        deleted = await session.execute(text("delete from evtest.effects where note = 'b-secret'"))
        assert updated.rowcount == 0 and deleted.rowcount == 0
    async with tenant_transaction(sessions, TENANT_B) as session:
        notes = (await session.execute(text("select note from evtest.effects"))).scalars().all()
    assert notes == ["b-secret"]


async def test_a_tenant_cannot_write_a_row_for_another_tenant(tenant_rows: AsyncEngine) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(create_session_factory(tenant_rows), TENANT_A) as session:
            await session.execute(
                text("insert into evtest.effects (tenant_id, event_id, consumer) values (:t, :e, 'x')"),
                {"t": TENANT_B, "e": uuid.uuid4()},
            )


async def test_without_a_tenant_a_query_sees_nothing(tenant_rows: AsyncEngine) -> None:
    async with tenant_transaction(create_session_factory(tenant_rows), None) as session:
        assert (await session.execute(text("select count(*) from evtest.effects"))).scalar() == 0


async def test_tenant_setting_ends_with_its_transaction(tenant_rows: AsyncEngine) -> None:
    sessions = create_session_factory(tenant_rows)
    async with sessions() as session:
        async with session.begin():
            await session.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(TENANT_A)})
            assert (await session.execute(text("select count(*) from evtest.effects"))).scalar() == 1
        async with session.begin():
            assert (await session.execute(text("select count(*) from evtest.effects"))).scalar() == 0


@pytest.mark.parametrize("service", [s for s in WITH_DATABASE], ids=lambda s: s.name)
async def test_each_runtime_role_is_denied_every_other_schema(stack: Stack, service) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(stack.runtime_url(service.name), pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text(f"select count(*) from {service.schema}.outbox")) is not None
        for other in WITH_DATABASE:
            if other is service:
                continue
            async with engine.connect() as conn:
                with pytest.raises(DBAPIError, match="permission denied for schema"):
                    await conn.execute(text(f"select * from {other.schema}.outbox"))
    finally:
        await engine.dispose()


async def test_runtime_roles_own_nothing_and_cannot_bypass_rls(owner_engine: AsyncEngine) -> None:
    roles = [s.role for s in (*WITH_DATABASE, EVTEST)]
    async with owner_engine.connect() as conn:
        flags = (
            await conn.execute(
                text("select rolname, rolsuper, rolbypassrls from pg_roles where rolname = any(:r)"),
                {"r": roles},
            )
        ).all()
        owned = await conn.scalar(
            text(
                "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = any(:r)"
            ),
            {"r": roles},
        )
    assert sorted(f.rolname for f in flags) == sorted(roles)
    assert not any(f.rolsuper or f.rolbypassrls for f in flags)
    assert owned == 0


async def test_migrate_is_idempotent_and_each_schema_has_its_own_version_table(
    stack: Stack, owner_engine: AsyncEngine
) -> None:
    await migrate(stack.owner_url, stack.passwords, services=(*WITH_DATABASE, EVTEST))
    async with owner_engine.connect() as conn:
        for service in WITH_DATABASE:
            version = await conn.scalar(text(f"select version_num from {service.schema}.alembic_version"))
            assert version == head_revision(service)
        assert await conn.scalar(text("select count(*) from pg_extension where extname = 'vector'")) == 1
