"""Alert rules per tenant, and the alerts they fired."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.analytics.api.deps import AlertsDep, Reader, Writer
from services.analytics.schemas import AlertEventOut, AlertRuleIn, AlertRuleOut, AlertRuleUpdate
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/analytics/alerts", tags=["alerts"], responses=problem_responses(400, 401, 403)
)
ONE = problem_responses(404)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=AlertRuleOut, responses=problem_responses(422)
)
async def create_rule(
    body: AlertRuleIn, alerts: AlertsDep, principal: Writer, response: Response
) -> AlertRuleOut:
    """A threshold (a KPI, counter or `pacing` above or below a value over the trailing
    `window_days`) or an anomaly (the latest day `sigmas` deviations from the 14 before it)."""
    fields = body.model_dump()
    if body.kind == "threshold":
        fields["sigmas"] = None
    else:
        fields["operator"] = fields["threshold"] = None
    rule = await alerts.create(principal.tenant, fields)
    response.headers["Location"] = f"/api/v1/analytics/alerts/{rule.id}"
    return AlertRuleOut.model_validate(rule)


@router.get("", response_model=list[AlertRuleOut])
async def list_rules(alerts: AlertsDep, principal: Reader) -> list[AlertRuleOut]:
    return [AlertRuleOut.model_validate(r) for r in await alerts.list(principal.tenant)]


@router.get("/fired", response_model=list[AlertEventOut])
async def fired_alerts(
    alerts: AlertsDep, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AlertEventOut]:
    """The alerts fired, newest first (each also went out as `kpi.alert`)."""
    return [AlertEventOut.model_validate(e) for e in await alerts.fired(principal.tenant, limit)]


@router.get("/{rule_id}", response_model=AlertRuleOut, responses=ONE)
async def get_rule(rule_id: uuid.UUID, alerts: AlertsDep, principal: Reader) -> AlertRuleOut:
    return AlertRuleOut.model_validate(await alerts.get(principal.tenant, rule_id))


@router.patch("/{rule_id}", response_model=AlertRuleOut, responses=problem_responses(404, 422))
async def update_rule(
    rule_id: uuid.UUID, body: AlertRuleUpdate, alerts: AlertsDep, principal: Writer
) -> AlertRuleOut:
    changes = body.model_dump(exclude_unset=True)
    return AlertRuleOut.model_validate(await alerts.update(principal.tenant, rule_id, changes))


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ONE)
async def delete_rule(rule_id: uuid.UUID, alerts: AlertsDep, principal: Writer) -> Response:
    await alerts.delete(principal.tenant, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
