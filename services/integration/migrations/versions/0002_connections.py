"""Tenant data keys, connections with sealed credentials, syncs and their rows, platform
campaigns, OAuth states, billing customers and received webhooks.

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
    "tenant_keys",
    "connections",
    "syncs",
    "sync_rows",
    "platform_campaigns",
    "oauth_states",
    "billing_customers",
)

SCHEMA_SQL = """
create table integrations.tenant_keys (
    tenant_id uuid primary key,
    key_id varchar(40) not null,
    wrapped bytea not null,
    created_at timestamptz not null default now(),
    rotated_at timestamptz
);
create index tenant_keys_by_master on integrations.tenant_keys (key_id);

create table integrations.connections (
    id uuid primary key,
    tenant_id uuid not null,
    provider varchar(30) not null,
    name varchar(200) not null,
    account_id varchar(100) not null,
    status varchar(20) not null default 'active' check (status in ('active', 'needs_reauth', 'disabled')),
    sealed bytea not null,
    token_expires_at timestamptz,
    options jsonb not null default '{}',
    sync_interval_minutes integer,
    next_sync_at timestamptz,
    synced_through date,
    last_sync_at timestamptz,
    last_error varchar(1000),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, provider, account_id)
);
create index connections_created on integrations.connections (tenant_id, created_at desc, id desc);
create index connections_due on integrations.connections (next_sync_at) where status = 'active';

create table integrations.syncs (
    id uuid primary key,
    tenant_id uuid not null,
    connection_id uuid not null references integrations.connections (id) on delete cascade,
    trigger varchar(20) not null check (trigger in ('manual', 'scheduled')),
    status varchar(20) not null default 'queued'
        check (status in ('queued', 'running', 'succeeded', 'failed')),
    window_from date not null,
    window_to date not null,
    checkpoint date,
    rows integer not null default 0,
    pages integer not null default 0,
    attempts integer not null default 0,
    not_before timestamptz not null default now(),
    lease_until timestamptz,
    runner varchar(100),
    error varchar(1000),
    requested_by varchar(100),
    requested_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz
);
create unique index syncs_one_open on integrations.syncs (connection_id) where status in ('queued', 'running');
create index syncs_connection on integrations.syncs (connection_id, requested_at desc, id desc);
create index syncs_due on integrations.syncs (not_before) where status in ('queued', 'running');

create table integrations.sync_rows (
    sync_id uuid not null references integrations.syncs (id) on delete cascade,
    tenant_id uuid not null,
    page integer not null,
    rows jsonb not null,
    primary key (sync_id, page)
);

create table integrations.platform_campaigns (
    tenant_id uuid not null,
    campaign_id uuid not null,
    channel varchar(20) not null,
    connection_id uuid not null references integrations.connections (id) on delete cascade,
    external_id varchar(100) not null,
    status varchar(20) not null,
    budget_minor bigint,
    updated_at timestamptz not null default now(),
    primary key (campaign_id, channel)
);

create table integrations.oauth_states (
    state varchar(64) primary key,
    tenant_id uuid not null,
    provider varchar(30) not null,
    name varchar(200) not null,
    account_id varchar(100) not null,
    sealed_verifier bytea not null,
    requested_by varchar(100) not null,
    expires_at timestamptz not null
);

create table integrations.billing_customers (
    tenant_id uuid primary key,
    customer_id varchar(100) not null unique,
    subscription_id varchar(100),
    plan varchar(20),
    updated_at timestamptz not null default now()
);

create table integrations.webhook_events (
    provider varchar(20) not null,
    event_id varchar(200) not null,
    event_type varchar(100) not null,
    for_tenant uuid,
    payload jsonb not null,
    received_at timestamptz not null default now(),
    primary key (provider, event_id)
)
"""

# Background work across tenants (DESIGN §3): the sync runner finds due connections and syncs,
# webhooks find the tenant a Stripe customer or an OAuth state belongs to, and key rotation finds
# data keys wrapped by an old master key. Each through the read-only policies of its own role.
SERVICE = spec("integration")
BACKGROUND_POLICIES = {
    "connections": "status = 'active' and next_sync_at <= now()",
    "syncs": "status in ('queued', 'running') and not_before <= now()"
    " and (status = 'queued' or lease_until < now())",
    "billing_customers": "true",
    "oauth_states": "expires_at > now()",
    "tenant_keys": "true",
}


def upgrade() -> None:
    create_tenant_tables("integrations", SCHEMA_SQL, TENANT_TABLES)
    create_background_reader(
        "integrations", str(SERVICE.background_role), str(SERVICE.role), BACKGROUND_POLICIES
    )


def downgrade() -> None:
    op.execute("drop table integrations.webhook_events")
    op.execute("drop table " + ", ".join(f"integrations.{t}" for t in reversed(TENANT_TABLES)))
