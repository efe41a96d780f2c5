"""The rows of the `integrations` schema (tables in migrations/versions). Every table but
`webhook_events` (received before anyone knows the tenant) is tenant-owned with row level security."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.clock import utcnow
from shared.rows import Row


@dataclass(slots=True)
class TenantKey(Row):
    """A tenant's data key, wrapped by the master key `key_id` names."""

    table = "integrations.tenant_keys"
    key = "tenant_id"

    tenant_id: uuid.UUID
    key_id: str
    wrapped: bytes
    created_at: datetime = field(default_factory=utcnow)
    rotated_at: datetime | None = None


@dataclass(slots=True)
class Connection(Row):
    table = "integrations.connections"

    id: uuid.UUID
    tenant_id: uuid.UUID
    provider: str
    name: str
    account_id: str
    sealed: bytes
    status: str = "active"
    token_expires_at: datetime | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sync_interval_minutes: int | None = None
    next_sync_at: datetime | None = None
    synced_through: date | None = None
    last_sync_at: datetime | None = None
    last_error: str | None = None
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Sync(Row):
    table = "integrations.syncs"

    id: uuid.UUID
    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    trigger: str
    window_from: date
    window_to: date
    status: str = "queued"
    checkpoint: date | None = None
    rows: int = 0
    pages: int = 0
    attempts: int = 0
    not_before: datetime = field(default_factory=utcnow)
    lease_until: datetime | None = None
    runner: str | None = None
    error: str | None = None
    requested_by: str | None = None
    requested_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class PlatformCampaign(Row):
    """Our campaign as created on one platform: found again by a redelivered launch."""

    table = "integrations.platform_campaigns"
    key = "campaign_id"

    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    channel: str
    connection_id: uuid.UUID
    external_id: str
    status: str
    budget_minor: int | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class OAuthState(Row):
    table = "integrations.oauth_states"
    key = "state"

    state: str
    tenant_id: uuid.UUID
    provider: str
    name: str
    account_id: str
    sealed_verifier: bytes
    requested_by: str
    expires_at: datetime


@dataclass(slots=True)
class BillingCustomer(Row):
    table = "integrations.billing_customers"
    key = "tenant_id"

    tenant_id: uuid.UUID
    customer_id: str
    subscription_id: str | None = None
    plan: str | None = None
    updated_at: datetime = field(default_factory=utcnow)
