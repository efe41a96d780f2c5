"""The dependencies routes declare: the container's use cases, the caller and permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.ai_agents.bootstrap import Container
from services.ai_agents.service.memory import Memory
from services.ai_agents.service.tasks import Tasks
from shared.auth.deps import require
from shared.auth.tokens import Principal


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def _tasks(container: ContainerDep) -> Tasks:
    return container.tasks


async def _memory(container: ContainerDep) -> Memory:
    return container.memory


TasksDep = Annotated[Tasks, Depends(_tasks)]
MemoryDep = Annotated[Memory, Depends(_memory)]

Reader = Annotated[Principal, Depends(require("ai:read", allow_service=True))]
Runner = Annotated[Principal, Depends(require("ai:run", allow_service=True))]
