"""The events analytics emits (DESIGN §4), as typed payloads."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from shared.events.envelope import EventData


class MetricsIngested(EventData):
    """One per batch, counts only (the rows stay here)."""

    event_type = "metrics.ingested"
    batch_id: UUID
    sync_id: UUID | None
    received: int
    inserted: int
    updated: int
    unchanged: int
    parked: int
    campaigns: int


class KpiAlert(EventData):
    event_type = "kpi.alert"
    alert_id: UUID
    rule_id: UUID
    rule_name: str
    rule: str  # "threshold" or "anomaly"
    campaign_id: UUID
    channel: str | None
    kpi: str
    value: float | None
    threshold: float | None = None
    baseline: dict[str, Any] | None = None
    day: date | None = None


class ReportReady(EventData):
    event_type = "report.ready"
    report_id: UUID
    requested_by: str
    format: str
    download_path: str
    status: str = "ready"
