"""The dependencies routes declare: the container's use cases, the caller and permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notification.bootstrap import Container
from services.notification.service.inbox import Inbox, InboxStreams
from services.notification.service.preferences import Preferences
from services.notification.service.sending import Sending
from services.notification.service.templates import Templates
from services.notification.service.tracking import Deliveries, Tracking
from shared.auth.deps import require
from shared.auth.tokens import Principal


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _sending(container: ContainerDep) -> Sending:
    return container.sending


async def _templates(container: ContainerDep) -> Templates:
    return container.templates


async def _preferences(container: ContainerDep) -> Preferences:
    return container.preferences


async def _inbox(container: ContainerDep) -> Inbox:
    return container.inbox


async def _streams(container: ContainerDep) -> InboxStreams:
    return container.streams


async def _tracking(container: ContainerDep) -> Tracking:
    return container.tracking


async def _deliveries(container: ContainerDep) -> Deliveries:
    return container.deliveries


SendingDep = Annotated[Sending, Depends(_sending)]
TemplatesDep = Annotated[Templates, Depends(_templates)]
PreferencesDep = Annotated[Preferences, Depends(_preferences)]
InboxDep = Annotated[Inbox, Depends(_inbox)]
StreamsDep = Annotated[InboxStreams, Depends(_streams)]
TrackingDep = Annotated[Tracking, Depends(_tracking)]
DeliveriesDep = Annotated[Deliveries, Depends(_deliveries)]

Reader = Annotated[Principal, Depends(require("notifications:read"))]
Sender = Annotated[Principal, Depends(require("notifications:send", allow_service=True))]
Manager = Annotated[Principal, Depends(require("notifications:manage"))]
