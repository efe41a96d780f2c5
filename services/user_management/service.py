"""The identity service layer: owns transactions, applies the domain rules, writes events.

Routers call these methods with parsed input and the caller's principal; every method opens its
own transaction scoped to the tenant (row level security does the isolation), and raises problem
errors the app factory turns into RFC 9457 answers.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.user_management import domain
from services.user_management.keys import TokenIssuer
from services.user_management.models import RefreshToken, SecurityEvent, ServiceAccount, Session, Tenant, User
from services.user_management.passwords import Passwords
from services.user_management.schemas import (
    LoginResponse,
    MeUpdate,
    RegisterRequest,
    RegisterResponse,
    SecurityEventOut,
    SecurityLogPage,
    ServiceTokenResponse,
    SessionOut,
    TenantOut,
    TenantUpdate,
    TokenPair,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from services.user_management.settings import Settings
from shared.auth.permissions import permissions_of
from shared.auth.tokens import Principal
from shared.database import SessionFactory, set_tenant, tenant_transaction
from shared.events.envelope import Event
from shared.events.outbox import Outbox
from shared.problems import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    Unauthorized,
    Unprocessable,
)

OUTBOX = Outbox("users", "user_management")
REFRESH_PREFIX = "rt"
INVITE_PREFIX = "inv"
MAX_SETTINGS_BYTES = 16_384


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the security log."""

    ip: str | None
    user_agent: str | None


class AccountLocked(ProblemError):
    status = 423
    problem_type = "account-locked"


def _problem(violation: domain.RuleViolation) -> ProblemError:
    kinds: dict[str, type[ProblemError]] = {
        "forbidden": Forbidden,
        "conflict": Conflict,
        "invalid": Unprocessable,
    }
    return kinds[violation.kind](str(violation))


def _log(session: AsyncSession, user: User, kind: str, client: Client, **detail: Any) -> None:
    session.add(
        SecurityEvent(
            tenant_id=user.tenant_id,
            user_id=user.id,
            kind=kind,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=detail,
        )
    )


