"""The events user_management emits (DESIGN §4), as typed payloads. None carries a secret."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.events.envelope import EventData


class TenantCreated(EventData):
    event_type = "tenant.created"
    tenant_id: UUID
    name: str
    plan: str
    owner_user_id: UUID


class TenantPlanChanged(EventData):
    event_type = "tenant.plan_changed"
    old_plan: str
    new_plan: str
    reason: str
    invoice_id: str | None = None


class UserRegistered(EventData):
    event_type = "user.registered"
    user_id: UUID
    email: str
    full_name: str
    role: str
    tenant_name: str


class UserInvited(EventData):
    """The one-time link is not here: notification mints it with
    `POST /api/v1/users/{id}/invitation-link` (service token, scope `users:invite`)."""

    event_type = "user.invited"
    user_id: UUID
    email: str
    full_name: str
    role: str
    invited_by: UUID
    expires_at: datetime


class UserRoleChanged(EventData):
    event_type = "user.role_changed"
    user_id: UUID
    old_role: str
    new_role: str
    changed_by: UUID


class UserDeactivated(EventData):
    event_type = "user.deactivated"
    user_id: UUID
    by: UUID
    tokens_valid_until: datetime


class UserLoginFailedLocked(EventData):
    event_type = "user.login_failed_locked"
    user_id: UUID
    email: str
    locked_until: datetime


class UserPasswordChanged(EventData):
    """Every other session of the user was revoked; notification sends a security notice."""

    event_type = "user.password_changed"
    user_id: UUID
    email: str
    sessions_revoked: int
