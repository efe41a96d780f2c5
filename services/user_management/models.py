"""The rows of the `users` schema (tables in migrations/versions). Every tenant-owned table has
row level security on `tenant_id`; `service_accounts` is platform-level."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from shared.clock import utcnow
from shared.rows import Row

Address = IPv4Address | IPv6Address | str | None


@dataclass(slots=True)
class Tenant(Row):
    table = "users.tenants"

    id: uuid.UUID
    name: str
    plan: str
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class User(Row):
    table = "users.users"

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    full_name: str
    role: str
    status: str = "active"
    password_hash: str | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None
    invite_token_hash: str | None = None
    invite_expires_at: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Session(Row):
    """One refresh-token family: a signed-in device or browser."""

    table = "users.sessions"

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    ip: Address = None
    user_agent: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    last_used_at: datetime = field(default_factory=utcnow)
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


@dataclass(slots=True)
class RefreshToken(Row):
    table = "users.refresh_tokens"

    id: uuid.UUID
    tenant_id: uuid.UUID
    session_id: uuid.UUID
    token_hash: str
    expires_at: datetime
    created_at: datetime = field(default_factory=utcnow)
    used_at: datetime | None = None


@dataclass(slots=True)
class SecurityEvent(Row):
    table = "users.security_log"

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    ip: Address = None
    user_agent: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class ServiceAccount(Row):
    """Platform-level (not tenant-owned) client-credentials accounts, one per calling service."""

    table = "users.service_accounts"
    key = "client_id"

    client_id: str
    secret_hash: str
    scopes: list[str]
    active: bool = True
    created_at: datetime = field(default_factory=utcnow)
