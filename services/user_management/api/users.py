"""The signed-in user's own account (`/users/me...`) and the administration of a tenant's users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.user_management.api.deps import (
    AdministrationDep,
    Inviter,
    OriginDep,
    SelfServiceDep,
    UsersLookup,
    UsersManager,
    UsersReader,
)
from services.user_management.schemas import (
    InvitationLinkOut,
    MeUpdate,
    Role,
    SecurityEventOut,
    SecurityLogPage,
    SessionOut,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from shared.problems import problem_responses

# Every signed-in route can answer 401 (no or bad token), 403 (permission, or a service token) and
# 400 (a service token with a malformed X-Tenant-ID); 422 is documented by shared.problems.
router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=problem_responses(400, 401, 403))


@router.get("/me", response_model=UserOut)
async def get_me(me: SelfServiceDep, principal: UsersReader) -> UserOut:
    return UserOut.model_validate(await me.me(principal))


@router.patch("/me", response_model=UserOut, responses=problem_responses(423))
async def patch_me(body: MeUpdate, me: SelfServiceDep, origin: OriginDep, principal: UsersReader) -> UserOut:
    """Rename yourself, or change your password (needs `current_password`; your other sessions
    are signed out, and wrong current passwords count toward the lockout)."""
    user = None
    if body.new_password is not None:  # first: a refused password change leaves the name as it was
        user = await me.change_password(principal, body.current_password, body.new_password, origin)
    if body.full_name is not None:
        user = await me.rename(principal, body.full_name)
    return UserOut.model_validate(user or await me.me(principal))


@router.get("/me/sessions", response_model=list[SessionOut])
async def my_sessions(me: SelfServiceDep, principal: UsersReader) -> list[SessionOut]:
    return [SessionOut.of(view) for view in await me.sessions(principal)]


@router.delete(
    "/me/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def revoke_my_session(
    session_id: uuid.UUID, me: SelfServiceDep, origin: OriginDep, principal: UsersReader
) -> Response:
    await me.revoke_session(principal, session_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/security-log", response_model=SecurityLogPage)
async def my_security_log(
    me: SelfServiceDep,
    principal: UsersReader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SecurityLogPage:
    page = await me.security_log(principal, limit, cursor)
    return SecurityLogPage(
        items=[SecurityEventOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("", response_model=UserPage)
async def list_users(
    admin: AdministrationDep,
    principal: UsersLookup,
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserPage:
    page = await admin.list(principal, role, limit, offset)
    return UserPage(items=[UserOut.model_validate(u) for u in page.items], next_offset=page.next_offset)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=problem_responses(409)
)
async def create_user(body: UserCreate, admin: AdministrationDep, principal: UsersManager) -> UserOut:
    """Add a user to your tenant: active at once with a password, otherwise invited by email."""
    return UserOut.model_validate(
        await admin.create(principal, body.email, body.full_name, body.role, body.password)
    )


@router.get("/{user_id}", response_model=UserOut, responses=problem_responses(404))
async def get_user(user_id: uuid.UUID, admin: AdministrationDep, principal: UsersLookup) -> UserOut:
    return UserOut.model_validate(await admin.get(principal, user_id))


@router.patch("/{user_id}", response_model=UserOut, responses=problem_responses(404, 409))
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, admin: AdministrationDep, origin: OriginDep, principal: UsersManager
) -> UserOut:
    return UserOut.model_validate(await admin.update(principal, user_id, body.full_name, body.role, origin))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409))
async def deactivate_user(
    user_id: uuid.UUID, admin: AdministrationDep, origin: OriginDep, principal: UsersManager
) -> Response:
    """Deactivate: the user can no longer sign in and all their sessions are revoked."""
    await admin.deactivate(principal, user_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{user_id}/invitation-link",
    response_model=InvitationLinkOut,
    responses=problem_responses(404, 409, 410),
    summary="Mint a fresh one-time invitation link (service token with users:invite)",
)
async def invitation_link(
    user_id: uuid.UUID, admin: AdministrationDep, principal: Inviter
) -> InvitationLinkOut:
    """Voids every earlier link of the user. Only for services (notification sends the email):
    the link is a secret, so it travels only in this answer, never in an event."""
    link = await admin.invitation_link(principal, user_id)
    return InvitationLinkOut(url=link.url, expires_at=link.expires_at)
