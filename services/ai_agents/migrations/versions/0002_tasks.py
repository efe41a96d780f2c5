"""Tasks and the content memory (pgvector, HNSW).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.fleet import spec
from shared.migration_ops import create_background_reader, create_tenant_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_TABLES = ("tasks", "content_items")

SCHEMA_SQL = """
create table ai_agents.tasks (
    id uuid primary key,
    tenant_id uuid not null,
    type varchar(40) not null,
    input jsonb not null,
    status varchar(12) not null default 'queued'
        check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress jsonb not null default '[]',
    engine varchar(100),
    token_usage jsonb,
    result jsonb,
    error varchar(2000),
    runs integer not null default 0,
    cancel_requested boolean not null default false,
    lease_until timestamptz,
    requested_by varchar(100) not null,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz
);
create index tasks_listed on ai_agents.tasks (tenant_id, created_at desc, id desc);
create index tasks_due on ai_agents.tasks (created_at) where status in ('queued', 'running');

create table ai_agents.content_items (
    id uuid primary key,
    tenant_id uuid not null,
    kind varchar(40) not null,
    title varchar(300) not null,
    body text not null,
    embedding vector(256) not null,
    task_id uuid,
    created_at timestamptz not null default now()
);
create index content_items_embedding on ai_agents.content_items using hnsw (embedding vector_cosine_ops);
create index content_items_tenant on ai_agents.content_items (tenant_id, created_at desc)
"""

SERVICE = spec("ai_agents")
BACKGROUND_POLICIES = {
    "tasks": "status = 'queued' or (status = 'running' and lease_until < now())",
}


def upgrade() -> None:
    create_tenant_tables("ai_agents", SCHEMA_SQL, TENANT_TABLES)
    create_background_reader(
        "ai_agents", str(SERVICE.background_role), str(SERVICE.role), BACKGROUND_POLICIES
    )


def downgrade() -> None:
    op.execute("drop table ai_agents.content_items, ai_agents.tasks")
