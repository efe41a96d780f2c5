"""The rows of the `analytics` schema besides the metrics (tables in migrations/versions). Every
table is tenant-owned with row level security on `tenant_id`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.rows import Row


@dataclass(slots=True)
class KnownCampaign(Row):
    """What analytics learns of a campaign from campaign_management's events (for pacing)."""

    table = "analytics.campaigns"
    key = "campaign_id"

    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    name: str | None = None
    status: str | None = None
    budget_type: str | None = None
    total_budget_minor: int | None = None
    currency: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Dashboard(Row):
    table = "analytics.dashboards"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    created_by: str
    widgets: list[dict[str, Any]] = field(default_factory=list)
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Report(Row):
    table = "analytics.reports"

    id: uuid.UUID
    tenant_id: uuid.UUID
    requested_by: str
    kind: str
    format: str
    filters: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"
    attempts: int = 0
    lease_until: datetime | None = None
    error: str | None = None
    content: bytes | None = None
    media_type: str | None = None
    filename: str | None = None
    size_bytes: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None


@dataclass(slots=True)
class AlertRule(Row):
    table = "analytics.alert_rules"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    kind: str
    metric: str
    operator: str | None = None
    threshold: float | None = None
    sigmas: float | None = None
    window_days: int = 7
    campaign_id: uuid.UUID | None = None
    channel: str | None = None
    enabled: bool = True
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class AlertEvent(Row):
    table = "analytics.alert_events"

    id: uuid.UUID
    tenant_id: uuid.UUID
    rule_id: uuid.UUID
    campaign_id: uuid.UUID
    metric: str
    value: float | None
    threshold: float | None
    detail: dict[str, Any] = field(default_factory=dict)
    fired_at: datetime = field(default_factory=utcnow)
