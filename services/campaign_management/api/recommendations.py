"""Optimization and recommendations of a campaign."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from services.campaign_management.api.deps import (
    Optimizer,
    Reader,
    RecommendationsDep,
    Writer,
)
from services.campaign_management.schemas import RecommendationCreate, RecommendationOut, TaskAccepted
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/campaigns", tags=["recommendations"], responses=problem_responses(400, 401, 403)
)


@router.post(
    "/{campaign_id}/optimize",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    responses=problem_responses(404, 409, 503),
)
async def optimize(
    campaign_id: uuid.UUID, recommendations: RecommendationsDep, principal: Optimizer, response: Response
) -> TaskAccepted:
    """Starts an optimization task at ai_agents; its recommendations arrive here when it is done."""
    task = await recommendations.optimize(principal.tenant, campaign_id, principal.actor)
    task_id = str(task.get("id") or task.get("task_id"))
    status_url = str(task.get("status_url") or f"/api/v1/ai/tasks/{task_id}")
    response.headers["Location"] = status_url
    return TaskAccepted(task_id=task_id, status_url=status_url)


@router.get(
    "/{campaign_id}/recommendations", response_model=list[RecommendationOut], responses=problem_responses(404)
)
async def list_recommendations(
    campaign_id: uuid.UUID, recommendations: RecommendationsDep, principal: Reader
) -> list[RecommendationOut]:
    items = await recommendations.list(principal.tenant, campaign_id)
    return [RecommendationOut.model_validate(r) for r in items]


@router.post(
    "/{campaign_id}/recommendations",
    status_code=status.HTTP_201_CREATED,
    response_model=RecommendationOut,
    responses=problem_responses(404),
)
async def add_recommendation(
    campaign_id: uuid.UUID, body: RecommendationCreate, recommendations: RecommendationsDep, principal: Writer
) -> RecommendationOut:
    """A recommendation written by a person, applied or dismissed like the agents' ones."""
    items = [item.model_dump(exclude_none=True) for item in body.items]
    return RecommendationOut.model_validate(await recommendations.add(principal.tenant, campaign_id, items))


@router.get(
    "/{campaign_id}/recommendations/{recommendation_id}",
    response_model=RecommendationOut,
    responses=problem_responses(404),
)
async def get_recommendation(
    campaign_id: uuid.UUID,
    recommendation_id: uuid.UUID,
    recommendations: RecommendationsDep,
    principal: Reader,
) -> RecommendationOut:
    found = await recommendations.get(principal.tenant, campaign_id, recommendation_id)
    return RecommendationOut.model_validate(found)


@router.post(
    "/{campaign_id}/recommendations/{recommendation_id}/apply",
    response_model=RecommendationOut,
    responses=problem_responses(404, 409),
)
async def apply_recommendation(
    campaign_id: uuid.UUID,
    recommendation_id: uuid.UUID,
    recommendations: RecommendationsDep,
    principal: Writer,
) -> RecommendationOut:
    """Changes the budgets in one transaction; a second apply is a 409, not a second change."""
    applied = await recommendations.apply(principal.tenant, campaign_id, recommendation_id, principal.actor)
    return RecommendationOut.model_validate(applied)


@router.post(
    "/{campaign_id}/recommendations/{recommendation_id}/dismiss",
    response_model=RecommendationOut,
    responses=problem_responses(404, 409),
)
async def dismiss_recommendation(
    campaign_id: uuid.UUID,
    recommendation_id: uuid.UUID,
    recommendations: RecommendationsDep,
    principal: Writer,
) -> RecommendationOut:
    dismissed = await recommendations.dismiss(
        principal.tenant, campaign_id, recommendation_id, principal.actor
    )
    return RecommendationOut.model_validate(dismissed)
