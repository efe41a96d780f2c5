"""The rows of the `campaigns` schema (tables in migrations/versions). Every table is
tenant-owned with row level security on `tenant_id`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.rows import Row


@dataclass(slots=True)
class Campaign(Row):
    table = "campaigns.campaigns"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    objective: str
    budget_type: str
    total_budget_minor: int
    currency: str
    status: str = "draft"
    channels: list[dict[str, Any]] = field(default_factory=list)
    channel_names: list[str] = field(default_factory=list)
    start_at: datetime | None = None
    end_at: datetime | None = None
    targeting: dict[str, Any] = field(default_factory=dict)
    utm: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    owner_user_id: uuid.UUID | None = None
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def budgets(self) -> dict[str, int]:
        return {c["channel"]: int(c["budget_minor"]) for c in self.channels}


@dataclass(slots=True)
class Transition(Row):
    table = "campaigns.transitions"

    id: uuid.UUID
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    from_status: str
    to_status: str
    actor: str
    reason: str | None = None
    at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Execution(Row):
    table = "campaigns.executions"
    key = "campaign_id"

    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    channel: str
    status: str
    external_id: str | None = None
    error: str | None = None
    last_synced_at: datetime | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Recommendation(Row):
    table = "campaigns.recommendations"

    id: uuid.UUID
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    items: list[dict[str, Any]]
    task_id: uuid.UUID | None = None
    status: str = "open"
    decided_by: str | None = None
    decided_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class AuditEntry(Row):
    table = "campaigns.audit_log"

    id: uuid.UUID
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    action: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Funnel(Row):
    table = "campaigns.funnels"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    campaign_id: uuid.UUID | None = None
    audience: dict[str, Any] = field(default_factory=dict)
    nurture: list[dict[str, Any]] = field(default_factory=list)
    scoring: list[dict[str, Any]] = field(default_factory=list)
    mautic: dict[str, Any] = field(default_factory=dict)
    sync_status: str = "never"
    sync_error: str | None = None
    sync_started_at: datetime | None = None
    synced_at: datetime | None = None
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class FunnelStage(Row):
    table = "campaigns.funnel_stages"

    id: uuid.UUID
    tenant_id: uuid.UUID
    funnel_id: uuid.UUID
    position: int
    name: str
    weight: int
    entry_rule: dict[str, Any]
    mautic_stage_id: int | None = None
    mautic_trigger_id: int | None = None


@dataclass(slots=True)
class KnownConnection(Row):
    table = "campaigns.connections"
    key = "connection_id"

    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    provider: str
    status: str
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class OwnerNotice(Row):
    """A message to a campaign's owner, sent through notification's API by a background task
    (so an outage of notification delays it and loses nothing)."""

    table = "campaigns.owner_notices"

    id: uuid.UUID
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    user_id: uuid.UUID
    category: str
    subject: str
    body: str
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = field(default_factory=utcnow)
    last_error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
