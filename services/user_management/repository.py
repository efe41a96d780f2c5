"""The queries of user_management, bound to one transaction's connection (`shared.unit_of_work`).

Row level security scopes every query to the transaction's tenant, so none of these filter by
tenant themselves; the one exception is the login lookup, which runs under the email policy.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.user_management.models import RefreshToken, SecurityEvent, ServiceAccount, Session, Tenant, User
from shared.rows import RowRepository

_USER = "select * from users.users"


class IdentityRepository(RowRepository):
    # --- users ---------------------------------------------------------------------------------

    async def user_by_login_email(self, email: str) -> User | None:
        """The only lookup before the tenant is known: the login policy shows exactly this email."""
        await self.conn.execute("select set_config('app.login_email', $1, true)", email)
        return User.of(await self.conn.fetchrow(f"{_USER} where lower(email) = $1", email))

    async def user(self, user_id: uuid.UUID | None, *, for_update: bool = False) -> User | None:
        lock = " for update" if for_update else ""
        return User.of(await self.conn.fetchrow(f"{_USER} where id = $1{lock}", user_id))

    async def invited_user(self, invite_digest: str) -> User | None:
        query = f"{_USER} where invite_token_hash = $1 and status = 'invited' for update"
        return User.of(await self.conn.fetchrow(query, invite_digest))

    async def users(self, role: str | None, limit: int, offset: int) -> list[User]:
        rows = await self.conn.fetch(
            f"{_USER} where ($1::text is null or role = $1) order by created_at, id limit $2 offset $3",
            role,
            limit,
            offset,
        )
        return [User(**dict(r)) for r in rows]

    async def active_owners(self, tenant_id: uuid.UUID) -> int:
        """Active owners of the tenant. Locks the tenant row first, so two transactions demoting or
        removing different owners take turns and the second counts after the first committed
        (else both see two owners and the tenant is left with none)."""
        await self.conn.execute("select id from users.tenants where id = $1 for update", tenant_id)
        count = await self.conn.fetchval(
            "select count(*) from users.users where role = 'owner' and status = 'active'"
        )
        return int(count)

    # --- tenants -------------------------------------------------------------------------------

    async def tenant(self, tenant_id: uuid.UUID, *, for_update: bool = False) -> Tenant | None:
        lock = " for update" if for_update else ""
        return Tenant.of(
            await self.conn.fetchrow(f"select * from users.tenants where id = $1{lock}", tenant_id)
        )

    async def plan(self, tenant_id: uuid.UUID) -> str:
        return str(await self.conn.fetchval("select plan from users.tenants where id = $1", tenant_id))

    # --- sessions and refresh tokens -----------------------------------------------------------

    async def claim_refresh_token(self, digest: str) -> uuid.UUID | None:
        """Spend an unspent, unexpired token of a live session; exactly one concurrent caller wins."""
        return await self.conn.fetchval(
            """
            update users.refresh_tokens set used_at = now()
            where token_hash = $1 and used_at is null and expires_at > now()
              and session_id in (select id from users.sessions where revoked_at is null)
            returning session_id
            """,
            digest,
        )

    async def refresh_token(self, digest: str) -> RefreshToken | None:
        query = "select * from users.refresh_tokens where token_hash = $1"
        return RefreshToken.of(await self.conn.fetchrow(query, digest))

    async def session_of(self, session_id: uuid.UUID) -> Session | None:
        return Session.of(await self.conn.fetchrow("select * from users.sessions where id = $1", session_id))

    async def live_sessions(self, user_id: uuid.UUID) -> list[Session]:
        rows = await self.conn.fetch(
            "select * from users.sessions where user_id = $1 and revoked_at is null order by last_used_at desc",
            user_id,
        )
        return [Session(**dict(r)) for r in rows]

    async def revoke_sessions(
        self, user_id: uuid.UUID, reason: str, now: datetime, *, keep: uuid.UUID | None = None
    ) -> int:
        status = await self.conn.execute(
            """
            update users.sessions set revoked_at = $2, revoked_reason = $3
            where user_id = $1 and revoked_at is null and ($4::uuid is null or id <> $4)
            """,
            user_id,
            now,
            reason,
            keep,
        )
        return int(status.rsplit(" ", 1)[-1])

    # --- security log --------------------------------------------------------------------------

    async def security_events(
        self, user_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[SecurityEvent]:
        at, last_id = before or (None, None)
        rows = await self.conn.fetch(
            """
            select * from users.security_log
            where user_id = $1 and ($2::timestamptz is null or (created_at, id) < ($2, $3::uuid))
            order by created_at desc, id desc limit $4
            """,
            user_id,
            at,
            last_id,
            limit,
        )
        return [SecurityEvent(**dict(r)) for r in rows]

    # --- service accounts (platform-level, not tenant-owned) -----------------------------------

    async def service_account(self, client_id: str) -> ServiceAccount | None:
        query = "select * from users.service_accounts where client_id = $1"
        return ServiceAccount.of(await self.conn.fetchrow(query, client_id))
