"""Request and response bodies of analytics. Requests refuse unknown fields."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.analytics.domain.calendar import EARLIEST_DAY, LATEST_DAY
from services.analytics.domain.kpis import COUNTERS, KPIS
from services.analytics.service.row_model import Channel, MetricBatch, MetricRow
from shared.text import IsoDay, StorableRequest, trimmed

__all__ = ["MetricBatch", "MetricRow"]

# Built from the domain's names so the API's enums cannot drift from what the service computes.
Metric = Literal[(*COUNTERS, *KPIS)]  # type: ignore[valid-type]
AlertMetric = Literal[(*COUNTERS, *KPIS, "pacing")]  # type: ignore[valid-type]
Granularity = Literal["hour", "day", "week", "month"]
Name = trimmed(200)

Figures = dict[str, float | int | None]


Request = StorableRequest


class IngestOut(BaseModel):
    batch_id: uuid.UUID
    received: int
    inserted: int
    updated: int
    unchanged: int


class StoredRowOut(BaseModel):
    campaign_id: uuid.UUID
    channel: str
    source: str
    day: date
    hour_start: datetime | None
    currency: str
    impressions: int
    clicks: int
    spend_minor: int
    conversions: float
    conversion_value_minor: int
    video_views: int
    leads: int
    new_customers: int
    reach: int | None
    external_campaign_id: str | None
    sync_id: uuid.UUID | None = Field(description="The integration sync that produced the row (lineage).")
    batch_id: uuid.UUID
    ingested_at: datetime


class RowsPage(BaseModel):
    items: list[StoredRowOut]
    next_cursor: str | None


class KpisOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    currency: str | None
    current: Figures
    previous: dict[str, Any]
    change: Figures
    pacing: float | None = Field(None, description="Spend so far over expected spend so far (one campaign).")
    groups: list[dict[str, Any]] | None = None

    model_config = ConfigDict(populate_by_name=True)


class SeriesPoint(BaseModel):
    bucket: str
    value: float | None


class TimeseriesOut(BaseModel):
    metric: str
    granularity: str
    timezone: str
    currency: str | None
    points: list[SeriesPoint]


class BreakdownOut(BaseModel):
    by: str
    metric: str
    currency: str | None
    rows: list[dict[str, Any]]


class PerformanceOut(BaseModel):
    campaign_id: uuid.UUID
    currency: str | None
    totals: Figures
    channels: list[dict[str, Any]]
    days: list[dict[str, Any]]
    last_synced_at: datetime | None


class SettingsIn(Request):
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SettingsOut(BaseModel):
    timezone: str


# --- dashboards ------------------------------------------------------------------------------


class Widget(Request):
    type: Literal["kpi", "timeseries", "breakdown", "top_n"]
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    metric: Metric
    granularity: Granularity = "day"
    by: Literal["channel", "campaign"] = "channel"
    n: int = Field(5, ge=1, le=100)
    period_days: int = Field(30, ge=1, le=366)
    campaign_id: uuid.UUID | None = None
    channel: Channel | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None

    @model_validator(mode="after")
    def _sensible(self) -> Widget:
        if self.type == "timeseries" and self.granularity == "hour" and self.period_days > 31:
            raise ValueError("hourly series cover at most 31 days")
        return self


class DashboardIn(Request):
    name: Name
    widgets: list[Widget] = Field(default_factory=list, max_length=50)


class DashboardUpdate(Request):
    name: Name | None = None
    widgets: list[Widget] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _no_nulls(self) -> DashboardUpdate:
        if any(getattr(self, n) is None for n in self.model_fields_set):
            raise ValueError("name and widgets cannot be null; leave a field out to keep it")
        return self


class DashboardOut(BaseModel):
    id: uuid.UUID
    name: str
    widgets: list[dict[str, Any]]
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class DashboardPage(BaseModel):
    items: list[DashboardOut]
    next_cursor: str | None


class DashboardData(BaseModel):
    dashboard_id: uuid.UUID
    name: str
    widgets: list[dict[str, Any]]


# --- reports ---------------------------------------------------------------------------------


class ReportFilters(Request):
    from_: IsoDay = Field(alias="from", ge=EARLIEST_DAY, le=LATEST_DAY)
    to: IsoDay = Field(ge=EARLIEST_DAY, le=LATEST_DAY)
    campaign_id: uuid.UUID | None = None
    channel: Channel | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    granularity: Literal["day", "week", "month"] = "day"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _range(self) -> ReportFilters:
        if self.to < self.from_:
            raise ValueError("to must not come before from")
        if (self.to - self.from_).days > 3 * 366:
            raise ValueError("a report covers at most three years")
        return self


class ReportIn(Request):
    type: Literal["kpi_summary", "timeseries", "campaigns"]
    filters: ReportFilters
    format: Literal["csv", "json", "xlsx", "pdf"] = "csv"


class ReportOut(BaseModel):
    id: uuid.UUID
    type: str
    format: str
    filters: dict[str, Any]
    status: Literal["queued", "running", "ready", "failed"]
    attempts: int
    error: str | None
    size_bytes: int | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    status_url: str
    download_url: str | None

    @classmethod
    def of(cls, report: Any) -> ReportOut:
        path = f"/api/v1/analytics/reports/{report.id}"
        return cls(
            id=report.id,
            type=report.kind,
            format=report.format,
            filters=report.filters,
            status=report.status,
            attempts=report.attempts,
            error=report.error,
            size_bytes=report.size_bytes,
            requested_by=report.requested_by,
            created_at=report.created_at,
            finished_at=report.finished_at,
            status_url=path,
            download_url=f"{path}/download" if report.status == "ready" else None,
        )


class ReportPage(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


# --- alerts ----------------------------------------------------------------------------------


class AlertRuleIn(Request):
    name: Name
    kind: Literal["threshold", "anomaly"]
    metric: AlertMetric
    operator: Literal["above", "below"] = "above"
    threshold: float | None = Field(None, allow_inf_nan=False)
    sigmas: float = Field(3.0, gt=0, le=20)
    window_days: int = Field(7, ge=1, le=90)
    campaign_id: uuid.UUID | None = None
    channel: Channel | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _complete(self) -> AlertRuleIn:
        if self.kind == "threshold" and self.threshold is None:
            raise ValueError("a threshold rule needs a threshold")
        if self.kind == "anomaly" and self.metric == "pacing":
            raise ValueError("pacing is checked against a threshold, not for anomalies")
        return self


class AlertRuleUpdate(Request):
    name: Name | None = None
    threshold: float | None = Field(None, allow_inf_nan=False)
    sigmas: float | None = Field(None, gt=0, le=20)
    window_days: int | None = Field(None, ge=1, le=90)
    enabled: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> AlertRuleUpdate:
        if any(getattr(self, n) is None for n in self.model_fields_set):
            raise ValueError("a field given cannot be null; leave it out to keep it")
        return self


class AlertRuleOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    metric: str
    operator: str | None
    threshold: float | None
    sigmas: float | None
    window_days: int
    campaign_id: uuid.UUID | None
    channel: str | None
    enabled: bool
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class AlertEventOut(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    campaign_id: uuid.UUID
    metric: str
    value: float | None
    threshold: float | None
    detail: dict[str, Any]
    fired_at: datetime

    model_config = ConfigDict(from_attributes=True)
