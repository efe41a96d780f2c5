"""Campaigns, their transitions and executions, recommendations, funnels, known connections.

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

TENANT_TABLES = (
    "campaigns",
    "transitions",
    "executions",
    "recommendations",
    "audit_log",
    "funnels",
    "funnel_stages",
    "connections",
    "performance_cache",
    "owner_notices",
)

SCHEMA_SQL = """
create table campaigns.campaigns (
    id uuid primary key,
    tenant_id uuid not null,
    name varchar(200) not null,
    objective varchar(20) not null check (objective in ('awareness', 'traffic', 'leads', 'sales')),
    status varchar(20) not null default 'draft'
        check (status in ('draft', 'scheduled', 'active', 'paused', 'completed', 'archived')),
    budget_type varchar(10) not null check (budget_type in ('daily', 'lifetime')),
    total_budget_minor bigint not null check (total_budget_minor >= 0),
    currency char(3) not null,
    channels jsonb not null default '[]',
    channel_names text[] not null default '{}',
    start_at timestamptz,
    end_at timestamptz,
    targeting jsonb not null default '{}',
    utm jsonb not null default '{}',
    tags text[] not null default '{}',
    owner_user_id uuid,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index campaigns_created on campaigns.campaigns (tenant_id, created_at desc, id desc);
create index campaigns_status_created on campaigns.campaigns (tenant_id, status, created_at desc, id desc);
create index campaigns_name on campaigns.campaigns (tenant_id, name, id);
create index campaigns_start on campaigns.campaigns (tenant_id, start_at, id);
create index campaigns_channels on campaigns.campaigns using gin (channel_names);
create index campaigns_tags on campaigns.campaigns using gin (tags);
create index campaigns_due_start on campaigns.campaigns (start_at) where status = 'scheduled';
create index campaigns_due_end on campaigns.campaigns (end_at) where status in ('active', 'paused');

create table campaigns.transitions (
    id uuid primary key,
    tenant_id uuid not null,
    campaign_id uuid not null references campaigns.campaigns (id),
    from_status varchar(20) not null,
    to_status varchar(20) not null,
    actor varchar(100) not null,
    reason varchar(500),
    at timestamptz not null default now()
);
create index transitions_campaign on campaigns.transitions (campaign_id, at, id);

create table campaigns.executions (
    tenant_id uuid not null,
    campaign_id uuid not null references campaigns.campaigns (id),
    channel varchar(20) not null,
    external_id varchar(200),
    status varchar(20) not null check (status in ('pending', 'running', 'failed', 'stopped')),
    error varchar(1000),
    last_synced_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (campaign_id, channel)
);

create table campaigns.recommendations (
    id uuid primary key,
    tenant_id uuid not null,
    campaign_id uuid not null references campaigns.campaigns (id),
    task_id uuid,
    items jsonb not null,
    status varchar(20) not null default 'open' check (status in ('open', 'applied', 'dismissed')),
    decided_by varchar(100),
    decided_at timestamptz,
    created_at timestamptz not null default now(),
    unique (task_id)
);
create index recommendations_campaign on campaigns.recommendations (campaign_id, created_at desc);

create table campaigns.audit_log (
    id uuid primary key,
    tenant_id uuid not null,
    campaign_id uuid not null,
    action varchar(60) not null,
    actor varchar(100) not null,
    detail jsonb not null default '{}',
    at timestamptz not null default now()
);
create index audit_campaign on campaigns.audit_log (campaign_id, at);

create table campaigns.funnels (
    id uuid primary key,
    tenant_id uuid not null,
    campaign_id uuid references campaigns.campaigns (id),
    name varchar(200) not null,
    audience jsonb not null default '{}',
    nurture jsonb not null default '[]',
    scoring jsonb not null default '[]',
    mautic jsonb not null default '{}',
    sync_status varchar(20) not null default 'never'
        check (sync_status in ('never', 'syncing', 'synced', 'failed')),
    sync_error varchar(1000),
    sync_started_at timestamptz,
    synced_at timestamptz,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index funnels_created on campaigns.funnels (tenant_id, created_at desc, id desc);

create table campaigns.funnel_stages (
    id uuid primary key,
    tenant_id uuid not null,
    funnel_id uuid not null references campaigns.funnels (id) on delete cascade,
    position integer not null,
    name varchar(120) not null,
    weight integer not null,
    entry_rule jsonb not null,
    mautic_stage_id integer,
    mautic_trigger_id integer
);
create index funnel_stages_funnel on campaigns.funnel_stages (funnel_id, position);

create table campaigns.connections (
    tenant_id uuid not null,
    connection_id uuid not null,
    provider varchar(30) not null,
    status varchar(20) not null,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, connection_id)
);

create table campaigns.performance_cache (
    tenant_id uuid not null,
    campaign_id uuid primary key references campaigns.campaigns (id),
    payload jsonb not null,
    fetched_at timestamptz not null
);

create table campaigns.owner_notices (
    id uuid primary key,
    tenant_id uuid not null,
    campaign_id uuid not null,
    user_id uuid not null,
    category varchar(40) not null,
    subject varchar(300) not null,
    body text not null,
    status varchar(10) not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error varchar(300),
    created_at timestamptz not null default now()
);
create index owner_notices_due on campaigns.owner_notices (next_attempt_at) where status = 'pending'
"""

# The scheduler finds due work across tenants without knowing them: inside its transaction it takes
# the role below (SET LOCAL ROLE), which may read (never write) exactly the rows that are due, then
# acts on each row as the service again, in that row's own tenant scope. A policy of its own role
# (rather than a setting checked in a policy of every role) leaves the tenant predicate of ordinary
# queries alone, so their indexes apply.
SERVICE = spec("campaign_management")
SCHEDULER_POLICIES = {
    "campaigns": "(status = 'scheduled' and start_at <= now())"
    " or (status in ('active', 'paused') and end_at <= now())",
    "owner_notices": "status = 'pending' and next_attempt_at <= now()",
}


def upgrade() -> None:
    create_tenant_tables("campaigns", SCHEMA_SQL, TENANT_TABLES)
    create_background_reader("campaigns", str(SERVICE.background_role), str(SERVICE.role), SCHEDULER_POLICIES)


def downgrade() -> None:
    op.execute("drop table " + ", ".join(f"campaigns.{t}" for t in reversed(TENANT_TABLES)))
