"""Campaigns: CRUD with filters and keyset pages, optimistic concurrency, lifecycle moves,
history, executions and performance."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status

from services.campaign_management.api.deps import (
    CampaignsDep,
    LifecycleDep,
    OperationsDep,
    Reader,
    Writer,
)
from services.campaign_management.domain.lifecycle import Action
from services.campaign_management.repository import CampaignFilter
from services.campaign_management.schemas import (
    AuditEntryOut,
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
    ExecutionOut,
    PerformanceOut,
    TransitionOut,
    TransitionRequest,
)
from shared.problems import BadRequest, problem_responses
from shared.responses import json_of
from shared.text import IsoDay, IsoInstant

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"], responses=problem_responses(400, 401, 403))
ONE = problem_responses(404)
Status = Literal["draft", "scheduled", "active", "paused", "completed", "archived"]
Sort = Literal["-created_at", "created_at", "name", "-name", "start_at", "-total_budget_minor"]


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.split(",")[0].strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise BadRequest("If-Match must be an ETag this API gave out", problem_type="invalid-if-match")
    return int(tag)


def _answer(response: Response, campaign: object) -> CampaignOut:
    out = CampaignOut.of(campaign)
    response.headers["ETag"] = _etag(out.version)
    return out


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CampaignOut, responses=problem_responses(422)
)
async def create_campaign(
    body: CampaignCreate, campaigns: CampaignsDep, principal: Writer, response: Response
) -> CampaignOut:
    """A draft campaign; launch it when its budgets, dates and connections are ready."""
    created = await campaigns.create(principal.tenant, principal.user_id, body.changes())
    response.headers["Location"] = f"/api/v1/campaigns/{created.id}"
    return _answer(response, created)


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    campaigns: CampaignsDep,
    principal: Reader,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    channel: Literal["google_ads", "meta_ads", "linkedin_ads", "email"] | None = None,
    tag: Annotated[str | None, Query(max_length=80)] = None,
    starts_from: IsoInstant | None = None,
    starts_before: IsoInstant | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name")] = None,
    sort: Sort = "-created_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    where = CampaignFilter(tuple(status_ or ()), channel, tag, starts_from, starts_before, q)
    page = await campaigns.list(principal.tenant, where, sort, limit, cursor)
    return json_of(CampaignPage(items=[CampaignOut.of(c) for c in page.items], next_cursor=page.next_cursor))


@router.get("/{campaign_id}", response_model=CampaignOut, responses=ONE)
async def get_campaign(
    campaign_id: uuid.UUID, campaigns: CampaignsDep, principal: Reader, response: Response
) -> CampaignOut:
    return _answer(response, await campaigns.get(principal.tenant, campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=problem_responses(404, 409, 412, 422))
async def update_campaign(
    campaign_id: uuid.UUID,
    body: CampaignUpdate,
    campaigns: CampaignsDep,
    principal: Writer,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> CampaignOut:
    """Send `If-Match` with the ETag you read: a stale write is refused with 412."""
    updated = await campaigns.update(
        principal.tenant, campaign_id, principal.actor, body.changes(), _expected_version(if_match)
    )
    return _answer(response, updated)


@router.delete(
    "/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409)
)
async def delete_campaign(campaign_id: uuid.UUID, campaigns: CampaignsDep, principal: Writer) -> Response:
    """Only drafts are deleted; archive anything that ran."""
    await campaigns.delete(principal.tenant, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _transition(action: Action, summary: str) -> None:
    async def move(
        campaign_id: uuid.UUID,
        lifecycle: LifecycleDep,
        principal: Writer,
        response: Response,
        body: TransitionRequest | None = None,
    ) -> CampaignOut:
        reason = body.reason if body else None
        moved = await lifecycle.act(principal.tenant, campaign_id, action, principal.actor, reason)
        return _answer(response, moved)

    move.__name__ = f"{action.value}_campaign"
    router.post(
        f"/{{campaign_id}}/{action.value}",
        response_model=CampaignOut,
        summary=summary,
        responses=problem_responses(404, 409, 422),
    )(move)


_transition(Action.LAUNCH, "Launch (scheduled when the start lies ahead); refused with 422 until it can run")
_transition(Action.PAUSE, "Pause a scheduled or active campaign")
_transition(Action.RESUME, "Resume a paused campaign")
_transition(Action.COMPLETE, "Complete an active or paused campaign")
_transition(Action.ARCHIVE, "Archive a draft or a completed campaign")


@router.get("/{campaign_id}/history", response_model=list[TransitionOut], responses=ONE)
async def campaign_history(
    campaign_id: uuid.UUID, lifecycle: LifecycleDep, principal: Reader
) -> list[TransitionOut]:
    """Every lifecycle move: who, when, from, to, why."""
    return [TransitionOut.model_validate(t) for t in await lifecycle.history(principal.tenant, campaign_id)]


@router.get("/{campaign_id}/audit", response_model=list[AuditEntryOut], responses=ONE)
async def campaign_audit(
    campaign_id: uuid.UUID, campaigns: CampaignsDep, principal: Reader
) -> list[AuditEntryOut]:
    """Every change of fields and every decided recommendation: who, when, what (budgets before and after)."""
    return [AuditEntryOut.model_validate(a) for a in await campaigns.audit_log(principal.tenant, campaign_id)]


@router.get("/{campaign_id}/executions", response_model=list[ExecutionOut], responses=ONE)
async def campaign_executions(
    campaign_id: uuid.UUID, operations: OperationsDep, principal: Reader
) -> list[ExecutionOut]:
    """The campaign on each platform, as integration last reported it."""
    return [
        ExecutionOut.model_validate(e) for e in await operations.executions(principal.tenant, campaign_id)
    ]


@router.get(
    "/{campaign_id}/performance", response_model=PerformanceOut, responses=problem_responses(404, 503)
)
async def campaign_performance(
    campaign_id: uuid.UUID,
    operations: OperationsDep,
    principal: Reader,
    since: Annotated[IsoDay | None, Query(alias="from")] = None,
    until: Annotated[IsoDay | None, Query(alias="to")] = None,
) -> PerformanceOut:
    """Totals and KPIs per channel and per day, from analytics; when analytics is down, the last
    known figures marked `stale` (or 503 if there are none)."""
    result = await operations.performance(principal.tenant, campaign_id, since, until)
    return PerformanceOut(
        campaign_id=campaign_id, stale=result.stale, fetched_at=result.fetched_at, figures=result.figures
    )
