"""Raw metric rows (partitioned by month), rollups, what analytics learns of campaigns, settings,
dashboards, reports and alerts.

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

SERVICE = spec("analytics")
COUNTERS = """
    impressions bigint not null default 0,
    clicks bigint not null default 0,
    spend_minor bigint not null default 0,
    conversions numeric(16, 2) not null default 0,
    conversion_value_minor bigint not null default 0,
    video_views bigint not null default 0,
    leads bigint not null default 0,
    new_customers bigint not null default 0
"""

TENANT_TABLES = (
    "metric_rows",
    "ingest_batches",
    "rollups",
    "rollup_hours",
    "campaigns",
    "campaign_map",
    "unmapped_rows",
    "settings",
    "dashboards",
    "reports",
    "alert_rules",
    "alert_states",
    "alert_events",
    "alert_queue",
)

SCHEMA_SQL = f"""
create table analytics.metric_rows (
    tenant_id uuid not null,
    campaign_id uuid not null,
    channel varchar(20) not null,
    source varchar(40) not null,
    day date not null,
    hour_key integer not null default -1,
    currency char(3) not null,
    {COUNTERS},
    reach bigint,
    external_campaign_id varchar(100),
    sync_id uuid,
    batch_id uuid not null,
    ingested_at timestamptz not null default now(),
    primary key (tenant_id, campaign_id, channel, source, day, hour_key)
) partition by range (day);

create table analytics.ingest_batches (
    id uuid primary key,
    tenant_id uuid not null,
    source varchar(40),
    sync_id uuid,
    received integer not null,
    inserted integer not null,
    updated integer not null,
    unchanged integer not null,
    at timestamptz not null default now()
);

create table analytics.rollups (
    tenant_id uuid not null,
    grain char(1) not null check (grain in ('d', 'w', 'm')),
    campaign_id uuid not null,
    channel varchar(20) not null,
    currency char(3) not null,
    bucket date not null,
    {COUNTERS},
    primary key (tenant_id, grain, campaign_id, channel, currency, bucket)
);

create table analytics.rollup_hours (
    tenant_id uuid not null,
    campaign_id uuid not null,
    channel varchar(20) not null,
    currency char(3) not null,
    bucket timestamptz not null,
    {COUNTERS},
    primary key (tenant_id, campaign_id, channel, currency, bucket)
);

create table analytics.campaigns (
    tenant_id uuid not null,
    campaign_id uuid primary key,
    name varchar(200),
    status varchar(20),
    budget_type varchar(10),
    total_budget_minor bigint,
    currency char(3),
    start_at timestamptz,
    end_at timestamptz,
    updated_at timestamptz not null default now()
);

create table analytics.campaign_map (
    tenant_id uuid not null,
    channel varchar(20) not null,
    external_campaign_id varchar(100) not null,
    campaign_id uuid not null,
    primary key (tenant_id, channel, external_campaign_id)
);

create table analytics.unmapped_rows (
    id bigserial primary key,
    tenant_id uuid not null,
    channel varchar(20) not null,
    external_campaign_id varchar(100) not null,
    row jsonb not null,
    source varchar(40) not null,
    sync_id uuid,
    received_at timestamptz not null default now()
);
create index unmapped_by_campaign on analytics.unmapped_rows (tenant_id, channel, external_campaign_id);

create table analytics.settings (
    tenant_id uuid primary key,
    timezone varchar(64) not null default 'UTC',
    updated_at timestamptz not null default now()
);

create table analytics.dashboards (
    id uuid primary key,
    tenant_id uuid not null,
    name varchar(200) not null,
    widgets jsonb not null default '[]',
    created_by varchar(100) not null,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index dashboards_created on analytics.dashboards (tenant_id, created_at desc, id desc);

create table analytics.reports (
    id uuid primary key,
    tenant_id uuid not null,
    requested_by varchar(100) not null,
    kind varchar(30) not null,
    filters jsonb not null default '{{}}',
    format varchar(10) not null,
    status varchar(10) not null default 'queued'
        check (status in ('queued', 'running', 'ready', 'failed')),
    attempts integer not null default 0,
    lease_until timestamptz,
    error varchar(500),
    content bytea,
    media_type varchar(120),
    filename varchar(200),
    size_bytes integer,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);
create index reports_created on analytics.reports (tenant_id, created_at desc, id desc);
create index reports_claimable on analytics.reports (created_at) where status in ('queued', 'running');

create table analytics.alert_rules (
    id uuid primary key,
    tenant_id uuid not null,
    name varchar(200) not null,
    kind varchar(10) not null check (kind in ('threshold', 'anomaly')),
    metric varchar(30) not null,
    operator varchar(10),
    threshold double precision,
    sigmas double precision,
    window_days integer not null default 7,
    campaign_id uuid,
    channel varchar(20),
    enabled boolean not null default true,
    created_at timestamptz not null default now()
);

create table analytics.alert_states (
    tenant_id uuid not null,
    rule_id uuid not null references analytics.alert_rules (id) on delete cascade,
    campaign_id uuid not null,
    breached boolean not null,
    breach_key varchar(40) not null default '',
    last_value double precision,
    changed_at timestamptz not null default now(),
    primary key (rule_id, campaign_id)
);

create table analytics.alert_events (
    id uuid primary key,
    tenant_id uuid not null,
    rule_id uuid not null references analytics.alert_rules (id) on delete cascade,
    campaign_id uuid not null,
    metric varchar(30) not null,
    value double precision,
    threshold double precision,
    detail jsonb not null default '{{}}',
    fired_at timestamptz not null default now()
);
create index alert_events_fired on analytics.alert_events (tenant_id, fired_at desc);

create table analytics.alert_queue (
    tenant_id uuid not null,
    campaign_id uuid not null,
    queued_at timestamptz not null default now(),
    primary key (tenant_id, campaign_id)
)
"""

# Partitions are made by the owner, on the runtime role's request: it may create the month it
# needs, never alter anything. A partition is reached only through its parent (where row level
# security applies): the runtime role keeps no privilege on the partition itself.
PARTITION_FUNCTION = f"""
create function analytics.ensure_month(month date) returns void
language plpgsql security definer set search_path = pg_catalog, analytics as $$
declare
    first date := date_trunc('month', month)::date;
    name text := 'metric_rows_' || to_char(first, 'YYYYMM');
begin
    if to_regclass('analytics.' || name) is null then
        begin
            execute format(
                'create table analytics.%I partition of analytics.metric_rows for values from (%L) to (%L)',
                name, first, (first + interval '1 month')::date
            );
            execute format('revoke all on analytics.%I from {SERVICE.role}', name);
        exception when duplicate_table then null;
        end;
    end if;
end $$
"""

BACKGROUND_POLICIES = {
    "reports": "status = 'queued' or (status = 'running' and lease_until < now())",
    "alert_queue": "true",
}


def upgrade() -> None:
    create_tenant_tables("analytics", SCHEMA_SQL, TENANT_TABLES)
    op.execute(PARTITION_FUNCTION)
    op.execute("revoke all on function analytics.ensure_month(date) from public")
    op.execute(f"grant execute on function analytics.ensure_month(date) to {SERVICE.role}")
    create_background_reader(
        "analytics", str(SERVICE.background_role), str(SERVICE.role), BACKGROUND_POLICIES
    )


def downgrade() -> None:
    op.execute("drop function analytics.ensure_month(date)")
    op.execute("drop table " + ", ".join(f"analytics.{t}" for t in reversed(TENANT_TABLES)))
