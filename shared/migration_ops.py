"""Building blocks for Alembic revisions: tenant policies and the messaging tables.

They take plain SQL strings so a revision reads like the DDL it runs. Revisions call them with
the schema explicitly; a revision is a snapshot, so change these only in backward-compatible ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from alembic import op

TENANT_PREDICATE = "tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid"


def statements(script: str) -> list[str]:
    """A script split on `;`, except inside dollar-quoted bodies (`$$ ... $$`)."""
    found, current, quoted = [], [], False
    for piece in re.split(r"(\$\$|;)", script):
        if piece == "$$":
            quoted = not quoted
        if piece == ";" and not quoted:
            found.append("".join(current))
            current = []
        else:
            current.append(piece)
    found.append("".join(current))
    return [statement.strip() for statement in found if statement.strip()]


def run_script(script: str) -> None:
    for statement in statements(script):
        op.execute(statement)


def create_tenant_tables(schema: str, script: str, tenant_tables: Iterable[str]) -> None:
    """The revision's DDL, then row level security on each table that holds tenant rows."""
    run_script(script)
    for table in tenant_tables:
        enable_tenant_isolation(schema, table)


def enable_tenant_isolation(schema: str, table: str) -> None:
    """RLS enabled and forced, one policy on `app.tenant_id` (DESIGN §3)."""
    qualified = f"{schema}.{table}"
    op.execute(f"alter table {qualified} enable row level security")
    op.execute(f"alter table {qualified} force row level security")
    op.execute(
        f"create policy tenant_isolation on {qualified} "
        f"using ({TENANT_PREDICATE}) with check ({TENANT_PREDICATE})"
    )


def create_messaging_tables(schema: str) -> None:
    """Outbox (with a NOTIFY trigger that wakes the relay at commit) and the consumer inbox."""
    op.execute(
        f"""
        create table {schema}.outbox (
            seq bigserial primary key,
            event_id uuid not null unique,
            event_type text not null,
            payload text not null,
            created_at timestamptz not null default now(),
            published_at timestamptz
        )
        """
    )
    op.execute(f"create index outbox_unpublished on {schema}.outbox (seq) where published_at is null")
    op.execute(f"create index outbox_published_at on {schema}.outbox (published_at)")
    op.execute(
        f"""
        create function {schema}.notify_outbox() returns trigger language plpgsql as $$
        begin
            perform pg_notify('outbox_{schema}', '');
            return null;
        end $$
        """
    )
    op.execute(
        f"create trigger outbox_notify after insert on {schema}.outbox "
        f"for each statement execute function {schema}.notify_outbox()"
    )
    op.execute(
        f"""
        create table {schema}.inbox (
            event_id uuid primary key,
            event_type text not null,
            handled_at timestamptz not null default now()
        )
        """
    )


def drop_messaging_tables(schema: str) -> None:
    op.execute(f"drop table if exists {schema}.inbox")
    op.execute(f"drop table if exists {schema}.outbox")
    op.execute(f"drop function if exists {schema}.notify_outbox()")


def create_background_reader(schema: str, role: str, service_role: str, policies: dict[str, str]) -> None:
    """A NOLOGIN role the service switches to (SET LOCAL ROLE) to find due background work across
    tenants: it may read, never write, exactly the rows each table's predicate lets through. A
    policy of its own role leaves the tenant predicate of every ordinary query alone (indexable)."""
    op.execute(
        f"""
        do $$ begin
            if not exists (select 1 from pg_roles where rolname = '{role}') then
                create role {role} nologin;
            end if;
        end $$
        """
    )
    op.execute(f"grant {role} to {service_role}")
    op.execute(f"grant usage on schema {schema} to {role}")
    for table, predicate in policies.items():
        op.execute(f"grant select on {schema}.{table} to {role}")
        op.execute(
            f"create policy background_due on {schema}.{table} for select to {role} using ({predicate})"
        )
