"""Signing in and out: register, login, refresh rotation with reuse detection, logout, invitations."""

from __future__ import annotations

import uuid

from asyncpg import UniqueViolationError

from services.user_management import domain
from services.user_management.events import TenantCreated, UserRegistered
from services.user_management.models import Tenant, User
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import Origin, log_security
from services.user_management.service.credentials import SUCCESS, Credentials
from services.user_management.service.tokens import SessionTokens, SignedIn, TokenPair
from shared import errors
from shared.auth.permissions import DEFAULT_PLAN
from shared.clock import utcnow
from shared.unit_of_work import UnitOfWork

INVALID_LOGIN = "invalid email or password"


class Authentication:
    def __init__(
        self,
        uow: UnitOfWork[IdentityRepository],
        tokens: SessionTokens,
        passwords: Passwords,
        credentials: Credentials,
        password_min_length: int,
    ) -> None:
        self.uow = uow
        self.tokens = tokens
        self.passwords = passwords
        self.credentials = credentials
        self.password_min_length = password_min_length

    async def register(
        self, tenant_name: str, email: str, password: str, full_name: str, origin: Origin
    ) -> tuple[SignedIn, Tenant]:
        """A new tenant on the default plan, its owner, and the owner's first session."""
        email = domain.normalize_email(email)
        domain.check_password(password, email, self.password_min_length)
        password_hash = await self.passwords.hash(password)
        tenant_id = uuid.uuid4()
        try:
            async with self.uow(tenant_id) as work:
                tenant = await work.repo.add(Tenant(id=tenant_id, name=tenant_name, plan=DEFAULT_PLAN))
                user = User(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    email=email,
                    full_name=full_name,
                    role="owner",
                    status="active",
                    password_hash=password_hash,
                    last_login_at=utcnow(),
                )
                user = await work.repo.add(user)
                pair = await self.tokens.start(work.repo, user, origin)
                await log_security(work.repo, user, "registered", origin)
                await work.emit(
                    TenantCreated(
                        tenant_id=tenant_id, name=tenant_name, plan=tenant.plan, owner_user_id=user.id
                    )
                )
                await work.emit(
                    UserRegistered(
                        user_id=user.id,
                        email=email,
                        full_name=full_name,
                        role="owner",
                        tenant_name=tenant_name,
                    )
                )
        except UniqueViolationError:
            raise errors.Conflict("an account with this email already exists") from None
        return SignedIn(user, pair), tenant

    async def login(self, email: str, password: str, origin: Origin) -> SignedIn:
        email = domain.normalize_email(email)
        async with self.uow(None) as work:
            found = await work.repo.user_by_login_email(email)
        if found is None or found.status != "active":
            await self.passwords.verify(None, password)  # the same hashing time as a wrong password
            raise errors.NotAuthenticated(INVALID_LOGIN)
        matched = await self.credentials.matches(found, password)
        async with self.uow(found.tenant_id) as work:
            user = await work.repo.user(found.id, for_update=True)
            failure = await self.credentials.settle(
                work, user, found.password_hash, matched, origin, errors.NotAuthenticated(INVALID_LOGIN)
            )
            if failure is None:
                assert user is not None
                user = await work.repo.update(user, **SUCCESS, last_login_at=utcnow())
                pair = await self.tokens.start(work.repo, user, origin)
                await log_security(work.repo, user, "login_succeeded", origin)
        if failure is not None:
            raise failure
        return SignedIn(user, pair)

    async def refresh(self, token: str, origin: Origin) -> TokenPair:
        """Spend `token` for a new pair. A spent token presented again means it leaked: its whole
        family is revoked (so is the loser of a concurrent race, which we accept as the safe side)."""
        tenant_id = domain.tenant_of_token(token, domain.REFRESH_PREFIX)
        if tenant_id is None:
            raise errors.NotAuthenticated("invalid refresh token")
        digest = domain.token_digest(token)
        reused = False
        pair = None
        async with self.uow(tenant_id) as work:
            session_id = await work.repo.claim_refresh_token(digest)
            if session_id is None:
                reused = await self._revoke_if_reused(work.repo, digest, origin)
            else:
                family = await work.repo.session_of(session_id)
                assert family is not None
                user = await work.repo.user(family.user_id)
                if user is not None and user.status == "active":
                    family = await work.repo.update(
                        family, last_used_at=utcnow(), ip=origin.ip, user_agent=origin.user_agent
                    )
                    pair = await self.tokens.rotate(work.repo, user, family)
                    await log_security(work.repo, user, "refresh", origin, session_id=str(family.id))
        if pair is None:
            raise errors.NotAuthenticated(
                "refresh token reused; the session was revoked" if reused else "invalid refresh token"
            )
        return pair

    async def _revoke_if_reused(self, repo: IdentityRepository, digest: str, origin: Origin) -> bool:
        spent = await repo.refresh_token(digest)
        if spent is None or spent.used_at is None:
            return False
        family = await repo.session_of(spent.session_id)
        assert family is not None
        if family.revoked_at is None:
            family = await repo.update(family, revoked_at=utcnow(), revoked_reason="reuse_detected")
        user = await repo.user(family.user_id)
        assert user is not None
        await log_security(repo, user, "refresh_reuse_detected", origin, session_id=str(family.id))
        return True

    async def logout(self, token: str, origin: Origin) -> None:
        """Revoke the session `token` belongs to; an unknown token is quietly accepted."""
        tenant_id = domain.tenant_of_token(token, domain.REFRESH_PREFIX)
        if tenant_id is None:
            return
        async with self.uow(tenant_id) as work:
            found = await work.repo.refresh_token(domain.token_digest(token))
            family = await work.repo.session_of(found.session_id) if found else None
            if family is None or family.revoked_at is not None:
                return
            await work.repo.update(family, revoked_at=utcnow(), revoked_reason="logout")
            user = await work.repo.user(family.user_id)
            assert user is not None
            await log_security(work.repo, user, "logout", origin, session_id=str(family.id))

    async def accept_invite(self, token: str, password: str, origin: Origin) -> SignedIn:
        tenant_id = domain.tenant_of_token(token, domain.INVITE_PREFIX)
        if tenant_id is None:
            raise _invalid_invitation()
        digest = domain.token_digest(token)
        async with self.uow(tenant_id) as work:
            invited = await work.repo.invited_user(digest)
        if invited is None or _expired(invited):
            raise _invalid_invitation()
        domain.check_password(password, invited.email, self.password_min_length)
        password_hash = await self.passwords.hash(password)
        async with self.uow(tenant_id) as work:
            user = await work.repo.invited_user(digest)
            if user is None or _expired(user):
                raise _invalid_invitation()
            user = await work.repo.update(
                user,
                password_hash=password_hash,
                status="active",
                last_login_at=utcnow(),
                invite_token_hash=None,
                invite_expires_at=None,
            )
            pair = await self.tokens.start(work.repo, user, origin)
            await log_security(work.repo, user, "invite_accepted", origin)
        return SignedIn(user, pair)


def _expired(user: User) -> bool:
    return user.invite_expires_at is None or user.invite_expires_at <= utcnow()


def _invalid_invitation() -> errors.BadReference:
    return errors.BadReference("invalid or expired invitation", code="invalid-invitation")
