"""Sales funnels: CRUD with stages, the sync to Mautic, and funnel analytics."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from services.campaign_management.api.deps import FunnelsDep, Reader, Writer
from services.campaign_management.schemas import FunnelCreate, FunnelOut, FunnelPage, FunnelUpdate
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/funnels", tags=["funnels"], responses=problem_responses(400, 401, 403))
ONE = problem_responses(404)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=FunnelOut, responses=problem_responses(422)
)
async def create_funnel(
    body: FunnelCreate, funnels: FunnelsDep, principal: Writer, response: Response
) -> FunnelOut:
    created = await funnels.create(principal.tenant, body.changes())
    response.headers["Location"] = f"/api/v1/funnels/{created.funnel.id}"
    return FunnelOut.of(created)


@router.get("", response_model=FunnelPage)
async def list_funnels(
    funnels: FunnelsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> FunnelPage:
    page = await funnels.list(principal.tenant, limit, cursor)
    return FunnelPage(items=[FunnelOut.of(v) for v in page.items], next_cursor=page.next_cursor)


@router.get("/{funnel_id}", response_model=FunnelOut, responses=ONE)
async def get_funnel(funnel_id: uuid.UUID, funnels: FunnelsDep, principal: Reader) -> FunnelOut:
    return FunnelOut.of(await funnels.get(principal.tenant, funnel_id))


@router.patch("/{funnel_id}", response_model=FunnelOut, responses=problem_responses(404, 422))
async def update_funnel(
    funnel_id: uuid.UUID, body: FunnelUpdate, funnels: FunnelsDep, principal: Writer
) -> FunnelOut:
    return FunnelOut.of(await funnels.update(principal.tenant, funnel_id, body.changes()))


@router.delete("/{funnel_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ONE)
async def delete_funnel(funnel_id: uuid.UUID, funnels: FunnelsDep, principal: Writer) -> Response:
    await funnels.delete(principal.tenant, funnel_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{funnel_id}/sync", response_model=FunnelOut, responses=problem_responses(404, 409, 503))
async def sync_funnel(funnel_id: uuid.UUID, funnels: FunnelsDep, principal: Writer) -> FunnelOut:
    """Write the funnel to Mautic: created the first time, edited in place after (never duplicated)."""
    return FunnelOut.of(await funnels.sync(principal.tenant, funnel_id))


@router.get("/{funnel_id}/analytics", responses=problem_responses(404, 409, 503))
async def funnel_analytics(funnel_id: uuid.UUID, funnels: FunnelsDep, principal: Reader) -> dict[str, Any]:
    """Contacts entering each stage, email engagement, and cost per stage entry."""
    return await funnels.analytics(principal.tenant, funnel_id)
