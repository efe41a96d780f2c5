"""Reports built in the background: ask (202), follow, download."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.analytics.api.deps import Reader, ReportsDep, Writer
from services.analytics.schemas import ReportIn, ReportOut, ReportPage
from shared import cursors
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/analytics/reports", tags=["reports"], responses=problem_responses(400, 401, 403)
)


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=ReportOut, responses=problem_responses(422)
)
async def request_report(
    body: ReportIn, reports: ReportsDep, principal: Writer, response: Response
) -> ReportOut:
    """Built by a worker; follow `status_url`, then `download_url`. `report.ready` tells notification."""
    filters = body.filters.model_dump(mode="json", by_alias=True, exclude_none=True)
    report = await reports.request(principal.tenant, principal.actor, body.type, filters, body.format)
    out = ReportOut.of(report)
    response.headers["Location"] = out.status_url
    return out


@router.get("", response_model=ReportPage)
async def list_reports(
    reports: ReportsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ReportPage:
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    rows = await reports.list(principal.tenant, limit + 1, after)
    last = rows[limit - 1] if len(rows) > limit else None
    return ReportPage(
        items=[ReportOut.of(r) for r in rows[:limit]],
        next_cursor=cursors.encode([last.created_at, last.id]) if last else None,
    )


@router.get("/{report_id}", response_model=ReportOut, responses=problem_responses(404))
async def get_report(report_id: uuid.UUID, reports: ReportsDep, principal: Reader) -> ReportOut:
    return ReportOut.of(await reports.get(principal.tenant, report_id))


@router.get(
    "/{report_id}/download",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The file (CSV, JSON, XLSX or PDF).",
        },
        **problem_responses(404, 409),
    },
)
async def download_report(report_id: uuid.UUID, reports: ReportsDep, principal: Reader) -> Response:
    """The file, once the report is ready (409 before)."""
    report = await reports.download(principal.tenant, report_id)
    assert report.content is not None and report.media_type
    return Response(
        report.content,
        media_type=report.media_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
