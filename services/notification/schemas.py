"""Request and response models of the notification API (HTTP only)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from shared.text import StorableRequest

Channel = Literal["email", "sms", "push", "in_app"]
CategoryName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,39}$")]
TemplateKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,59}$")]
Locale = Annotated[
    str, StringConstraints(pattern=r"^(default|[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)$", max_length=20)
]
Source = Annotated[str, StringConstraints(max_length=20_000)]


def _wall_time(value: Any) -> Any:
    """`HH:MM[:SS]` only: pydantic would also read a number as seconds after midnight."""
    if isinstance(value, time) or (isinstance(value, str) and len(value) >= 5 and value[2:3] == ":"):
        return value
    raise ValueError("must be a time of day written HH:MM")


WallTime = Annotated[time, BeforeValidator(_wall_time)]


class NotificationIn(StorableRequest):
    """To users of the tenant (`user_id` / `user_ids`) or bare addresses (`to`: emails or E.164
    phones); a `template` with `data`, or a plain `subject` and `body` (sent as written)."""

    category: CategoryName
    user_id: uuid.UUID | None = None
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    to: list[Annotated[str, StringConstraints(min_length=3, max_length=320)]] = Field(
        default_factory=list, max_length=100
    )
    template: TemplateKey | None = None
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    body: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    channels: list[Channel] | None = Field(None, min_length=1)
    locale: Locale | None = None

    @model_validator(mode="after")
    def _shape(self) -> NotificationIn:
        if not (self.user_id or self.user_ids or self.to):
            raise ValueError("name at least one recipient: user_id, user_ids or to")
        if (self.template is None) == (self.body is None):
            raise ValueError("give a template, or a subject and body, not both")
        return self


class DeliverySummary(BaseModel):
    id: uuid.UUID
    channel: str
    user_id: uuid.UUID | None
    status: str
    scheduled_for: datetime


class NotificationAccepted(BaseModel):
    notification_id: uuid.UUID
    status_url: str
    deliveries: list[DeliverySummary]


class AttemptOut(BaseModel):
    delivery_id: uuid.UUID
    attempt: int
    provider: str | None
    outcome: str
    error: str | None
    at: datetime


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    user_id: uuid.UUID | None
    address: str | None
    status: str
    provider: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


class NotificationOut(BaseModel):
    id: uuid.UUID
    category: str
    template: str | None
    requested_by: str
    created_at: datetime
    deliveries: list[DeliveryOut]
    attempts: list[AttemptOut]


class DeadPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class InboxItemOut(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    category: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    archived_at: datetime | None
    created_at: datetime


class InboxPage(BaseModel):
    items: list[InboxItemOut]
    unread: int
    next_cursor: str | None


class Marked(BaseModel):
    changed: int


class TemplateParts(StorableRequest):
    subject: Source | None = None
    text: Source | None = None
    html: Source | None = None
    sms: Source | None = None
    push_title: Source | None = None
    push_body: Source | None = None


class TemplateIn(StorableRequest):
    key: TemplateKey
    locale: Locale = "default"
    parts: TemplateParts
    sample: dict[str, Any] = Field(default_factory=dict, description="Data the parts must render with.")


class TemplateOut(BaseModel):
    id: uuid.UUID
    key: str
    locale: str
    version: int
    parts: dict[str, Any]
    sample: dict[str, Any]
    updated_by: str
    created_at: datetime
    updated_at: datetime
    versions: list[dict[str, Any]] | None = None


class PlatformTemplateOut(BaseModel):
    key: str
    locale: str
    parts: dict[str, Any]


class TemplateList(BaseModel):
    items: list[TemplateOut]
    platform: list[PlatformTemplateOut]


class PreviewIn(StorableRequest):
    key: TemplateKey | None = None
    locale: Locale | None = None
    parts: TemplateParts | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self) -> PreviewIn:
        if (self.key is None) == (self.parts is None):
            raise ValueError("preview a saved template by key, or unsaved parts, one of them")
        return self


class PreviewOut(BaseModel):
    subject: str | None
    text: str | None
    html: str | None
    sms: str | None
    push_title: str | None
    push_body: str | None


class Choice(StorableRequest):
    category: CategoryName
    channel: Channel
    enabled: bool


class ContactIn(StorableRequest):
    phone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None
    timezone: Annotated[str, StringConstraints(max_length=60)] | None = None
    locale: Locale | None = None
    quiet_start: WallTime | None = None
    quiet_end: WallTime | None = None


class PreferencesIn(StorableRequest):
    choices: list[Choice] = Field(default_factory=list, max_length=200)
    contact: ContactIn | None = None
    scope: Literal["me", "tenant"] = Field("me", description="`tenant` sets the tenant's defaults (admins).")


class PreferencesOut(BaseModel):
    categories: list[dict[str, Any]]
    contact: dict[str, Any]
    tenant_defaults: list[dict[str, Any]]


class PushSubscriptionIn(StorableRequest):
    """The browser's `PushSubscription.toJSON()`."""

    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=1000)]
    expirationTime: int | None = Field(None, ge=0, le=2**53)
    keys: dict[Literal["p256dh", "auth"], Annotated[str, StringConstraints(min_length=8, max_length=200)]]

    @model_validator(mode="after")
    def _both_keys(self) -> PushSubscriptionIn:
        if set(self.keys) != {"p256dh", "auth"}:
            raise ValueError("keys needs p256dh and auth")
        return self


class PushSubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint: str
    created_at: datetime


class PushKeyOut(BaseModel):
    application_server_key: str | None
