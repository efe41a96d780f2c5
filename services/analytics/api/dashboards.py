"""Dashboards: CRUD, and their widgets evaluated live."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from services.analytics.api.deps import DashboardsDep, Reader, Writer, check_days
from services.analytics.schemas import (
    DashboardData,
    DashboardIn,
    DashboardOut,
    DashboardPage,
    DashboardUpdate,
)
from shared import cursors, errors
from shared.problems import problem_responses
from shared.text import IsoDay

router = APIRouter(
    prefix="/api/v1/analytics/dashboards", tags=["dashboards"], responses=problem_responses(400, 401, 403)
)
ONE = problem_responses(404)


def _answer(response: Response, dashboard: object) -> DashboardOut:
    out = DashboardOut.model_validate(dashboard)
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=DashboardOut, responses=problem_responses(422)
)
async def create_dashboard(
    body: DashboardIn, dashboards: DashboardsDep, principal: Writer, response: Response
) -> DashboardOut:
    widgets = [w.model_dump(mode="json", exclude_none=True) for w in body.widgets]
    created = await dashboards.create(principal.tenant, principal.actor, body.name, widgets)
    response.headers["Location"] = f"/api/v1/analytics/dashboards/{created.id}"
    return _answer(response, created)


@router.get("", response_model=DashboardPage)
async def list_dashboards(
    dashboards: DashboardsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DashboardPage:
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    page = await dashboards.list(principal.tenant, limit, after)
    return DashboardPage(
        items=[DashboardOut.model_validate(d) for d in page.items],
        next_cursor=cursors.encode(list(page.next_after)) if page.next_after else None,
    )


@router.get("/{dashboard_id}", response_model=DashboardOut, responses=ONE)
async def get_dashboard(
    dashboard_id: uuid.UUID, dashboards: DashboardsDep, principal: Reader, response: Response
) -> DashboardOut:
    return _answer(response, await dashboards.get(principal.tenant, dashboard_id))


@router.patch("/{dashboard_id}", response_model=DashboardOut, responses=problem_responses(404, 412, 422))
async def update_dashboard(
    dashboard_id: uuid.UUID,
    body: DashboardUpdate,
    dashboards: DashboardsDep,
    principal: Writer,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> DashboardOut:
    """Send `If-Match` with the ETag you read: a stale write is refused with 412."""
    changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    updated = await dashboards.update(principal.tenant, dashboard_id, changes, _version(if_match))
    return _answer(response, updated)


@router.delete("/{dashboard_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ONE)
async def delete_dashboard(dashboard_id: uuid.UUID, dashboards: DashboardsDep, principal: Writer) -> Response:
    await dashboards.delete(principal.tenant, dashboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{dashboard_id}/data", response_model=DashboardData, responses=ONE)
async def dashboard_data(
    dashboard_id: uuid.UUID,
    dashboards: DashboardsDep,
    principal: Reader,
    since: Annotated[
        IsoDay | None, Query(alias="from", description="Overrides every widget's period")
    ] = None,
    until: Annotated[IsoDay | None, Query(alias="to")] = None,
) -> DashboardData:
    check_days(since, until)
    return DashboardData.model_validate(await dashboards.data(principal.tenant, dashboard_id, since, until))


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise errors.PreconditionFailed("If-Match must be an ETag this service gave out") from None