class IdentityService:
    def __init__(
        self, sessions: SessionFactory, settings: Settings, issuer: TokenIssuer, passwords: Passwords
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.issuer = issuer
        self.passwords = passwords
        self.lockout = domain.LockoutPolicy(
            settings.login_lockout_threshold, timedelta(minutes=settings.login_lockout_minutes)
        )

    # --- tokens ------------------------------------------------------------------------------

    async def _start_session(self, session: AsyncSession, user: User, client: Client) -> tuple[Session, str]:
        family = Session(
            tenant_id=user.tenant_id, user_id=user.id, ip=client.ip, user_agent=client.user_agent
        )
        session.add(family)
        await session.flush()
        return family, self._new_refresh_token(session, family)

    def _new_refresh_token(self, session: AsyncSession, family: Session) -> str:
        token = domain.new_tenant_token(family.tenant_id, REFRESH_PREFIX)
        session.add(
            RefreshToken(
                tenant_id=family.tenant_id,
                session_id=family.id,
                token_hash=domain.token_digest(token),
                expires_at=utcnow() + timedelta(days=self.settings.refresh_token_ttl_days),
            )
        )
        return token

    def _access_token(self, user: User, plan: str, family: Session) -> str:
        return self.issuer.access_token(
            user.id,
            user.tenant_id,
            user.role,
            plan,
            self.settings.access_token_ttl_seconds,
            session_id=family.id,
        )

    def _pair(self, user: User, plan: str, family: Session, refresh: str) -> dict[str, Any]:
        return {
            "access_token": self._access_token(user, plan, family),
            "refresh_token": refresh,
            "expires_in": self.settings.access_token_ttl_seconds,
        }

    async def _plan(self, session: AsyncSession, tenant_id: uuid.UUID) -> str:
        return (await session.execute(select(Tenant.plan).where(Tenant.id == tenant_id))).scalar_one()

    # --- registration and login --------------------------------------------------------------

    def _check_password(self, password: str, email: str, field: str = "password") -> None:
        problems = domain.password_problems(password, email, self.settings.password_min_length)
        if problems:
            raise Unprocessable(
                f"{field} " + "; ".join(problems),
                title="Weak password",
                errors=[{"loc": ["body", field], "msg": p, "type": "weak_password"} for p in problems],
            )

    async def register(self, body: RegisterRequest, client: Client) -> RegisterResponse:
        email = domain.normalize_email(body.email)
        self._check_password(body.password, email)
        password_hash = await self.passwords.hash(body.password)
        tenant_id = uuid.uuid4()
        try:
            async with tenant_transaction(self.sessions, tenant_id) as session:
                tenant = Tenant(id=tenant_id, name=body.tenant_name, plan="basic", settings={})
                session.add(tenant)
                await session.flush()
                user = User(
                    tenant_id=tenant_id,
                    email=email,
                    full_name=body.full_name,
                    role="owner",
                    status="active",
                    password_hash=password_hash,
                    last_login_at=utcnow(),
                )
                session.add(user)
                await session.flush()
                family, refresh = await self._start_session(session, user, client)
                _log(session, user, "registered", client)
                await OUTBOX.add(
                    session,
                    "tenant.created",
                    {
                        "tenant_id": str(tenant_id),
                        "name": tenant.name,
                        "plan": tenant.plan,
                        "owner_user_id": str(user.id),
                    },
                    tenant_id,
                )
                await OUTBOX.add(
                    session,
                    "user.registered",
                    {
                        "user_id": str(user.id),
                        "email": email,
                        "full_name": user.full_name,
                        "role": "owner",
                        "tenant_name": tenant.name,
                    },
                    tenant_id,
                )
                await session.flush()
                await session.refresh(user)
                await session.refresh(tenant)
                pair = self._pair(user, tenant.plan, family, refresh)
        except IntegrityError:
            raise Conflict("an account with this email already exists") from None
        return RegisterResponse(
            user=UserOut.model_validate(user), tenant=TenantOut.model_validate(tenant), **pair
        )

    async def _find_by_email(self, email: str) -> User | None:
        async with self.sessions() as session, session.begin():
            await session.execute(text("select set_config('app.login_email', :e, true)"), {"e": email})
            return (
                await session.execute(select(User).where(func.lower(User.email) == email))
            ).scalar_one_or_none()

    async def login(self, email: str, password: str, client: Client) -> LoginResponse:
        email = domain.normalize_email(email)
        found = await self._find_by_email(email)
        if found is None or found.status != "active":
            await self.passwords.verify(None, password)
            raise Unauthorized("invalid email or password")
        failure: ProblemError | None = None
        async with tenant_transaction(self.sessions, found.tenant_id) as session:
            user = (
                await session.execute(select(User).where(User.id == found.id).with_for_update())
            ).scalar_one()
            now = utcnow()
            if self.lockout.is_locked(user.locked_until, now):
                _log(session, user, "login_failed", client, reason="locked")
                failure = AccountLocked(
                    "too many failed logins; try again later", locked_until=user.locked_until.isoformat()
                )
            elif not await self.passwords.verify(user.password_hash, password):
                failure = await self._record_failure(session, user, client, now)
            else:
                user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
                family, refresh = await self._start_session(session, user, client)
                _log(session, user, "login_succeeded", client)
                pair = self._pair(user, await self._plan(session, user.tenant_id), family, refresh)
                await session.flush()
                await session.refresh(user)
                response = LoginResponse(user=UserOut.model_validate(user), **pair)
        if failure is not None:
            raise failure
        return response

    async def _record_failure(
        self, session: AsyncSession, user: User, client: Client, now: datetime
    ) -> ProblemError:
        user.failed_logins, user.locked_until = self.lockout.after_failure(user.failed_logins, now)
        _log(session, user, "login_failed", client, reason="bad_password")
        if user.locked_until is None:
            return Unauthorized("invalid email or password")
        _log(session, user, "lockout", client, locked_until=user.locked_until.isoformat())
        await OUTBOX.add(
            session,
            "user.login_failed_locked",
            {"user_id": str(user.id), "email": user.email, "locked_until": user.locked_until.isoformat()},
            user.tenant_id,
        )
        return AccountLocked(
            "too many failed logins; try again later", locked_until=user.locked_until.isoformat()
        )

    async def refresh(self, token: str, client: Client) -> TokenPair:
        tenant_id = domain.tenant_of_token(token, REFRESH_PREFIX)
        if tenant_id is None:
            raise Unauthorized("invalid refresh token")
        digest = domain.token_digest(token)
        reused = False
        async with tenant_transaction(self.sessions, tenant_id) as session:
            claimed = await session.execute(
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
            session_id = claimed.scalar_one_or_none()
            if session_id is None:
                reused = await self._revoke_if_reused(session, digest, client)
                pair = None
            else:
                family = await session.get_one(Session, session_id)
                user = await session.get_one(User, family.user_id)
                if user.status != "active":
                    pair = None
                else:
                    family.last_used_at, family.ip, family.user_agent = utcnow(), client.ip, client.user_agent
                    refresh = self._new_refresh_token(session, family)
                    _log(session, user, "refresh", client, session_id=str(family.id))
                    pair = self._pair(user, await self._plan(session, tenant_id), family, refresh)
        if pair is None:
            raise Unauthorized(
                "refresh token reused; the session was revoked" if reused else "invalid refresh token"
            )
        return TokenPair(**pair)

    async def _revoke_if_reused(self, session: AsyncSession, digest: str, client: Client) -> bool:
        """A spent token presented again means it leaked: revoke its whole family."""
        spent = (
            await session.execute(select(RefreshToken).where(RefreshToken.token_hash == digest))
        ).scalar_one_or_none()
        if spent is None or spent.used_at is None:
            return False
        family = await session.get_one(Session, spent.session_id)
        if family.revoked_at is None:
            family.revoked_at, family.revoked_reason = utcnow(), "reuse_detected"
        user = await session.get_one(User, family.user_id)
        _log(session, user, "refresh_reuse_detected", client, session_id=str(family.id))
        return True

    async def logout(self, token: str, client: Client) -> None:
        tenant_id = domain.tenant_of_token(token, REFRESH_PREFIX)
        if tenant_id is None:
            return
        async with tenant_transaction(self.sessions, tenant_id) as session:
            found = (
                await session.execute(
                    select(RefreshToken).where(RefreshToken.token_hash == domain.token_digest(token))
                )
            ).scalar_one_or_none()
            if found is None:
                return
            family = await session.get_one(Session, found.session_id)
            if family.revoked_at is None:
                family.revoked_at, family.revoked_reason = utcnow(), "logout"
                _log(
                    session,
                    await session.get_one(User, family.user_id),
                    "logout",
                    client,
                    session_id=str(family.id),
                )

    async def accept_invite(self, token: str, password: str, client: Client) -> LoginResponse:
        tenant_id = domain.tenant_of_token(token, INVITE_PREFIX)
        invalid = BadRequest("invalid or expired invitation", problem_type="invalid-invitation")
        if tenant_id is None:
            raise invalid
        async with tenant_transaction(self.sessions, tenant_id) as session:
            user = (
                await session.execute(
                    select(User)
                    .where(User.invite_token_hash == domain.token_digest(token), User.status == "invited")
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if user is None or user.invite_expires_at is None or user.invite_expires_at <= utcnow():
                raise invalid
            self._check_password(password, user.email)
            user.password_hash = await self.passwords.hash(password)
            user.status, user.invite_token_hash, user.invite_expires_at, user.last_login_at = (
                "active",
                None,
                None,
                utcnow(),
            )
            family, refresh = await self._start_session(session, user, client)
            _log(session, user, "invite_accepted", client)
            pair = self._pair(user, await self._plan(session, tenant_id), family, refresh)
            await session.flush()
            await session.refresh(user)
            return LoginResponse(user=UserOut.model_validate(user), **pair)

    # --- service accounts --------------------------------------------------------------------

    async def provision_service_accounts(self) -> None:
        """Create or update the accounts named in configuration (SERVICE_ACCOUNTS)."""
        for account in self.settings.service_accounts:
            secret_hash = await self.passwords.hash(account.secret.get_secret_value())
            async with self.sessions() as session, session.begin():
                existing = await session.get(ServiceAccount, account.client_id)
                if existing is None:
                    session.add(
                        ServiceAccount(
                            client_id=account.client_id, secret_hash=secret_hash, scopes=account.scopes
                        )
                    )
                else:
                    existing.secret_hash, existing.scopes, existing.active = secret_hash, account.scopes, True

    async def service_token(self, client_id: str, secret: str, scope: str | None) -> ServiceTokenResponse:
        async with self.sessions() as session:
            account = await session.get(ServiceAccount, client_id)
        if not await self.passwords.verify(
            account.secret_hash if account and account.active else None, secret
        ):
            raise Unauthorized("invalid client credentials", problem_type="invalid-client")
        assert account is not None
        requested = scope.split() if scope else list(account.scopes)
        if not set(requested) <= set(account.scopes):
            raise Forbidden(
                f"scopes not granted to {client_id}: {sorted(set(requested) - set(account.scopes))}"
            )
        ttl = self.settings.service_token_ttl_seconds
        token = self.issuer.service_token(client_id, requested, ttl)
        return ServiceTokenResponse(access_token=token, expires_in=ttl, scope=" ".join(requested))

    # --- the caller and their sessions -------------------------------------------------------

    @staticmethod
    async def _actor(session: AsyncSession, principal: Principal, permission: str | None = None) -> User:
        """The calling user, who must still be active (a deactivated user's token stops here) and
        hold `permission` by their current role: a token issued before a demotion names the old one."""
        user = await session.get(User, principal.user_id)
        if user is None or user.status != "active":
            raise Unauthorized("this account is no longer active")
        if permission is not None and permission not in permissions_of(user.role):
            raise Forbidden(f"missing permission {permission}")
        return user

    async def me(self, principal: Principal) -> UserOut:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            return UserOut.model_validate(await self._actor(session, principal))

    async def update_me(self, principal: Principal, body: MeUpdate, client: Client) -> UserOut:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            user = await self._actor(session, principal)
            if body.full_name is not None:
                user.full_name = body.full_name
            if body.new_password is not None:
                if not body.current_password or not await self.passwords.verify(
                    user.password_hash, body.current_password
                ):
                    raise Forbidden("current_password is wrong")
                self._check_password(body.new_password, user.email, "new_password")
                user.password_hash = await self.passwords.hash(body.new_password)
                _log(session, user, "password_changed", client)
            user.updated_at = utcnow()
            await session.flush()
            await session.refresh(user)
            return UserOut.model_validate(user)

    async def list_sessions(self, principal: Principal) -> list[SessionOut]:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal)
            rows = (
                await session.execute(
                    select(Session)
                    .where(Session.user_id == principal.user_id, Session.revoked_at.is_(None))
                    .order_by(Session.last_used_at.desc())
                )
            ).scalars()
            current = principal.claims.get("sid")
            return [
                SessionOut(
                    id=s.id,
                    created_at=s.created_at,
                    last_used_at=s.last_used_at,
                    ip=str(s.ip) if s.ip else None,
                    user_agent=s.user_agent,
                    current=str(s.id) == current,
                )
                for s in rows
            ]

    async def revoke_session(self, principal: Principal, session_id: uuid.UUID, client: Client) -> None:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            user = await self._actor(session, principal)
            family = await session.get(Session, session_id)
            if family is None or family.user_id != user.id or family.revoked_at is not None:
                raise NotFound("no such session")
            family.revoked_at, family.revoked_reason = utcnow(), "revoked_by_user"
            _log(session, user, "session_revoked", client, session_id=str(session_id))

    async def security_log(self, principal: Principal, limit: int, cursor: str | None) -> SecurityLogPage:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal)
            query = select(SecurityEvent).where(SecurityEvent.user_id == principal.user_id)
            if cursor:
                at, last_id = _decode_cursor(cursor)
                query = query.where(
                    (SecurityEvent.created_at < at)
                    | ((SecurityEvent.created_at == at) & (SecurityEvent.id < last_id))
                )
            rows = list(
                (
                    await session.execute(
                        query.order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(
                            limit + 1
                        )
                    )
                ).scalars()
            )
        items = [
            SecurityEventOut(
                id=r.id,
                kind=r.kind,
                ip=str(r.ip) if r.ip else None,
                user_agent=r.user_agent,
                detail=r.detail,
                created_at=r.created_at,
            )
            for r in rows[:limit]
        ]
        next_cursor = (
            _encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
        )
        return SecurityLogPage(items=items, next_cursor=next_cursor)

    # --- users of the tenant -----------------------------------------------------------------

    async def list_users(self, principal: Principal, role: str | None, limit: int, offset: int) -> UserPage:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal)
            query = select(User).order_by(User.created_at, User.id).offset(offset).limit(limit + 1)
            if role:
                query = query.where(User.role == role)
            rows = list((await session.execute(query)).scalars())
        return UserPage(
            items=[UserOut.model_validate(u) for u in rows[:limit]],
            next_offset=offset + limit if len(rows) > limit else None,
        )

    async def get_user(self, principal: Principal, user_id: uuid.UUID) -> UserOut:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal)
            return UserOut.model_validate(await _user_or_404(session, user_id))

    async def create_user(self, principal: Principal, body: UserCreate) -> UserOut:
        email = domain.normalize_email(body.email)
        if body.password is not None:
            self._check_password(body.password, email)
        password_hash = await self.passwords.hash(body.password) if body.password else None
        try:
            async with tenant_transaction(self.sessions, principal.tenant_id) as session:
                actor = await self._actor(session, principal, "users:manage")
                try:
                    domain.check_role_change(actor.role, None, body.role)
                except domain.RuleViolation as violation:
                    raise _problem(violation) from None
                user = User(
                    tenant_id=actor.tenant_id,
                    email=email,
                    full_name=body.full_name,
                    role=body.role,
                    status="active" if password_hash else "invited",
                    password_hash=password_hash,
                )
                invite = None
                if password_hash is None:
                    invite = domain.new_tenant_token(actor.tenant_id, INVITE_PREFIX)
                    user.invite_token_hash = domain.token_digest(invite)
                    user.invite_expires_at = utcnow() + timedelta(hours=self.settings.invite_ttl_hours)
                session.add(user)
                await session.flush()
                await self._announce_new_user(session, user, actor, invite)
                await session.refresh(user)
                return UserOut.model_validate(user)
        except IntegrityError:
            raise Conflict("an account with this email already exists") from None

    async def _announce_new_user(
        self, session: AsyncSession, user: User, actor: User, invite: str | None
    ) -> None:
        base = {"user_id": str(user.id), "email": user.email, "full_name": user.full_name, "role": user.role}
        if invite is None:
            tenant_name = (
                await session.execute(select(Tenant.name).where(Tenant.id == user.tenant_id))
            ).scalar_one()
            await OUTBOX.add(session, "user.registered", {**base, "tenant_name": tenant_name}, user.tenant_id)
            return
        url = f"{str(self.settings.public_app_url).rstrip('/')}/accept-invite?token={invite}"
        expires = user.invite_expires_at.isoformat() if user.invite_expires_at else None
        await OUTBOX.add(
            session,
            "user.invited",
            {**base, "invited_by": str(actor.id), "invite_url": url, "expires_at": expires},
            user.tenant_id,
        )

    async def update_user(
        self, principal: Principal, user_id: uuid.UUID, body: UserUpdate, client: Client
    ) -> UserOut:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            actor = await self._actor(session, principal, "users:manage")
            user = await _user_or_404(session, user_id, for_update=True)
            if body.role is not None and body.role != user.role:
                try:
                    domain.check_role_change(actor.role, user.role, body.role)
                    domain.check_keeps_an_owner(
                        user.role, body.role, await _active_owners(session, user.tenant_id)
                    )
                except domain.RuleViolation as violation:
                    raise _problem(violation) from None
                old_role, user.role = user.role, body.role
                _log(
                    session,
                    user,
                    "role_changed",
                    client,
                    old_role=old_role,
                    new_role=body.role,
                    by=str(actor.id),
                )
                await OUTBOX.add(
                    session,
                    "user.role_changed",
                    {
                        "user_id": str(user.id),
                        "old_role": old_role,
                        "new_role": body.role,
                        "changed_by": str(actor.id),
                    },
                    user.tenant_id,
                )
            elif body.full_name is not None and domain.role_rank_above(user.role, actor.role):
                raise Forbidden("you cannot change a user ranked above you")
            if body.full_name is not None:
                user.full_name = body.full_name
            user.updated_at = utcnow()
            await session.flush()
            await session.refresh(user)
            return UserOut.model_validate(user)

    async def deactivate_user(self, principal: Principal, user_id: uuid.UUID, client: Client) -> None:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            actor = await self._actor(session, principal, "users:manage")
            user = await _user_or_404(session, user_id, for_update=True)
            if user.status == "deactivated":
                return
            if domain.role_rank_above(user.role, actor.role):
                raise Forbidden("you cannot remove a user ranked above you")
            try:
                domain.check_keeps_an_owner(user.role, None, await _active_owners(session, user.tenant_id))
            except domain.RuleViolation as violation:
                raise _problem(violation) from None
            now = utcnow()
            user.status, user.updated_at, user.invite_token_hash = "deactivated", now, None
            await session.execute(
                update(Session)
                .where(Session.user_id == user.id, Session.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason="deactivated")
            )
            _log(session, user, "deactivated", client, by=str(actor.id))
            valid_until = now + timedelta(seconds=self.settings.access_token_ttl_seconds)
            await OUTBOX.add(
                session,
                "user.deactivated",
                {"user_id": str(user.id), "by": str(actor.id), "tokens_valid_until": valid_until.isoformat()},
                user.tenant_id,
            )

    # --- tenant ------------------------------------------------------------------------------

    async def current_tenant(self, principal: Principal) -> TenantOut:
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal)
            return TenantOut.model_validate(await session.get_one(Tenant, principal.tenant_id))

    async def update_tenant(self, principal: Principal, body: TenantUpdate) -> TenantOut:
        if body.settings is not None and len(json.dumps(body.settings)) > MAX_SETTINGS_BYTES:
            message = f"must be at most {MAX_SETTINGS_BYTES} bytes as JSON"
            raise Unprocessable(
                f"settings {message}",
                errors=[{"loc": ["body", "settings"], "msg": message, "type": "too_large"}],
            )
        async with tenant_transaction(self.sessions, principal.tenant_id) as session:
            await self._actor(session, principal, "tenant:manage")
            tenant = await session.get_one(Tenant, principal.tenant_id, with_for_update=True)
            if body.name is not None:
                tenant.name = body.name
            if body.settings is not None:
                tenant.settings = body.settings
            tenant.updated_at = utcnow()
            await session.flush()
            await session.refresh(tenant)
            return TenantOut.model_validate(tenant)


