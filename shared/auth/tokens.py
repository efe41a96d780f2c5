"""Verifying our asymmetric JWTs against the JWKS of user_management (DESIGN §5).

Only RS256 and ES256 are accepted, and each key only with its own algorithm, so `alg: none` and
HS256-signed-with-the-public-key forgeries fail. An unknown `kid` triggers one JWKS refetch, at most
once every `min_refetch_seconds`, so a flood of forged kids cannot hammer user_management.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import jwt
from jwt import PyJWK

from shared.auth.permissions import permissions_of

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti", "typ")


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show to the caller."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (`typ=access`) or a service account (`typ=service`)."""

    subject: str
    token_type: str
    tenant_id: UUID | None
    role: str | None
    plan: str | None
    permissions: frozenset[str]
    token_id: str
    expires_at: int
    claims: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def user_id(self) -> UUID | None:
        return UUID(self.subject) if self.token_type == "access" else None

    @property
    def is_service(self) -> bool:
        return self.token_type == "service"

    @property
    def tenant(self) -> UUID:
        """The tenant a route acts in; `require()` has refused any principal without one."""
        assert self.tenant_id is not None
        return self.tenant_id

    @property
    def actor(self) -> str:
        """Who acted, for history and audit: a user's id, or `service:<name>`."""
        return f"service:{self.subject}" if self.is_service else self.subject

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    token_type = claims["typ"]
    tenant = claims.get("tid")
    if token_type == "access":
        role = claims.get("role")
        if not tenant or not role:
            raise TokenError("access token without tenant or role")
        try:
            UUID(str(claims["sub"]))
        except ValueError:
            raise TokenError("malformed subject claim") from None
        permissions = permissions_of(role)
    else:
        role = None
        permissions = frozenset(str(claims.get("scope", "")).split())
    try:
        tenant_id = UUID(tenant) if tenant else None
    except ValueError:
        raise TokenError("malformed tenant claim") from None
    return Principal(
        subject=str(claims["sub"]),
        token_type=token_type,
        tenant_id=tenant_id,
        role=role,
        plan=claims.get("plan"),
        permissions=permissions,
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
        claims=claims,
    )


class JwksCache:
    """Public keys by `kid`, fetched from a JWKS URL and refreshed on an unknown `kid`."""

    def __init__(
        self,
        jwks_url: str,
        http: httpx.AsyncClient | None = None,
        *,
        max_age_seconds: float = 300,
        min_refetch_seconds: float = 5,
    ) -> None:
        self.jwks_url = jwks_url
        self._http = http
        self._own_http = http is None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._max_age = max_age_seconds
        self._min_refetch = min_refetch_seconds
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        now = time.monotonic()
        known = self._keys.get(kid)
        if known is not None and now - self._fetched_at < self._max_age:
            return known
        async with self._lock:
            now = time.monotonic()
            stale = kid not in self._keys or now - self._fetched_at >= self._max_age
            if stale and now - self._attempted_at >= self._min_refetch:
                await self._refresh()
        if kid not in self._keys:
            raise TokenError("unknown signing key" if self._keys else "signing keys unavailable")
        return self._keys[kid]

    def current(self, kid: str) -> bool:
        """Whether `kid` is published in a JWKS younger than max_age (no fetch: a stale answer
        sends the caller down the full path, which refreshes)."""
        return kid in self._keys and time.monotonic() - self._fetched_at < self._max_age

    def load(self, document: dict[str, Any]) -> None:
        keys: dict[str, PyJWK] = {}
        for jwk in document.get("keys", []):
            alg, kid = jwk.get("alg"), jwk.get("kid")
            if alg in ALLOWED_ALGORITHMS and kid and jwk.get("use", "sig") == "sig":
                keys[kid] = PyJWK(jwk, algorithm=alg)
        self._keys = keys
        self._fetched_at = self._attempted_at = time.monotonic()

    async def _refresh(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=3.0)
        self._attempted_at = time.monotonic()
        try:
            response = await self._http.get(self.jwks_url)
            response.raise_for_status()
            self.load(response.json())
        except (httpx.HTTPError, ValueError) as error:
            self._fetched_at = time.monotonic() - self._max_age + self._min_refetch
            if not self._keys:
                raise TokenError("signing keys unavailable") from error

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()


class VerifiedTokens:
    """Tokens already verified, until their `exp`: a bounded map, oldest entry evicted first.

    Verifying an RS256 token costs about 0.3 ms of CPU here (most of it PyJWT's parsing), on every
    request of every service. A token is immutable and its signature, audience and issuer do not
    change, so the verdict holds until it expires, as long as its signing key is still published
    (the verifier checks that on each hit). What the cache cannot know, callers check per request
    anyway: the gateway's deny list, the owning service's own state (a deactivated user, a
    revoked session)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: dict[str, tuple[Principal, str]] = {}

    def get(self, token: str, now: float, leeway: float) -> tuple[Principal, str] | None:
        """The principal and the `kid` that signed it, unless expired."""
        entry = self._entries.get(token)
        if entry is not None and entry[0].expires_at + leeway < now:
            del self._entries[token]
            return None
        return entry

    def put(self, token: str, principal: Principal, kid: str) -> None:
        if self.capacity <= 0:
            return
        if len(self._entries) >= self.capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (principal, kid)

    def __len__(self) -> int:
        return len(self._entries)


class TokenVerifier:
    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 10,
        cache: VerifiedTokens | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.verified = cache if cache is not None else VerifiedTokens()

    async def verify(self, token: str, expected_types: frozenset[str] = frozenset({"access"})) -> Principal:
        hit = self.verified.get(token, time.time(), self.leeway)
        if hit is not None and self.keys.current(hit[1]):
            principal = hit[0]
        else:
            principal, kid = await self._verify(token)
            self.verified.put(token, principal, kid)
        if principal.token_type not in expected_types:
            raise TokenError(f"a {principal.token_type} token cannot be used here")
        return principal

    async def _verify(self, token: str) -> tuple[Principal, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            raise TokenError("unsupported token algorithm or missing key id")
        key = await self.keys.key(kid)
        if key.algorithm_name != alg:
            raise TokenError("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid token: {error}") from None
        if claims.get("typ") not in ("access", "service"):
            raise TokenError(f"a {claims.get('typ')} token cannot be used here")
        return principal_from_claims(claims), kid
