"""What several use cases share: the caller's origin, the current user, the security log, cursors."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.user_management.models import SecurityEvent, User
from services.user_management.repository import IdentityRepository
from shared import errors
from shared.auth.permissions import permissions_of
from shared.auth.tokens import Principal


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the security log."""

    ip: str | None
    user_agent: str | None


async def log_security(
    repo: IdentityRepository, user: User, kind: str, origin: Origin, **detail: Any
) -> None:
    await repo.add(
        SecurityEvent(
            id=uuid.uuid4(),
            tenant_id=user.tenant_id,
            user_id=user.id,
            kind=kind,
            ip=origin.ip,
            user_agent=origin.user_agent,
            detail=detail,
        )
    )


async def current_user(repo: IdentityRepository, principal: Principal, permission: str | None = None) -> User:
    """The calling user, who must still be active (a deactivated user's token stops here) and hold
    `permission` by their current role: a token issued before a demotion names the old one."""
    user = await repo.user(principal.user_id)
    if user is None or user.status != "active":
        raise errors.NotAuthenticated("this account is no longer active")
    if permission is not None and permission not in permissions_of(user.role):
        raise errors.PermissionDenied(f"missing permission {permission}")
    return user


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadReference("invalid cursor", code="invalid-cursor") from None