async def on_payment(session: AsyncSession, event: Event) -> None:
    """payment.succeeded / payment.failed (from integration): the only way a plan changes."""
    if event.tenant_id is None:
        return
    await set_tenant(session, event.tenant_id)
    tenant = await session.get(Tenant, event.tenant_id, with_for_update=True)
    if tenant is None:
        return
    new_plan = domain.plan_after_payment(event.type, event.data.get("plan"), tenant.plan)
    if new_plan == tenant.plan:
        return
    old_plan, tenant.plan, tenant.updated_at = tenant.plan, new_plan, utcnow()
    reason = "payment_succeeded" if event.type == "payment.succeeded" else "payment_failed"
    await OUTBOX.add(
        session,
        "tenant.plan_changed",
        {
            "old_plan": old_plan,
            "new_plan": new_plan,
            "reason": reason,
            "invoice_id": event.data.get("invoice_id"),
        },
        event.tenant_id,
    )


async def _user_or_404(session: AsyncSession, user_id: uuid.UUID, for_update: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    user = (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
    if user is None:
        raise NotFound("no such user")
    return user


async def _active_owners(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Active owners of the tenant. Locks the tenant row first, so two transactions demoting or
    removing different owners take turns and the second counts after the first committed (else
    both see two owners and the tenant is left with none)."""
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    query = select(func.count()).select_from(User).where(User.role == "owner", User.status == "active")
    return (await session.execute(query)).scalar_one()


def _encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid cursor") from None
