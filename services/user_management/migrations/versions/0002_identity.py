"""Tenants, users, sessions, refresh tokens, security log, service accounts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.migration_ops import TENANT_PREDICATE, enable_tenant_isolation, run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_TABLES = ("users", "sessions", "refresh_tokens", "security_log")


def upgrade() -> None:
    run_script(SCHEMA_SQL)
    _policies()


SCHEMA_SQL = """
        create table users.tenants (
            id uuid primary key,
            name varchar(120) not null,
            plan varchar(20) not null default 'basic' check (plan in ('basic', 'pro', 'enterprise')),
            settings jsonb not null default '{}',
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        );
        create table users.users (
            id uuid primary key,
            tenant_id uuid not null references users.tenants (id),
            email varchar(254) not null,
            full_name varchar(120) not null,
            role varchar(20) not null check (role in ('viewer', 'analyst', 'manager', 'admin', 'owner')),
            status varchar(20) not null default 'active' check (status in ('active', 'invited', 'deactivated')),
            password_hash text,
            failed_logins integer not null default 0,
            locked_until timestamptz,
            invite_token_hash varchar(64),
            invite_expires_at timestamptz,
            last_login_at timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        );
        create unique index users_email_unique on users.users (lower(email));
        create index users_tenant_role on users.users (tenant_id, role);
        create table users.sessions (
            id uuid primary key,
            tenant_id uuid not null,
            user_id uuid not null references users.users (id),
            ip inet,
            user_agent varchar(300),
            created_at timestamptz not null default now(),
            last_used_at timestamptz not null default now(),
            revoked_at timestamptz,
            revoked_reason varchar(40)
        );
        create index sessions_user on users.sessions (user_id, created_at desc);
        create table users.refresh_tokens (
            id uuid primary key,
            tenant_id uuid not null,
            session_id uuid not null references users.sessions (id),
            token_hash varchar(64) not null unique,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            used_at timestamptz
        );
        create index refresh_tokens_session on users.refresh_tokens (session_id);
        create table users.security_log (
            id uuid primary key,
            tenant_id uuid not null,
            user_id uuid not null,
            kind varchar(40) not null,
            ip inet,
            user_agent varchar(300),
            detail jsonb not null default '{}',
            created_at timestamptz not null default now()
        );
        create index security_log_user on users.security_log (user_id, created_at desc, id desc);
        create table users.service_accounts (
            client_id varchar(100) primary key,
            secret_hash text not null,
            scopes varchar(60)[] not null,
            active boolean not null default true,
            created_at timestamptz not null default now()
        );
"""


def _policies() -> None:
    for table in TENANT_TABLES:
        enable_tenant_isolation("users", table)
    # A tenant sees only its own row of `tenants`.
    tenant_row = TENANT_PREDICATE.replace("tenant_id =", "id =")
    op.execute("alter table users.tenants enable row level security")
    op.execute("alter table users.tenants force row level security")
    op.execute(
        f"create policy tenant_isolation on users.tenants using ({tenant_row}) with check ({tenant_row})"
    )
    # Login knows only an email: a transaction that names one exact email may read that user's row
    # (and nothing else) to learn its tenant. Read-only; every write still needs the tenant.
    op.execute(
        "create policy login_lookup on users.users for select "
        "using (lower(email) = nullif(current_setting('app.login_email', true), ''))"
    )


def downgrade() -> None:
    op.execute(
        "drop table users.service_accounts, users.security_log, users.refresh_tokens, "
        "users.sessions, users.users, users.tenants"
    )
