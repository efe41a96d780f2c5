"""FastAPI dependencies: the current principal, and `require("<area>:<verb>")`.

Services check permissions themselves (DESIGN §5), not only the gateway. A service token may act
for a tenant named in `X-Tenant-ID`, limited to the scopes it was granted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from shared.auth.permissions import is_valid_permission
from shared.auth.tokens import Principal, TokenError, TokenVerifier
from shared.context import tenant_id_var
from shared.problems import BadRequest, Forbidden, Unauthorized

_bearer = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="Access token from POST /api/v1/auth/login (or the Authorize button)",
)

USER_OR_SERVICE = frozenset({"access", "service"})


def _verifier(request: Request) -> TokenVerifier:
    return request.app.state.token_verifier


async def get_principal(request: Request, token: str | None = Depends(_bearer)) -> Principal:
    """The verified caller; 401 problem without a valid token."""
    if not token:
        raise Unauthorized("a bearer access token is required")
    try:
        principal = await _verifier(request).verify(token, USER_OR_SERVICE)
    except TokenError as error:
        raise Unauthorized(str(error)) from None
    if principal.is_service:
        principal = _act_for_tenant(principal, request.headers.get("x-tenant-id"))
    if principal.tenant_id is not None:
        tenant_id_var.set(str(principal.tenant_id))
    request.state.principal = principal
    return principal


def _act_for_tenant(principal: Principal, header: str | None) -> Principal:
    if not header:
        return principal
    try:
        return replace(principal, tenant_id=UUID(header))
    except ValueError:
        raise BadRequest("X-Tenant-ID must be a UUID") from None


def require(permission: str, *, allow_service: bool = False) -> Callable[..., Awaitable[Principal]]:
    """Dependency that answers 403 unless the caller holds `permission`."""
    if not is_valid_permission(permission):
        raise ValueError(f"unknown permission {permission!r}")

    async def dependency(principal: Principal = Depends(get_principal)) -> Principal:
        if principal.is_service and not allow_service:
            raise Forbidden("service tokens cannot use this operation")
        if not principal.can(permission):
            raise Forbidden(f"missing permission {permission}")
        if principal.tenant_id is None:
            raise Forbidden("the operation needs a tenant")
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency
