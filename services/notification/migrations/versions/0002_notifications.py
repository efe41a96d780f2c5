"""Templates, preferences and contacts, push subscriptions, notifications and their deliveries,
attempts, and the in-app inbox (with a NOTIFY that wakes the live streams).

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
    "templates",
    "template_versions",
    "tenant_preferences",
    "user_preferences",
    "contacts",
    "push_subscriptions",
    "notifications",
    "deliveries",
    "attempts",
    "inbox_items",
)

SCHEMA_SQL = """
create table notifications.templates (
    id uuid primary key,
    tenant_id uuid not null,
    template_key varchar(60) not null,
    locale varchar(20) not null default 'default',
    version integer not null default 1,
    parts jsonb not null,
    sample jsonb not null default '{}',
    updated_by varchar(100) not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, template_key, locale)
);
create index templates_listed on notifications.templates (tenant_id, template_key, locale);

create table notifications.template_versions (
    template_id uuid not null references notifications.templates (id) on delete cascade,
    tenant_id uuid not null,
    version integer not null,
    parts jsonb not null,
    updated_by varchar(100) not null,
    created_at timestamptz not null default now(),
    primary key (template_id, version)
);

create table notifications.tenant_preferences (
    tenant_id uuid not null,
    category varchar(40) not null,
    channel varchar(10) not null,
    enabled boolean not null,
    primary key (tenant_id, category, channel)
);

create table notifications.user_preferences (
    tenant_id uuid not null,
    user_id uuid not null,
    category varchar(40) not null,
    channel varchar(10) not null,
    enabled boolean not null,
    primary key (user_id, category, channel)
);

create table notifications.contacts (
    tenant_id uuid not null,
    user_id uuid primary key,
    phone varchar(20),
    timezone varchar(60),
    locale varchar(20),
    quiet_start time,
    quiet_end time,
    updated_at timestamptz not null default now()
);

create table notifications.push_subscriptions (
    id uuid primary key,
    tenant_id uuid not null,
    user_id uuid not null,
    endpoint varchar(1000) not null unique,
    p256dh varchar(200) not null,
    auth varchar(100) not null,
    created_at timestamptz not null default now()
);
create index push_subscriptions_user on notifications.push_subscriptions (user_id);

create table notifications.notifications (
    id uuid primary key,
    tenant_id uuid not null,
    category varchar(40) not null,
    template varchar(60),
    recipients jsonb not null,
    data jsonb not null default '{}',
    idempotency_key varchar(200),
    answer jsonb,
    requested_by varchar(100) not null,
    created_at timestamptz not null default now(),
    unique (tenant_id, idempotency_key)
);

create table notifications.deliveries (
    id uuid primary key,
    tenant_id uuid not null,
    notification_id uuid not null references notifications.notifications (id) on delete cascade,
    user_id uuid,
    channel varchar(10) not null,
    address varchar(320),
    status varchar(12) not null default 'queued'
        check (status in ('queued', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'dead',
                          'opened', 'clicked', 'digested')),
    content jsonb not null,
    locale varchar(20),
    provider varchar(40),
    provider_id varchar(200),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    lease_until timestamptz,
    digest_of uuid,
    last_error varchar(1000),
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    delivered_at timestamptz,
    opened_at timestamptz,
    clicked_at timestamptz,
    updated_at timestamptz not null default now()
);
create index deliveries_notification on notifications.deliveries (notification_id);
create index deliveries_due on notifications.deliveries (next_attempt_at) where status in ('queued', 'sending');
create index deliveries_dead on notifications.deliveries (tenant_id, updated_at desc, id desc) where status = 'dead';
create index deliveries_provider on notifications.deliveries (provider_id) where provider_id is not null;

create table notifications.attempts (
    id bigserial primary key,
    tenant_id uuid not null,
    delivery_id uuid not null references notifications.deliveries (id) on delete cascade,
    attempt integer not null,
    provider varchar(40),
    outcome varchar(12) not null,
    error varchar(1000),
    at timestamptz not null default now()
);
create index attempts_delivery on notifications.attempts (delivery_id, id);

create table notifications.inbox_items (
    seq bigserial unique,
    id uuid primary key,
    tenant_id uuid not null,
    user_id uuid not null,
    notification_id uuid not null,
    category varchar(40) not null,
    title varchar(300) not null,
    body text not null,
    data jsonb not null default '{}',
    read_at timestamptz,
    archived_at timestamptz,
    created_at timestamptz not null default now()
);
create index inbox_items_user on notifications.inbox_items (user_id, seq desc);
create index inbox_items_unread on notifications.inbox_items (user_id) where read_at is null and archived_at is null;

create function notifications.notify_inbox() returns trigger language plpgsql as $$
begin
    perform pg_notify('inbox_notifications', new.tenant_id::text || ' ' || new.user_id::text || ' ' || new.seq::text);
    return null;
end $$;
create trigger inbox_items_notify after insert on notifications.inbox_items
    for each row execute function notifications.notify_inbox()
"""

# The delivery worker finds due deliveries across tenants through its own read-only role (callbacks,
# tracking and unsubscribe links carry a signed token naming their tenant, so they need no lookup).
SERVICE = spec("notification")
BACKGROUND_POLICIES = {
    "deliveries": "(status = 'queued' and next_attempt_at <= now()) or (status = 'sending' and lease_until < now())",
}


def upgrade() -> None:
    create_tenant_tables("notifications", SCHEMA_SQL, TENANT_TABLES)
    create_background_reader(
        "notifications", str(SERVICE.background_role), str(SERVICE.role), BACKGROUND_POLICIES
    )


def downgrade() -> None:
    op.execute("drop trigger if exists inbox_items_notify on notifications.inbox_items")
    op.execute("drop function if exists notifications.notify_inbox()")
    op.execute("drop table " + ", ".join(f"notifications.{t}" for t in reversed(TENANT_TABLES)))
