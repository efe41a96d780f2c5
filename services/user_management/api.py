"""HTTP routes of user_management: parse, authorize, call the identity service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response, status

from services.user_management.schemas import (
    AcceptInviteRequest,
    LoginRequest,
    LoginResponse,
    MeUpdate,
    Printable,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    Role,
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
from services.user_management.service import Client, IdentityService
from shared.app import runtime
from shared.auth.deps import require
from shared.auth.tokens import Principal
from shared.observability import client_address
from shared.problems import BadRequest, problem_responses

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
# Every signed-in route can answer 401 (no or bad token), 403 (permission, or a service token) and
# 400 (a service token with a malformed X-Tenant-ID); 422 is documented by shared.problems.
SIGNED_IN = problem_responses(400, 401, 403)
users = APIRouter(prefix="/api/v1/users", tags=["users"], responses=SIGNED_IN)
tenants = APIRouter(prefix="/api/v1/tenants", tags=["tenants"], responses=SIGNED_IN)
jwks = APIRouter(tags=["auth"])


def identity(request: Request) -> IdentityService:
    return runtime(request).extras["identity"]


def client(request: Request) -> Client:
    """Caller's address: the last X-Forwarded-For hop when the direct peer is a trusted proxy."""
    peer = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        runtime(request).settings.trusted_proxies,  # type: ignore[attr-defined]
    )
    return Client(ip=peer, user_agent=(request.headers.get("user-agent") or "")[:300] or None)


Identity = Annotated[IdentityService, Depends(identity)]
Caller = Annotated[Client, Depends(client)]


@jwks.get("/.well-known/jwks.json", summary="Public keys that verify our access tokens")
async def get_jwks(service: Identity, response: Response) -> dict:
    response.headers["Cache-Control"] = "public, max-age=300"
    return service.issuer.jwks


@auth.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    responses=problem_responses(409),
)
async def register(body: RegisterRequest, service: Identity, caller: Caller) -> RegisterResponse:
    """Create a tenant (plan basic) and its owner, and sign the owner in."""
    return await service.register(body, caller)


@auth.post("/login", response_model=LoginResponse, responses=problem_responses(401, 423))
async def login(body: LoginRequest, service: Identity, caller: Caller) -> LoginResponse:
    return await service.login(body.email, body.password, caller)


@auth.post(
    "/token",
    response_model=LoginResponse,
    summary="OAuth2 password grant (Swagger's Authorize)",
    responses=problem_responses(401, 423),
)
async def token(
    service: Identity,
    caller: Caller,
    username: Annotated[str, Form(max_length=254), Printable],
    password: Annotated[str, Form(max_length=128), Printable],
    grant_type: Annotated[Literal["password"] | None, Form()] = None,
) -> LoginResponse:
    return await service.login(username, password, caller)


@auth.post("/refresh", response_model=TokenPair, responses=problem_responses(401))
async def refresh(body: RefreshRequest, service: Identity, caller: Caller) -> TokenPair:
    """Rotate: the presented refresh token is spent; a spent one presented again revokes its session."""
    return await service.refresh(body.refresh_token, caller)


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, service: Identity, caller: Caller) -> Response:
    """Revoke the session (refresh-token family) the token belongs to."""
    await service.logout(body.refresh_token, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth.post("/accept-invite", response_model=LoginResponse, responses=problem_responses(400))
async def accept_invite(body: AcceptInviteRequest, service: Identity, caller: Caller) -> LoginResponse:
    return await service.accept_invite(body.token, body.password, caller)


@auth.post(
    "/service-token",
    response_model=ServiceTokenResponse,
    summary="OAuth2 client-credentials grant",
    responses=problem_responses(400, 401, 403),
)
async def service_token(
    service: Identity,
    grant_type: Annotated[str, Form(max_length=40)],
    client_id: Annotated[str, Form(min_length=1, max_length=100), Printable],
    client_secret: Annotated[str, Form(min_length=1, max_length=200), Printable],
    scope: Annotated[str | None, Form(max_length=1000), Printable] = None,
) -> ServiceTokenResponse:
    if grant_type != "client_credentials":
        raise BadRequest("grant_type must be client_credentials", problem_type="unsupported-grant-type")
    return await service.service_token(client_id, client_secret, scope)


@users.get("/me", response_model=UserOut)
async def get_me(
    service: Identity, principal: Annotated[Principal, Depends(require("users:read"))]
) -> UserOut:
    return await service.me(principal)


@users.patch("/me", response_model=UserOut)
async def patch_me(
    body: MeUpdate,
    service: Identity,
    caller: Caller,
    principal: Annotated[Principal, Depends(require("users:read"))],
) -> UserOut:
    return await service.update_me(principal, body, caller)


@users.get("/me/sessions", response_model=list[SessionOut])
async def my_sessions(
    service: Identity, principal: Annotated[Principal, Depends(require("users:read"))]
) -> list[SessionOut]:
    return await service.list_sessions(principal)


@users.delete(
    "/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def revoke_my_session(
    session_id: uuid.UUID,
    service: Identity,
    caller: Caller,
    principal: Annotated[Principal, Depends(require("users:read"))],
) -> Response:
    await service.revoke_session(principal, session_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.get("/me/security-log", response_model=SecurityLogPage)
async def my_security_log(
    service: Identity,
    principal: Annotated[Principal, Depends(require("users:read"))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SecurityLogPage:
    return await service.security_log(principal, limit, cursor)


@users.get("", response_model=UserPage)
async def list_users(
    service: Identity,
    principal: Annotated[Principal, Depends(require("users:read"))],
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserPage:
    return await service.list_users(principal, role, limit, offset)


@users.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=problem_responses(409))
async def create_user(
    body: UserCreate, service: Identity, principal: Annotated[Principal, Depends(require("users:manage"))]
) -> UserOut:
    """Add a user to your tenant: active at once with a password, otherwise invited by email."""
    return await service.create_user(principal, body)


@users.get("/{user_id}", response_model=UserOut, responses=problem_responses(404))
async def get_user(
    user_id: uuid.UUID, service: Identity, principal: Annotated[Principal, Depends(require("users:read"))]
) -> UserOut:
    return await service.get_user(principal, user_id)


@users.patch("/{user_id}", response_model=UserOut, responses=problem_responses(404, 409))
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    service: Identity,
    caller: Caller,
    principal: Annotated[Principal, Depends(require("users:manage"))],
) -> UserOut:
    return await service.update_user(principal, user_id, body, caller)


@users.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409))
async def deactivate_user(
    user_id: uuid.UUID,
    service: Identity,
    caller: Caller,
    principal: Annotated[Principal, Depends(require("users:manage"))],
) -> Response:
    """Deactivate: the user can no longer sign in and all their sessions are revoked."""
    await service.deactivate_user(principal, user_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@tenants.get("/current", response_model=TenantOut)
async def current_tenant(
    service: Identity, principal: Annotated[Principal, Depends(require("tenant:read"))]
) -> TenantOut:
    return await service.current_tenant(principal)


@tenants.patch("/current", response_model=TenantOut)
async def update_tenant(
    body: TenantUpdate, service: Identity, principal: Annotated[Principal, Depends(require("tenant:manage"))]
) -> TenantOut:
    return await service.update_tenant(principal, body)


ROUTERS = (jwks, auth, users, tenants)
