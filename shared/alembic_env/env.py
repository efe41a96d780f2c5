"""The one Alembic environment of every schema: one version table per schema (DESIGN §3).

Each service keeps only its revisions (`services/<name>/migrations/versions`); the migrate step
(`python -m shared.migrations`) points Alembic here with that service's versions and hands over
an open owner connection through `config.attributes`. Running `alembic` by hand is not supported.
"""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    schema = config.attributes.get("schema")
    if connection is None or schema is None:
        raise SystemExit("run migrations with `python -m shared.migrations`, not the alembic CLI")
    context.configure(
        connection=connection,
        version_table_schema=schema,
        include_schemas=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
