"""The rows of the `notifications` schema (tables in migrations/versions). Every table is
tenant-owned with row level security on `tenant_id`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from shared.clock import utcnow
from shared.rows import Row


@dataclass(slots=True)
class Template(Row):
    table = "notifications.templates"

    id: uuid.UUID
    tenant_id: uuid.UUID
    template_key: str
    locale: str
    parts: dict[str, Any]
    updated_by: str
    sample: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Contact(Row):
    """How to reach a user beyond the email user_management holds, and when not to."""

    table = "notifications.contacts"
    key = "user_id"

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    phone: str | None = None
    timezone: str | None = None
    locale: str | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class PushSubscription(Row):
    table = "notifications.push_subscriptions"

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    endpoint: str
    p256dh: str
    auth: str
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Notification(Row):
    table = "notifications.notifications"

    id: uuid.UUID
    tenant_id: uuid.UUID
    category: str
    template: str | None
    recipients: list[dict[str, Any]]
    requested_by: str
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    answer: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Delivery(Row):
    """One message on one channel to one recipient; `content` holds what to render (template key,
    locale, data) or the ad-hoc subject and body, never a rendered secret."""

    table = "notifications.deliveries"

    id: uuid.UUID
    tenant_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    content: dict[str, Any]
    user_id: uuid.UUID | None = None
    address: str | None = None
    status: str = "queued"
    locale: str | None = None
    provider: str | None = None
    provider_id: str | None = None
    attempts: int = 0
    next_attempt_at: datetime = field(default_factory=utcnow)
    lease_until: datetime | None = None
    digest_of: uuid.UUID | None = None
    last_error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class InboxItem(Row):
    table = "notifications.inbox_items"

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    notification_id: uuid.UUID
    category: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    read_at: datetime | None = None
    archived_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    seq: int | None = None
