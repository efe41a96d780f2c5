"""Public auth routes: register, login (JSON and OAuth2 form), refresh, logout, invitations,
the client-credentials grant, and the JWKS."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Response, status

from services.user_management.api.deps import AuthenticationDep, ContainerDep, OriginDep, ServiceAccountsDep
from services.user_management.schemas import (
    AcceptInviteRequest,
    LoginRequest,
    LoginResponse,
    Printable,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    ServiceTokenResponse,
    TenantOut,
    TokenPair,
    UserOut,
)
from shared.problems import BadRequest, problem_responses

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
jwks = APIRouter(tags=["auth"])


@jwks.get("/.well-known/jwks.json", summary="Public keys that verify our access tokens")
async def get_jwks(container: ContainerDep, response: Response) -> dict:
    response.headers["Cache-Control"] = "public, max-age=300"
    return container.issuer.jwks


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    responses=problem_responses(409),
)
async def register(body: RegisterRequest, auth: AuthenticationDep, origin: OriginDep) -> RegisterResponse:
    """Create a tenant (plan basic) and its owner, and sign the owner in."""
    signed_in, tenant = await auth.register(
        body.tenant_name, body.email, body.password, body.full_name, origin
    )
    pair = TokenPair.of(signed_in.tokens)
    return RegisterResponse(
        user=UserOut.model_validate(signed_in.user),
        tenant=TenantOut.model_validate(tenant),
        **pair.model_dump(),
    )


@router.post("/login", response_model=LoginResponse, responses=problem_responses(401, 423))
async def login(body: LoginRequest, auth: AuthenticationDep, origin: OriginDep) -> LoginResponse:
    return LoginResponse.of_signed_in(await auth.login(body.email, body.password, origin))


@router.post(
    "/token",
    response_model=LoginResponse,
    summary="OAuth2 password grant (Swagger's Authorize)",
    responses=problem_responses(401, 423),
)
async def token(
    auth: AuthenticationDep,
    origin: OriginDep,
    username: Annotated[str, Form(max_length=254), Printable],
    password: Annotated[str, Form(max_length=128), Printable],
    grant_type: Annotated[Literal["password"] | None, Form()] = None,
) -> LoginResponse:
    return LoginResponse.of_signed_in(await auth.login(username, password, origin))


@router.post("/refresh", response_model=TokenPair, responses=problem_responses(401))
async def refresh(body: RefreshRequest, auth: AuthenticationDep, origin: OriginDep) -> TokenPair:
    """Rotate: the presented refresh token is spent; a spent one presented again revokes its session."""
    return TokenPair.of(await auth.refresh(body.refresh_token, origin))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, auth: AuthenticationDep, origin: OriginDep) -> Response:
    """Revoke the session (refresh-token family) the token belongs to."""
    await auth.logout(body.refresh_token, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/accept-invite", response_model=LoginResponse, responses=problem_responses(400))
async def accept_invite(
    body: AcceptInviteRequest, auth: AuthenticationDep, origin: OriginDep
) -> LoginResponse:
    return LoginResponse.of_signed_in(await auth.accept_invite(body.token, body.password, origin))


@router.post(
    "/service-token",
    response_model=ServiceTokenResponse,
    summary="OAuth2 client-credentials grant",
    responses=problem_responses(400, 401, 403),
)
async def service_token(
    accounts: ServiceAccountsDep,
    grant_type: Annotated[str, Form(max_length=40)],
    client_id: Annotated[str, Form(min_length=1, max_length=100), Printable],
    client_secret: Annotated[str, Form(min_length=1, max_length=200), Printable],
    scope: Annotated[str | None, Form(max_length=1000), Printable] = None,
) -> ServiceTokenResponse:
    if grant_type != "client_credentials":
        raise BadRequest("grant_type must be client_credentials", problem_type="unsupported-grant-type")
    issued = await accounts.issue(client_id, client_secret, scope)
    return ServiceTokenResponse(
        access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
    )
