"""`/api/v1/integrations/.../syncs`: ask for a sync, follow it, and the rows analytics reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.integration.api.deps import Reader, Syncer, SyncsDep
from services.integration.schemas import SyncAccepted, SyncIn, SyncOut, SyncPage
from shared import cursors
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/integrations", tags=["syncs"], responses=problem_responses(400, 401, 403))


def _status_url(sync_id: uuid.UUID) -> str:
    return f"/api/v1/integrations/syncs/{sync_id}"


@router.post(
    "/connections/{connection_id}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncAccepted,
    responses=problem_responses(404, 409),
)
async def request_sync(
    connection_id: uuid.UUID,
    syncs: SyncsDep,
    principal: Syncer,
    response: Response,
    body: SyncIn | None = None,
) -> SyncAccepted:
    """Queue a sync (202): the incremental window, or `from`/`to` for a backfill. One at a time
    per connection (409 names the running one)."""
    asked = body or SyncIn()
    sync = await syncs.request(principal.tenant, connection_id, principal.actor, asked.from_, asked.to)
    response.headers["Location"] = _status_url(sync.id)
    return SyncAccepted(**SyncOut.model_validate(sync).model_dump(), status_url=_status_url(sync.id))


@router.get("/connections/{connection_id}/syncs", response_model=SyncPage, responses=problem_responses(404))
async def list_syncs(
    connection_id: uuid.UUID,
    syncs: SyncsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SyncPage:
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    found = await syncs.list(principal.tenant, connection_id, limit + 1, after)
    page = found[:limit]
    return SyncPage(
        items=[SyncOut.model_validate(s) for s in page],
        next_cursor=cursors.encode([page[-1].requested_at.isoformat(), page[-1].id])
        if len(found) > limit
        else None,
    )


@router.get("/syncs/{sync_id}", response_model=SyncOut, responses=problem_responses(404))
async def get_sync(sync_id: uuid.UUID, syncs: SyncsDep, principal: Reader) -> SyncOut:
    return SyncOut.model_validate(await syncs.get(principal.tenant, sync_id))


@router.get(
    "/syncs/{sync_id}/rows",
    responses={
        200: {
            "description": "One page of the sync's rows and the link to the next.",
            "content": {"application/json": {}},
        },
        **problem_responses(404),
    },
)
async def sync_rows(
    sync_id: uuid.UUID, syncs: SyncsDep, principal: Reader, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    """The rows of a finished page in provider format (what `integration.sync_completed` points to)."""
    return Response(await syncs.rows_page(principal.tenant, sync_id, page), media_type="application/json")
