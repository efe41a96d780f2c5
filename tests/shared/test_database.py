"""Tenancy and schema isolation in real PostgreSQL, as the migrate step builds them (DESIGN §3)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import Connection, Database
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
                           c.relforcerowsecurity as forced, c.relispartition as partition,
                           (select count(*) from pg_policies p
                             where p.schemaname = n.nspname and p.tablename = c.relname) as policies,
                           (select count(*) from aclexplode(c.relacl) acl
                             where acl.grantee <> c.relowner) as grants
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
    unguarded = [
        f"{r.schema}.{r.table}"
        for r in rows
        if not r.partition and not (r.enabled and r.forced and r.policies)
    ]
    assert unguarded == []
    # A partition is read through its parent's policies; nobody but the owner may touch it directly.
    granted_partitions = [f"{r.schema}.{r.table}" for r in rows if r.partition and r.grants]
    assert granted_partitions == []


@pytest.fixture
async def tenant_rows(evtest_db: Database) -> Database:
    for tenant, note in ((TENANT_A, "a-secret"), (TENANT_B, "b-secret")):
        async with evtest_db.transaction(tenant) as conn:
            await conn.execute(
                "insert into evtest.effects (tenant_id, event_id, consumer, note) values ($1, $2, 'test', $3)",
                tenant,
                uuid.uuid4(),
                note,
            )
    return evtest_db


async def _notes(conn: Connection) -> list[str]:
    return [row["note"] for row in await conn.fetch("select note from evtest.effects")]


async def test_a_tenant_sees_only_its_rows(tenant_rows: Database) -> None:
    async with tenant_rows.transaction(TENANT_A) as conn:
        assert await _notes(conn) == ["a-secret"]


async def test_a_tenant_cannot_update_or_delete_another_tenants_rows(tenant_rows: Database) -> None:
    async with tenant_rows.transaction(TENANT_A) as conn:
        updated = await conn.execute("update evtest.effects set note = 'pwned' where note = 'b-secret'")
        deleted = await conn.execute("delete from evtest.effects where note = 'b-secret'")
        assert (updated, deleted) == ("UPDATE 0", "DELETE 0")
    async with tenant_rows.transaction(TENANT_B) as conn:
        assert await _notes(conn) == ["b-secret"]


async def test_a_tenant_cannot_write_a_row_for_another_tenant(tenant_rows: Database) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_rows.transaction(TENANT_A) as conn:
            await conn.execute(
                "insert into evtest.effects (tenant_id, event_id, consumer) values ($1, $2, 'x')",
                TENANT_B,
                uuid.uuid4(),
            )


async def test_without_a_tenant_a_query_sees_nothing(tenant_rows: Database) -> None:
    async with tenant_rows.transaction(None) as conn:
        assert await conn.fetchval("select count(*) from evtest.effects") == 0


async def test_tenant_setting_ends_with_its_transaction(tenant_rows: Database) -> None:
    """The pooled connection carries no tenant into the next transaction (one connection here)."""
    single = await Database(tenant_rows.url, pool_size=1).open()
    try:
        async with single.transaction(TENANT_A) as conn:
            first = conn.get_server_pid()
            assert await conn.fetchval("select count(*) from evtest.effects") == 1
        async with single.transaction(None) as conn:
            assert conn.get_server_pid() == first
            assert await conn.fetchval("select count(*) from evtest.effects") == 0
            assert await conn.fetchval("select current_setting('app.tenant_id', true)") in ("", None)
    finally:
        await single.close()


async def test_a_failing_block_rolls_back_and_the_connection_is_reusable(tenant_rows: Database) -> None:
    with pytest.raises(RuntimeError):
        async with tenant_rows.transaction(TENANT_A) as conn:
            await conn.execute("delete from evtest.effects")
            raise RuntimeError("a rule failed after the write")
    async with tenant_rows.transaction(TENANT_A) as conn:
        assert await _notes(conn) == ["a-secret"]


async def test_a_connection_that_died_in_the_pool_is_replaced_not_reported(
    tenant_rows: Database, owner_engine: AsyncEngine
) -> None:
    """No ping per checkout: a connection the server dropped while it was pooled fails on its
    first statement, before anything happened, and the checkout is retried on a fresh one."""
    single = await Database(tenant_rows.url, pool_size=1).open()
    try:
        async with single.transaction(TENANT_A) as conn:
            pid = conn.get_server_pid()
        async with owner_engine.begin() as owner:
            assert await owner.scalar(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        async with single.transaction(TENANT_A) as conn:
            assert conn.get_server_pid() != pid
            assert await _notes(conn) == ["a-secret"]
    finally:
        await single.close()


@pytest.mark.parametrize("service", [s for s in WITH_DATABASE], ids=lambda s: s.name)
async def test_each_runtime_role_is_denied_every_other_schema(stack: Stack, service) -> None:  # type: ignore[no-untyped-def]
    database = await Database(stack.runtime_url(service.name), pool_size=1).open()
    try:
        async with database.transaction() as conn:
            assert await conn.fetchval(f"select count(*) from {service.schema}.outbox") is not None
        for other in WITH_DATABASE:
            if other is service:
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema"):
                async with database.transaction() as conn:
                    await conn.execute(f"select * from {other.schema}.outbox")
    finally:
        await database.close()


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
