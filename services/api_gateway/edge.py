"""Edge checks before anything is forwarded: body size, the access token, the deny list and limits.

`Edge.admit` answers either a refusal (a problem to send) or the rate-limit headers to add to the
upstream's answer. One Redis round trip per authenticated request: the deny list, the billing plan
override and the tenant's bucket are one Lua script (`ratelimit.TENANT_REQUEST`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.types import Scope

from services.api_gateway import keys, routing
from services.api_gateway.local_limits import LocalLimiter
from services.api_gateway.ratelimit import DEACTIVATED, Decision, RateLimiter
from services.api_gateway.settings import Settings
from shared.auth.tokens import Principal, TokenError, TokenVerifier
from shared.context import tenant_id_var
from shared.net import client_address


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    problem_type: str | None = None
    headers: dict[str, str] | None = None
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Admission:
    client_ip: str
    body_limit: int
    limit_headers: list[tuple[bytes, bytes]]


class Edge:
    def __init__(
        self, settings: Settings, verifier: TokenVerifier, limiter: RateLimiter | LocalLimiter
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.limiter = limiter
        self.plan_limits = {
            plan: routing.parse_rate(rate) for plan, rate in settings.plan_rate_limits.items()
        }
        if "basic" not in self.plan_limits:
            raise ValueError("PLAN_RATE_LIMITS must define the basic plan")
        self.plan_limits_json = json.dumps(self.plan_limits)
        self.ip_limits = {
            "auth": routing.parse_rate(settings.auth_ip_rate_limit),
            "webhook": routing.parse_rate(settings.webhook_ip_rate_limit),
        }
        self.route_limits = {
            route: routing.parse_rate(rate) for route, rate in settings.route_rate_limits.items()
        }

    def body_limit(self, path: str) -> int:
        if routing.is_webhook(path):
            return min(self.settings.webhook_max_body_bytes, self.settings.max_body_bytes)
        return self.settings.max_body_bytes

    def client_ip(self, scope: Scope, headers: Headers) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.settings.trusted_proxies:
            return peer  # nobody's X-Forwarded-For is believed
        found = client_address(peer, headers.getlist("x-forwarded-for"), self.settings.trusted_proxies)
        return found or peer

    async def admit(self, scope: Scope, headers: Headers) -> Admission | Refusal:
        method, path = scope["method"], scope["path"]
        body_limit = self.body_limit(path)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > body_limit):
            return Refusal(413, f"request body over {body_limit} bytes")
        principal = None
        if not routing.is_public(method, path):
            principal, problem = await self._authenticate(headers)
            if problem:
                return Refusal(401, problem, headers={"WWW-Authenticate": "Bearer"})
        client_ip = self.client_ip(scope, headers)
        decision = await self._rate_limit(method, path, principal, client_ip)
        if decision == DEACTIVATED:
            return Refusal(401, "this account has been deactivated", headers={"WWW-Authenticate": "Bearer"})
        assert not isinstance(decision, str)
        limit_headers = decision.headers() if decision else []
        if decision and not decision.allowed:
            return Refusal(429, "rate limit exceeded; retry later", "rate-limited", raw_headers=limit_headers)
        return Admission(client_ip, body_limit, limit_headers)

    async def _authenticate(self, headers: Headers) -> tuple[Principal | None, str | None]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "a bearer access token is required"
        try:
            principal = await self.verifier.verify(token.strip())
        except TokenError as error:
            return None, str(error)
        tenant_id_var.set(str(principal.tenant_id))
        return principal, None

    async def _rate_limit(
        self, method: str, path: str, principal: Principal | None, client_ip: str
    ) -> Decision | str | None:
        """The limit that applies, or `DEACTIVATED` for a subject on the deny list (checked in
        the same Redis round trip as the tenant's bucket)."""
        if principal is None:
            scope = (
                "auth"
                if routing.is_public_auth(method, path)
                else "webhook"
                if routing.is_webhook(path)
                else None
            )
            if scope is None:
                return None
            limit, window = self.ip_limits[scope]
            return await self.limiter.check(keys.ip_bucket(scope, client_ip), limit, window, scope)
        decision = await self.limiter.check_tenant(
            str(principal.tenant_id), principal.subject, principal.plan or "basic", self.plan_limits_json
        )
        if decision == DEACTIVATED:
            return decision
        route_limit = self.route_limits.get(f"{method} {path}")
        if route_limit and (decision is None or decision.allowed):
            key = keys.route_bucket(str(principal.tenant_id), method, path)
            route_decision = await self.limiter.check(key, route_limit[0], route_limit[1], "route")
            if route_decision is not None and not route_decision.allowed:
                return route_decision
        return decision
