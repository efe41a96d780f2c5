"""The dependencies routes declare: the container's use cases, the caller's origin, permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.user_management.bootstrap import Container
from services.user_management.service.administration import UserAdministration
from services.user_management.service.common import Origin
from services.user_management.service.self_service import SelfService
from services.user_management.service.service_accounts import ServiceAccounts
from services.user_management.service.sessions import Authentication
from services.user_management.service.tenants import Tenants
from shared.auth.deps import require
from shared.auth.tokens import Principal
from shared.net import client_address


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _authentication(container: ContainerDep) -> Authentication:
    return container.authentication


async def _self_service(container: ContainerDep) -> SelfService:
    return container.self_service


async def _administration(container: ContainerDep) -> UserAdministration:
    return container.administration


async def _tenants(container: ContainerDep) -> Tenants:
    return container.tenants


async def _service_accounts(container: ContainerDep) -> ServiceAccounts:
    return container.service_accounts


async def _origin(request: Request, container: ContainerDep) -> Origin:
    """The caller's address (past trusted proxies, see shared.net) and user agent."""
    ip = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        container.settings.trusted_proxies,
    )
    return Origin(ip=ip, user_agent=(request.headers.get("user-agent") or "")[:300] or None)


AuthenticationDep = Annotated[Authentication, Depends(_authentication)]
SelfServiceDep = Annotated[SelfService, Depends(_self_service)]
AdministrationDep = Annotated[UserAdministration, Depends(_administration)]
TenantsDep = Annotated[Tenants, Depends(_tenants)]
ServiceAccountsDep = Annotated[ServiceAccounts, Depends(_service_accounts)]
OriginDep = Annotated[Origin, Depends(_origin)]

UsersReader = Annotated[Principal, Depends(require("users:read"))]
UsersLookup = Annotated[Principal, Depends(require("users:read", allow_service=True))]
UsersManager = Annotated[Principal, Depends(require("users:manage"))]
TenantReader = Annotated[Principal, Depends(require("tenant:read"))]
TenantManager = Annotated[Principal, Depends(require("tenant:manage"))]
Inviter = Annotated[Principal, Depends(require("users:invite", allow_service=True))]
