"""Starting sessions and issuing token pairs: what register, login, refresh and accept-invite share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from services.user_management import domain
from services.user_management.keys import TokenIssuer
from services.user_management.models import RefreshToken, Session, User
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import Origin
from shared.clock import utcnow


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: TokenPair


class SessionTokens:
    def __init__(self, issuer: TokenIssuer, access_ttl_seconds: int, refresh_ttl_days: int) -> None:
        self.issuer = issuer
        self.access_ttl_seconds = access_ttl_seconds
        self.refresh_ttl = timedelta(days=refresh_ttl_days)

    async def start(self, repo: IdentityRepository, user: User, origin: Origin) -> TokenPair:
        """A new session (refresh-token family) for `user` and its first token pair."""
        family = await repo.add(
            Session(
                id=uuid.uuid4(),
                tenant_id=user.tenant_id,
                user_id=user.id,
                ip=origin.ip,
                user_agent=origin.user_agent,
            )
        )
        return await self.rotate(repo, user, family)

    async def rotate(self, repo: IdentityRepository, user: User, family: Session) -> TokenPair:
        """A fresh refresh token in `family` and an access token naming the session."""
        refresh = domain.new_tenant_token(family.tenant_id, domain.REFRESH_PREFIX)
        await repo.add(
            RefreshToken(
                id=uuid.uuid4(),
                tenant_id=family.tenant_id,
                session_id=family.id,
                token_hash=domain.token_digest(refresh),
                expires_at=utcnow() + self.refresh_ttl,
            )
        )
        access = self.issuer.access_token(
            user.id,
            user.tenant_id,
            user.role,
            await repo.plan(user.tenant_id),
            self.access_ttl_seconds,
            session_id=family.id,
        )
        return TokenPair(access, refresh, self.access_ttl_seconds)
