"""`/api/v1/ai`: tasks (202 and a status URL), the content memory's search, the agents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import ValidationError

from services.ai_agents.api.deps import ContainerDep, MemoryDep, Reader, Runner, TasksDep
from services.ai_agents.crews.catalog import TOOLS, describe
from services.ai_agents.schemas import (
    INPUTS,
    AgentsOut,
    ContentHit,
    ContentSearch,
    TaskAccepted,
    TaskIn,
    TaskOut,
    TaskPage,
)
from shared import cursors, errors
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], responses=problem_responses(400, 401, 403))


def _status_url(task_id: uuid.UUID) -> str:
    return f"/api/v1/ai/tasks/{task_id}"


@router.post(
    "/tasks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    responses=problem_responses(422),
)
async def create_task(body: TaskIn, tasks: TasksDep, principal: Runner, response: Response) -> TaskAccepted:
    """Queue a task (its input is checked against its type now); follow it at `status_url`."""
    try:
        checked = INPUTS[body.type].validate_python(body.input)
    except ValidationError as invalid:
        problems = [{"loc": ["body", "input", *e["loc"]], "msg": e["msg"]} for e in invalid.errors()]
        raise errors.InvalidInput(f"the input of a {body.type} task is not valid", errors=problems) from None
    requested_by = body.requested_by if principal.is_service and body.requested_by else principal.actor
    task = await tasks.create(principal.tenant, body.type, checked.model_dump(mode="json"), requested_by)
    response.headers["Location"] = _status_url(task.id)
    return TaskAccepted(**TaskOut.model_validate(task).model_dump(), status_url=_status_url(task.id))


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    tasks: TasksDep,
    principal: Reader,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(queued|running|succeeded|failed|cancelled)$")
    ] = None,
    task_type: Annotated[str | None, Query(alias="type", pattern="^[a-z_]{1,40}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> TaskPage:
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    found = await tasks.list(principal.tenant, status_filter, task_type, limit + 1, after)
    page = found[:limit]
    return TaskPage(
        items=[TaskOut.model_validate(t) for t in page],
        next_cursor=cursors.encode([page[-1].created_at.isoformat(), page[-1].id])
        if len(found) > limit
        else None,
    )


@router.get("/tasks/{task_id}", response_model=TaskOut, responses=problem_responses(404))
async def get_task(task_id: uuid.UUID, tasks: TasksDep, principal: Reader) -> TaskOut:
    return TaskOut.model_validate(await tasks.get(principal.tenant, task_id))


@router.post("/tasks/{task_id}/cancel", response_model=TaskOut, responses=problem_responses(404, 409))
async def cancel_task(task_id: uuid.UUID, tasks: TasksDep, principal: Runner) -> TaskOut:
    """A queued task stops at once; a running one at its next step (then `cancelled`)."""
    return TaskOut.model_validate(await tasks.cancel(principal.tenant, task_id))


@router.get("/content/search", response_model=ContentSearch)
async def search_content(
    memory: MemoryDep,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ContentSearch:
    """The tenant's stored content and audit summaries nearest to `q`."""
    if "\x00" in q:
        raise errors.InvalidInput("q cannot contain NUL characters")
    hits = await memory.search(principal.tenant, q, limit)
    return ContentSearch(embedder=memory.embedder.kind, items=[ContentHit(**h) for h in hits])


@router.get("/agents", response_model=AgentsOut)
async def agents(container: ContainerDep, principal: Reader) -> AgentsOut:
    """The crews per task type, their agents and tools, and the engine that would run now."""
    tools = [
        {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
        for t in TOOLS.values()
    ]
    return AgentsOut(engine=container.worker.engine, crews=describe(), tools=tools)
