"""The dependencies routes declare: the container's use cases, the caller and permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.campaign_management.bootstrap import Container
from services.campaign_management.service.campaigns import Campaigns
from services.campaign_management.service.funnels import Funnels
from services.campaign_management.service.lifecycle import Lifecycle
from services.campaign_management.service.operations import Operations
from services.campaign_management.service.recommendations import Recommendations
from shared.auth.deps import require
from shared.auth.tokens import Principal


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _campaigns(container: ContainerDep) -> Campaigns:
    return container.campaigns


async def _lifecycle(container: ContainerDep) -> Lifecycle:
    return container.lifecycle


async def _operations(container: ContainerDep) -> Operations:
    return container.operations


async def _recommendations(container: ContainerDep) -> Recommendations:
    return container.recommendations


async def _funnels(container: ContainerDep) -> Funnels:
    return container.funnels


CampaignsDep = Annotated[Campaigns, Depends(_campaigns)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
OperationsDep = Annotated[Operations, Depends(_operations)]
RecommendationsDep = Annotated[Recommendations, Depends(_recommendations)]
FunnelsDep = Annotated[Funnels, Depends(_funnels)]

Reader = Annotated[Principal, Depends(require("campaigns:read", allow_service=True))]
Writer = Annotated[Principal, Depends(require("campaigns:write"))]
Optimizer = Annotated[Principal, Depends(require("ai:run"))]
