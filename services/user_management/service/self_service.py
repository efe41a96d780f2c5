"""What a signed-in user does for themselves: profile, password, sessions, security log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.user_management import domain
from services.user_management.events import UserPasswordChanged
from services.user_management.models import SecurityEvent, Session, User
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import (
    Origin,
    current_user,
    decode_cursor,
    encode_cursor,
    log_security,
)
from services.user_management.service.credentials import SUCCESS, Credentials
from shared import errors
from shared.auth.tokens import Principal
from shared.clock import utcnow
from shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SessionView:
    session: Session
    current: bool


@dataclass(frozen=True)
class SecurityLogPage:
    items: list[SecurityEvent]
    next_cursor: str | None


class SelfService:
    def __init__(
        self,
        uow: UnitOfWork[IdentityRepository],
        passwords: Passwords,
        credentials: Credentials,
        password_min_length: int,
    ) -> None:
        self.uow = uow
        self.passwords = passwords
        self.credentials = credentials
        self.password_min_length = password_min_length

    async def me(self, principal: Principal) -> User:
        async with self.uow(principal.tenant_id) as work:
            return await current_user(work.repo, principal)

    async def rename(self, principal: Principal, full_name: str) -> User:
        async with self.uow(principal.tenant_id) as work:
            user = await current_user(work.repo, principal)
            return await work.repo.update(user, full_name=full_name, updated_at=utcnow())

    async def change_password(
        self, principal: Principal, current_password: str | None, new_password: str, origin: Origin
    ) -> User:
        """Needs the current password; a wrong one counts toward the lockout like a failed login.
        Every other session of the user is revoked (the one making the change stays signed in)."""
        if not current_password:
            raise errors.InvalidInput(
                "current_password is required to change the password",
                errors=[{"loc": ["body", "current_password"], "msg": "required", "type": "missing"}],
            )
        async with self.uow(principal.tenant_id) as work:
            before = await current_user(work.repo, principal)
        domain.check_password(new_password, before.email, self.password_min_length, "new_password")
        matched = await self.credentials.matches(before, current_password)
        new_hash = await self.passwords.hash(new_password) if matched else None
        wrong = errors.PermissionDenied("current_password is wrong", code="wrong-password")
        async with self.uow(principal.tenant_id) as work:
            user = await work.repo.user(principal.user_id, for_update=True)
            failure = await self.credentials.settle(
                work,
                user,
                before.password_hash,
                matched,
                origin,
                wrong,
                failure_kind="password_change_failed",
            )
            if failure is None:
                assert user is not None and new_hash is not None
                now = utcnow()
                user = await work.repo.update(user, **SUCCESS, password_hash=new_hash, updated_at=now)
                keep = _session_id(principal)
                revoked = await work.repo.revoke_sessions(user.id, "password_changed", now, keep=keep)
                await log_security(work.repo, user, "password_changed", origin, sessions_revoked=revoked)
                await work.emit(
                    UserPasswordChanged(user_id=user.id, email=user.email, sessions_revoked=revoked)
                )
        if failure is not None:
            raise failure
        return user

    async def sessions(self, principal: Principal) -> list[SessionView]:
        async with self.uow(principal.tenant_id) as work:
            user = await current_user(work.repo, principal)
            current = _session_id(principal)
            return [SessionView(s, s.id == current) for s in await work.repo.live_sessions(user.id)]

    async def revoke_session(self, principal: Principal, session_id: uuid.UUID, origin: Origin) -> None:
        async with self.uow(principal.tenant_id) as work:
            user = await current_user(work.repo, principal)
            family = await work.repo.session_of(session_id)
            if family is None or family.user_id != user.id or family.revoked_at is not None:
                raise errors.NotFound("no such session")
            await work.repo.update(family, revoked_at=utcnow(), revoked_reason="revoked_by_user")
            await log_security(work.repo, user, "session_revoked", origin, session_id=str(session_id))

    async def security_log(self, principal: Principal, limit: int, cursor: str | None) -> SecurityLogPage:
        before: tuple[datetime, uuid.UUID] | None = decode_cursor(cursor) if cursor else None
        async with self.uow(principal.tenant_id) as work:
            user = await current_user(work.repo, principal)
            rows = list(await work.repo.security_events(user.id, limit + 1, before))
        more = len(rows) > limit
        rows = rows[:limit]
        return SecurityLogPage(rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)


def _session_id(principal: Principal) -> uuid.UUID | None:
    sid = principal.claims.get("sid")
    try:
        return uuid.UUID(str(sid)) if sid else None
    except ValueError:
        return None
