"""Identity rules with no framework imports: passwords, who may manage whom, lockout, tokens, plans.

Rules raise the shared domain errors (`shared.errors`); the API layer maps them to problems.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import errors
from shared.auth.permissions import PLANS, ROLES, role_rank

REFRESH_PREFIX = "rt"
INVITE_PREFIX = "inv"


class AccountLocked(errors.Locked):
    code = "account-locked"

    def __init__(self, locked_until: datetime) -> None:
        super().__init__("too many failed logins; try again later", locked_until=locked_until.isoformat())


class WeakPassword(errors.InvalidInput):
    def __init__(self, field: str, problems: list[str]) -> None:
        super().__init__(
            f"{field} " + "; ".join(problems),
            errors=[{"loc": ["body", field], "msg": p, "type": "weak_password"} for p in problems],
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def password_problems(password: str, email: str, min_length: int) -> list[str]:
    """Why a password is refused (empty when acceptable)."""
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if len(password) > 128:
        problems.append("must be at most 128 characters")
    lowered = password.lower()
    local = normalize_email(email).split("@", 1)[0]
    if lowered == normalize_email(email) or (len(local) >= 3 and local in lowered):
        problems.append("must not contain your email address")
    if len(set(password)) < 4:
        problems.append("must use more than a few distinct characters")
    return problems


def check_password(password: str, email: str, min_length: int, field: str = "password") -> None:
    problems = password_problems(password, email, min_length)
    if problems:
        raise WeakPassword(field, problems)


def may_manage(actor_role: str, target_role: str) -> bool:
    """An owner manages everyone; anyone else only users ranked strictly below them (so an admin
    can neither demote nor remove another admin)."""
    return actor_role == "owner" or role_rank(target_role) < role_rank(actor_role)


def check_role_change(actor_role: str, target_role: str | None, new_role: str) -> None:
    """Who may grant what: only an owner grants admin or owner, and only a user the actor may
    manage can be changed. `target_role` is None when creating a user."""
    if new_role not in ROLES:
        raise errors.InvalidInput(f"unknown role {new_role!r}")
    if new_role in ("admin", "owner") and actor_role != "owner":
        raise errors.PermissionDenied("only an owner may grant the admin or owner role")
    if target_role is not None and not may_manage(actor_role, target_role):
        raise errors.PermissionDenied("only an owner may change a user of your rank or above")


def check_may_manage(actor_role: str, target_role: str, action: str = "change") -> None:
    if not may_manage(actor_role, target_role):
        raise errors.PermissionDenied(f"only an owner may {action} a user of your rank or above")


def check_keeps_an_owner(target_role: str, new_role: str | None, active_owners: int) -> None:
    """The last active owner can be neither demoted nor removed (`new_role` None = removal)."""
    if target_role == "owner" and new_role != "owner" and active_owners <= 1:
        raise errors.Conflict("the tenant's last owner cannot be demoted or removed")


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    duration: timedelta

    def after_failure(self, failures_before: int, now: datetime) -> tuple[int, datetime | None]:
        """New failure count and, when the threshold is reached, the lock's end."""
        failures = failures_before + 1
        if failures >= self.threshold:
            return 0, now + self.duration
        return failures, None

    @staticmethod
    def is_locked(locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and locked_until > now


def new_tenant_token(tenant_id: uuid.UUID, prefix: str) -> str:
    """An opaque token that names its tenant, so lookups run under row level security."""
    return f"{prefix}_{tenant_id.hex}_{secrets.token_urlsafe(32)}"


def tenant_of_token(token: str, prefix: str) -> uuid.UUID | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    try:
        return uuid.UUID(hex=parts[1])
    except ValueError:
        return None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def plan_after_payment(event_type: str, paid_plan: str | None, current: str) -> str:
    """A successful payment moves the tenant to the paid plan; a failed one falls back to basic."""
    if event_type == "payment.succeeded":
        if paid_plan not in PLANS:
            raise errors.InvalidInput(f"unknown plan {paid_plan!r}")
        return paid_plan
    return PLANS[0]
