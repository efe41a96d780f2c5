"""The events notification emits (DESIGN §4), as typed payloads: ids and outcomes, no content."""

from __future__ import annotations

from uuid import UUID

from shared.events.envelope import EventData


class NotificationSent(EventData):
    event_type = "notification.sent"
    notification_id: UUID
    delivery_id: UUID
    channel: str
    user_id: UUID | None
    category: str


class NotificationDelivered(EventData):
    event_type = "notification.delivered"
    notification_id: UUID
    delivery_id: UUID
    channel: str
    user_id: UUID | None
    category: str


class NotificationFailed(EventData):
    event_type = "notification.failed"
    notification_id: UUID
    delivery_id: UUID
    channel: str
    user_id: UUID | None
    category: str
    error: str
    status: str  # failed | bounced | dead
