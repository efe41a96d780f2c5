"""A test-only schema: messaging tables plus a tenant-owned `effects` table for handler effects.

Revision ID: 0001
Revises:
"""

from alembic import op

from shared.migration_ops import create_messaging_tables, enable_tenant_isolation

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables("evtest")
    op.execute(
        """
        create table evtest.effects (
            id bigserial primary key,
            tenant_id uuid not null,
            event_id uuid not null,
            consumer text not null,
            note text,
            created_at timestamptz not null default now()
        )
        """
    )
    enable_tenant_isolation("evtest", "effects")


def downgrade() -> None:
    op.execute("drop table evtest.effects")
