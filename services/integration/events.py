"""The events integration emits (DESIGN §4), as typed payloads. None carries a secret."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from shared.events.envelope import EventData


class IntegrationConnected(EventData):
    event_type = "integration.connected"
    connection_id: UUID
    provider: str
    account_id: str
    name: str


class SyncCompleted(EventData):
    """Rows inline when few, else `rows_url` (paged, read with a service token)."""

    event_type = "integration.sync_completed"
    connection_id: UUID
    provider: str
    channel: str
    sync_id: UUID
    window_from: date
    window_to: date
    row_count: int
    rows: list[dict[str, Any]] | None = None
    rows_url: str | None = None


class SyncFailed(EventData):
    event_type = "integration.sync_failed"
    connection_id: UUID
    provider: str
    sync_id: UUID | None
    error: str
    needs_reauth: bool


class ExecutionUpdated(EventData):
    event_type = "execution.updated"
    campaign_id: UUID
    channel: str
    external_id: str | None
    status: str  # pending | running | failed | stopped
    error: str | None = None
    budget_minor: int | None = None


class PaymentSucceeded(EventData):
    event_type = "payment.succeeded"
    plan: str | None
    invoice_id: str | None
    amount_minor: int
    currency: str
    subscription_id: str | None = None


class PaymentFailed(EventData):
    event_type = "payment.failed"
    plan: str | None
    invoice_id: str | None
    amount_minor: int
    currency: str
    reason: str | None = None
    subscription_id: str | None = None


class WebhookReceived(EventData):
    event_type = "webhook.received"
    provider: str
    event_id: str
    webhook_type: str
