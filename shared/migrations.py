"""The one idempotent migrate step: roles, schemas, the vector extension, every schema at head.

Runs as the owner role (`DATABASE_URL`). Each service's runtime role (from its
`<SERVICE>_DATABASE_URL`) is created or its password updated, may use only its own schema and owns
nothing, so row level security applies to it and other schemas answer "permission denied".
Usage: `python -m shared.migrations [upgrade]` or `python -m shared.migrations revision <service> -m msg`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from shared.fleet import WITH_DATABASE, ServiceSpec, spec

MIGRATION_LOCK_ID = 7_270_274


def async_url(url: str) -> str:
    """`postgresql://` as written in settings, with the asyncpg driver SQLAlchemy needs."""
    return make_url(str(url)).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


ALEMBIC_ENV = Path(__file__).parent / "alembic_env"


def alembic_config(service: ServiceSpec) -> Config:
    """The shared environment with this service's revisions only."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_ENV))
    config.set_main_option("version_locations", str(service.migrations_dir / "versions"))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = service.schema
    return config


def head_revision(service: ServiceSpec) -> str | None:
    """The revision `/ready` expects to find in the service's version table."""
    return ScriptDirectory.from_config(alembic_config(service)).get_current_head()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _ensure_role(conn: AsyncConnection, role: str, password: str | None) -> None:
    exists = await conn.scalar(text("select 1 from pg_roles where rolname = :r"), {"r": role})
    verb = "alter" if exists else "create"
    options = "login nosuperuser nocreatedb nocreaterole noinherit nobypassrls"
    password_clause = f" password {_literal(password)}" if password else ""
    await conn.execute(text(f"{verb} role {role} with {options}{password_clause}"))


async def _prepare_schema(conn: AsyncConnection, service: ServiceSpec, password: str | None) -> None:
    schema, role = service.schema, service.role
    assert schema and role
    await _ensure_role(conn, role, password)
    for statement in (
        f"create schema if not exists {schema}",
        f"revoke all on schema {schema} from public",
        f"grant usage on schema {schema} to {role}",
        f"alter default privileges in schema {schema} grant select, insert, update, delete on tables to {role}",
        f"alter default privileges in schema {schema} grant usage, select on sequences to {role}",
        f"alter role {role} set search_path = {schema}, public",
    ):
        await conn.execute(text(statement))


async def _grant_existing(conn: AsyncConnection, service: ServiceSpec) -> None:
    """Data rights on the schema's tables, but not on partitions: a partition is reached through
    its parent, whose row level security a direct read would bypass."""
    schema, role = service.schema, service.role
    tables = await conn.scalars(
        text(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :schema and c.relkind in ('r', 'p') and not c.relispartition"
        ),
        {"schema": schema},
    )
    for table in tables.all():
        await conn.execute(text(f'grant select, insert, update, delete on {schema}."{table}" to {role}'))
    await conn.execute(text(f"grant usage, select on all sequences in schema {schema} to {role}"))


def _upgrade(sync_conn: Connection, service: ServiceSpec) -> None:
    config = alembic_config(service)
    config.attributes["connection"] = sync_conn
    sync_conn.exec_driver_sql(f"set search_path to {service.schema}, public")
    command.upgrade(config, "head")


def runtime_passwords(env: Mapping[str, str]) -> dict[str, str | None]:
    """Passwords of the runtime roles, read from each service's `<SERVICE>_DATABASE_URL`."""
    passwords: dict[str, str | None] = {}
    for service in WITH_DATABASE:
        url = env.get(service.database_url_env)
        passwords[service.name] = make_url(url).password if url else None
    return passwords


async def migrate(
    owner_url: str,
    passwords: Mapping[str, str | None],
    services: Iterable[ServiceSpec] = WITH_DATABASE,
) -> None:
    """Bring roles, schemas and migrations to head. Safe to run again, and concurrently."""
    engine = create_async_engine(async_url(owner_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            await conn.commit()
            try:
                await conn.execute(text("create extension if not exists vector"))
                await conn.commit()
                for service in services:
                    await _prepare_schema(conn, service, passwords.get(service.name))
                    await conn.run_sync(_upgrade, service)
                    await _grant_existing(conn, service)
                    await conn.commit()
            finally:
                await conn.rollback()
                await conn.execute(text("select pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                await conn.commit()
    finally:
        await engine.dispose()


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrations")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("upgrade", help="bring every schema to head (default)")
    revision = sub.add_parser("revision", help="create a new empty revision for one service")
    revision.add_argument("service")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.command == "revision":
        command.revision(alembic_config(spec(args.service)), message=args.message)
        return 0
    owner_url = os.environ.get("DATABASE_URL")
    if not owner_url:
        print("migrations: setting DATABASE_URL is missing", file=sys.stderr)
        return 2
    asyncio.run(migrate(owner_url, runtime_passwords(os.environ)))
    print("migrations: every schema is at head")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
