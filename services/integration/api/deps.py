"""The dependencies routes declare: the container's use cases, the caller and permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.integration.bootstrap import Container
from services.integration.service.billing import Billing
from services.integration.service.connections import Connections
from services.integration.service.syncs import Syncs
from services.integration.service.webhooks import Webhooks
from shared.auth.deps import require
from shared.auth.tokens import Principal


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _connections(container: ContainerDep) -> Connections:
    return container.connections


async def _syncs(container: ContainerDep) -> Syncs:
    return container.syncs


async def _webhooks(container: ContainerDep) -> Webhooks:
    return container.webhooks


async def _billing(container: ContainerDep) -> Billing:
    return container.billing


ConnectionsDep = Annotated[Connections, Depends(_connections)]
SyncsDep = Annotated[Syncs, Depends(_syncs)]
WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]
BillingDep = Annotated[Billing, Depends(_billing)]

Reader = Annotated[Principal, Depends(require("integrations:read", allow_service=True))]
Manager = Annotated[Principal, Depends(require("integrations:manage"))]
Syncer = Annotated[Principal, Depends(require("integrations:sync"))]
CredentialReader = Annotated[Principal, Depends(require("integrations:credentials", allow_service=True))]
BillingOwner = Annotated[Principal, Depends(require("billing:manage"))]
