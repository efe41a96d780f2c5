"""The queries of user_management, bound to one transaction (see `shared.unit_of_work`).

Row level security scopes every query to the transaction's tenant, so none of these filter by
tenant themselves; the one exception is the login lookup, which runs under the email policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.user_management.models import RefreshToken, SecurityEvent, ServiceAccount, Session, Tenant, User

_LOGIN_EMAIL = text("select set_config('app.login_email', :email, true)")


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *rows: Any) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def reload(self, row: Any) -> None:
        """Read server-side defaults (timestamps) back after a flush."""
        await self.session.flush()
        await self.session.refresh(row)

    # --- users ---------------------------------------------------------------------------------

    async def user_by_login_email(self, email: str) -> User | None:
        """The only lookup before the tenant is known: the login policy shows exactly this email."""
        await self.session.execute(_LOGIN_EMAIL, {"email": email})
        return (
            await self.session.execute(select(User).where(func.lower(User.email) == email))
        ).scalar_one_or_none()

    async def user(self, user_id: uuid.UUID | None, *, for_update: bool = False) -> User | None:
        query = select(User).where(User.id == user_id)
        return (
            await self.session.execute(query.with_for_update() if for_update else query)
        ).scalar_one_or_none()

    async def invited_user(self, invite_digest: str) -> User | None:
        query = select(User).where(User.invite_token_hash == invite_digest, User.status == "invited")
        return (await self.session.execute(query.with_for_update())).scalar_one_or_none()

    async def users(self, role: str | None, limit: int, offset: int) -> Sequence[User]:
        query = select(User).order_by(User.created_at, User.id).offset(offset).limit(limit)
        if role:
            query = query.where(User.role == role)
        return (await self.session.execute(query)).scalars().all()

    async def active_owners(self, tenant_id: uuid.UUID) -> int:
        """Active owners of the tenant. Locks the tenant row first, so two transactions demoting or
        removing different owners take turns and the second counts after the first committed
        (else both see two owners and the tenant is left with none)."""
        await self.session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
        query = select(func.count()).select_from(User).where(User.role == "owner", User.status == "active")
        return (await self.session.execute(query)).scalar_one()

    # --- tenants -------------------------------------------------------------------------------

    async def tenant(self, tenant_id: uuid.UUID, *, for_update: bool = False) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id, with_for_update=for_update)

    async def plan(self, tenant_id: uuid.UUID) -> str:
        return (await self.session.execute(select(Tenant.plan).where(Tenant.id == tenant_id))).scalar_one()

    # --- sessions and refresh tokens -----------------------------------------------------------

    async def claim_refresh_token(self, digest: str) -> uuid.UUID | None:
        """Spend an unspent, unexpired token of a live session; exactly one concurrent caller wins."""
        claimed = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.expires_at > func.now(),
                RefreshToken.session_id.in_(select(Session.id).where(Session.revoked_at.is_(None))),
            )
            .values(used_at=func.now())
            .returning(RefreshToken.session_id)
        )
        return claimed.scalar_one_or_none()

    async def refresh_token(self, digest: str) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.token_hash == digest)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def session_of(self, session_id: uuid.UUID) -> Session | None:
        return await self.session.get(Session, session_id)

    async def live_sessions(self, user_id: uuid.UUID) -> Sequence[Session]:
        query = (
            select(Session)
            .where(Session.user_id == user_id, Session.revoked_at.is_(None))
            .order_by(Session.last_used_at.desc())
        )
        return (await self.session.execute(query)).scalars().all()

    async def revoke_sessions(
        self, user_id: uuid.UUID, reason: str, now: datetime, *, keep: uuid.UUID | None = None
    ) -> int:
        query = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
        if keep is not None:
            query = query.where(Session.id != keep)
        result = await self.session.execute(query.values(revoked_at=now, revoked_reason=reason))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- security log --------------------------------------------------------------------------

    async def security_events(
        self, user_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> Sequence[SecurityEvent]:
        query = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
        if before:
            at, last_id = before
            query = query.where(
                (SecurityEvent.created_at < at)
                | ((SecurityEvent.created_at == at) & (SecurityEvent.id < last_id))
            )
        query = query.order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    # --- service accounts (platform-level, not tenant-owned) -----------------------------------

    async def service_account(self, client_id: str) -> ServiceAccount | None:
        return await self.session.get(ServiceAccount, client_id)
