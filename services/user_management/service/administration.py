"""Managing the users of a tenant: list, add or invite, change roles, deactivate, invitation links."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from asyncpg import UniqueViolationError

from services.user_management import domain
from services.user_management.events import UserDeactivated, UserInvited, UserRegistered, UserRoleChanged
from services.user_management.models import User
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import Origin, current_user, log_security
from shared import errors
from shared.auth.tokens import Principal
from shared.clock import utcnow
from shared.unit_of_work import UnitOfWork, Work


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    next_offset: int | None


@dataclass(frozen=True)
class InvitationLink:
    url: str
    expires_at: datetime


class UserAdministration:
    def __init__(
        self,
        uow: UnitOfWork[IdentityRepository],
        passwords: Passwords,
        *,
        password_min_length: int,
        invite_ttl: timedelta,
        access_token_ttl: timedelta,
        public_app_url: str,
    ) -> None:
        self.uow = uow
        self.passwords = passwords
        self.password_min_length = password_min_length
        self.invite_ttl = invite_ttl
        self.access_token_ttl = access_token_ttl
        self.public_app_url = public_app_url.rstrip("/")

    async def list(self, principal: Principal, role: str | None, limit: int, offset: int) -> UserPage:
        """Also for peers with a service token (notification finds a tenant's admins)."""
        async with self.uow(principal.tenant_id) as work:
            if not principal.is_service:
                await current_user(work.repo, principal)
            rows = list(await work.repo.users(role, limit + 1, offset))
        return UserPage(rows[:limit], offset + limit if len(rows) > limit else None)

    async def get(self, principal: Principal, user_id: uuid.UUID) -> User:
        """Also for peers with a service token (notification looks up a recipient's address)."""
        async with self.uow(principal.tenant_id) as work:
            if not principal.is_service:
                await current_user(work.repo, principal)
            return await _user_or_404(work.repo, user_id)

    async def create(
        self, principal: Principal, email: str, full_name: str, role: str, password: str | None
    ) -> User:
        """Active at once with a password; otherwise invited (`user.invited`, no link in it)."""
        email = domain.normalize_email(email)
        if password is not None:
            domain.check_password(password, email, self.password_min_length)
        password_hash = await self.passwords.hash(password) if password else None
        try:
            async with self.uow(principal.tenant_id) as work:
                actor = await current_user(work.repo, principal, "users:manage")
                domain.check_role_change(actor.role, None, role)
                user = User(
                    id=uuid.uuid4(),
                    tenant_id=actor.tenant_id,
                    email=email,
                    full_name=full_name,
                    role=role,
                    status="active" if password_hash else "invited",
                    password_hash=password_hash,
                    invite_expires_at=None if password_hash else utcnow() + self.invite_ttl,
                )
                user = await work.repo.add(user)
                await self._announce(work, user, actor)
                return user
        except UniqueViolationError:
            raise errors.Conflict("an account with this email already exists") from None

    async def _announce(self, work: Work[IdentityRepository], user: User, actor: User) -> None:
        if user.status == "invited":
            assert user.invite_expires_at is not None
            await work.emit(
                UserInvited(
                    user_id=user.id,
                    email=user.email,
                    full_name=user.full_name,
                    role=user.role,
                    invited_by=actor.id,
                    expires_at=user.invite_expires_at,
                )
            )
            return
        tenant = await work.repo.tenant(user.tenant_id)
        assert tenant is not None
        await work.emit(
            UserRegistered(
                user_id=user.id,
                email=user.email,
                full_name=user.full_name,
                role=user.role,
                tenant_name=tenant.name,
            )
        )

    async def invitation_link(self, principal: Principal, user_id: uuid.UUID) -> InvitationLink:
        """A fresh one-time link for an invited user (asked for by notification with a service
        token); it voids every earlier link and expires with the invitation."""
        async with self.uow(principal.tenant_id) as work:
            user = await work.repo.user(user_id, for_update=True)
            if user is None:
                raise errors.NotFound("no such user")
            if user.status != "invited":
                raise errors.Conflict(f"the user is {user.status}, not invited")
            if user.invite_expires_at is None or user.invite_expires_at <= utcnow():
                raise errors.Gone("the invitation has expired; invite the user again")
            token = domain.new_tenant_token(user.tenant_id, domain.INVITE_PREFIX)
            await work.repo.update(user, invite_token_hash=domain.token_digest(token))
            return InvitationLink(
                f"{self.public_app_url}/accept-invite?token={token}", user.invite_expires_at
            )

    async def update(
        self,
        principal: Principal,
        user_id: uuid.UUID,
        full_name: str | None,
        role: str | None,
        origin: Origin,
    ) -> User:
        async with self.uow(principal.tenant_id) as work:
            actor = await current_user(work.repo, principal, "users:manage")
            user = await _user_or_404(work.repo, user_id, for_update=True)
            if role is not None and role != user.role:
                domain.check_role_change(actor.role, user.role, role)
                domain.check_keeps_an_owner(user.role, role, await work.repo.active_owners(user.tenant_id))
                old_role = user.role
                user = await work.repo.update(user, role=role)
                await log_security(
                    work.repo,
                    user,
                    "role_changed",
                    origin,
                    old_role=old_role,
                    new_role=role,
                    by=str(actor.id),
                )
                await work.emit(
                    UserRoleChanged(user_id=user.id, old_role=old_role, new_role=role, changed_by=actor.id)
                )
            elif full_name is not None:
                domain.check_may_manage(actor.role, user.role)
            changes = {"full_name": full_name} if full_name is not None else {}
            return await work.repo.update(user, **changes, updated_at=utcnow())

    async def deactivate(self, principal: Principal, user_id: uuid.UUID, origin: Origin) -> None:
        """The row stays for the audit trail; sessions are revoked and the gateway is told to
        refuse the remaining access tokens (`tokens_valid_until`)."""
        async with self.uow(principal.tenant_id) as work:
            actor = await current_user(work.repo, principal, "users:manage")
            user = await _user_or_404(work.repo, user_id, for_update=True)
            if user.status == "deactivated":
                return
            domain.check_may_manage(actor.role, user.role, "remove")
            domain.check_keeps_an_owner(user.role, None, await work.repo.active_owners(user.tenant_id))
            now = utcnow()
            user = await work.repo.update(user, status="deactivated", updated_at=now, invite_token_hash=None)
            await work.repo.revoke_sessions(user.id, "deactivated", now)
            await log_security(work.repo, user, "deactivated", origin, by=str(actor.id))
            await work.emit(
                UserDeactivated(user_id=user.id, by=actor.id, tokens_valid_until=now + self.access_token_ttl)
            )


async def _user_or_404(repo: IdentityRepository, user_id: uuid.UUID, for_update: bool = False) -> User:
    user = await repo.user(user_id, for_update=for_update)
    if user is None:
        raise errors.NotFound("no such user")
    return user
