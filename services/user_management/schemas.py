"""Request and response bodies. Requests refuse unknown fields and control characters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from services.user_management.domain import has_control_characters
from services.user_management.service import tokens
from services.user_management.service.self_service import SessionView
from shared.text import check_storable_json, trimmed

Role = Literal["viewer", "analyst", "manager", "admin", "owner"]


def _printable(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("must not contain control characters")
    return value


Printable = AfterValidator(_printable)


Name = Annotated[trimmed(120), AfterValidator(_printable)]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_printable)]
OpaqueToken = Annotated[str, StringConstraints(min_length=10, max_length=200), AfterValidator(_printable)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Request):
    tenant_name: Name
    email: Email
    password: Password
    full_name: Name


class LoginRequest(Request):
    email: Email
    password: Password


class RefreshRequest(Request):
    refresh_token: OpaqueToken


class AcceptInviteRequest(Request):
    token: OpaqueToken
    password: Password


class UserCreate(Request):
    email: Email
    full_name: Name
    role: Role
    password: Password | None = None
    tenant_id: Any = Field(None, exclude=True, description="Ignored: users are created in your own tenant.")


class UserUpdate(Request):
    full_name: Name | None = None
    role: Role | None = None
    tenant_id: Any = Field(None, exclude=True, description="Ignored: a user cannot move between tenants.")


class MeUpdate(Request):
    full_name: Name | None = None
    current_password: Password | None = None
    new_password: Password | None = None


class TenantUpdate(Request):
    name: Name | None = None
    settings: Annotated[dict[str, Any], AfterValidator(check_storable_json)] | None = Field(
        None, description="Free-form tenant settings (max 16 KB as JSON)."
    )


class UserOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    status: Literal["active", "invited", "deactivated"]
    created_at: datetime
    last_login_at: datetime | None

    model_config = ConfigDict(from_attributes=True)


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    plan: Literal["basic", "pro", "enterprise"]
    settings: dict[str, Any]
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int

    @classmethod
    def of(cls, pair: tokens.TokenPair) -> TokenPair:
        return cls(
            access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
        )


class RegisterResponse(TokenPair):
    user: UserOut
    tenant: TenantOut


class LoginResponse(TokenPair):
    user: UserOut

    @classmethod
    def of_signed_in(cls, signed_in: tokens.SignedIn) -> LoginResponse:
        pair = signed_in.tokens
        return cls(
            user=UserOut.model_validate(signed_in.user),
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )


class ServiceTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scope: str


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool = False

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        s = view.session
        ip = str(s.ip) if s.ip else None
        return cls(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            ip=ip,
            user_agent=s.user_agent,
            current=view.current,
        )


class InvitationLinkOut(BaseModel):
    url: str = Field(description="One-time link to the accept-invite page; earlier links stop working.")
    expires_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    next_offset: int | None = Field(
        None, description="Pass as `offset` to get the next page; null on the last."
    )


class SecurityEventOut(BaseModel):
    id: uuid.UUID
    kind: str
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any]
    created_at: datetime

    @field_validator("ip", mode="before")
    @classmethod
    def _address_text(cls, value: Any) -> str | None:
        return str(value) if value is not None else None

    model_config = ConfigDict(from_attributes=True)


class SecurityLogPage(BaseModel):
    items: list[SecurityEventOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last."
    )
