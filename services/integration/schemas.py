"""Request and response models of the integration API (HTTP only). Credentials appear in
requests only: no response model has a field that could carry one."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.text import IsoDay, StorableRequest, trimmed

Name = trimmed(200)
AccountId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
SecretValue = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
OptionValue = Annotated[str, StringConstraints(max_length=500)]
Interval = Annotated[int, Field(ge=15, le=7 * 24 * 60, description="Minutes between scheduled syncs.")]


class FieldOut(BaseModel):
    name: str
    description: str
    required: bool


class ProviderOut(BaseModel):
    name: str
    title: str
    kind: str
    auth: str
    connectable: bool
    channel: str | None
    credentials: list[FieldOut]
    options: list[FieldOut]
    scopes: list[str]
    trailing_days: int


class ProviderList(BaseModel):
    items: list[ProviderOut]


class ConnectionIn(StorableRequest):
    provider: str = Field(description="See GET /integrations/providers.", max_length=40)
    name: Name
    account_id: AccountId
    credentials: dict[Annotated[str, StringConstraints(max_length=60)], SecretValue | int] = Field(
        description="Write-only: sealed at rest, never returned.", max_length=20
    )
    options: dict[Annotated[str, StringConstraints(max_length=60)], OptionValue] = Field(
        default_factory=dict, max_length=20
    )
    sync_interval_minutes: Interval | None = None


class ConnectionUpdate(StorableRequest):
    name: Name | None = None
    credentials: dict[Annotated[str, StringConstraints(max_length=60)], SecretValue | int] | None = Field(
        None,
        description="Replaces every credential; a connection needing reauthorization becomes active.",
        max_length=20,
    )
    options: dict[Annotated[str, StringConstraints(max_length=60)], OptionValue] | None = Field(
        None, max_length=20
    )
    sync_interval_minutes: Interval | None = None
    status: Literal["active", "disabled"] | None = None


class ConnectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    name: str
    account_id: str
    status: str
    options: dict[str, Any]
    token_expires_at: datetime | None
    sync_interval_minutes: int | None
    next_sync_at: datetime | None
    synced_through: date | None
    last_sync_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class ConnectionPage(BaseModel):
    items: list[ConnectionOut]
    next_cursor: str | None


class SyncIn(StorableRequest):
    from_: IsoDay | None = Field(None, alias="from", description="Default: the incremental window.")
    to: IsoDay | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SyncOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connection_id: uuid.UUID
    trigger: str
    status: str
    window_from: date
    window_to: date
    checkpoint: date | None
    rows: int
    pages: int
    attempts: int
    runner: str | None = Field(description="The replica (host:pid) that ran it last.")
    error: str | None = Field(
        description="The last attempt's failure: kept while the sync retries, cleared when it succeeds."
    )
    requested_by: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncAccepted(SyncOut):
    status_url: str


class SyncPage(BaseModel):
    items: list[SyncOut]
    next_cursor: str | None


class AuthorizeIn(StorableRequest):
    name: Name
    account_id: AccountId


class AuthorizeOut(BaseModel):
    authorization_url: str
    state: str
    expires_at: datetime


class MauticCredentialsOut(BaseModel):
    """For campaign_management's service token only (scope integrations:credentials)."""

    connection_id: uuid.UUID
    base_url: str
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class CheckoutIn(StorableRequest):
    plan: Literal["pro", "enterprise"]


class CheckoutOut(BaseModel):
    session_id: str
    url: str


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
