"""`/api/v1/notifications`: send, follow a notification, dead deliveries and their re-drive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from services.notification.api.deps import DeliveriesDep, Manager, Sender, SendingDep
from services.notification.schemas import (
    AttemptOut,
    DeadPage,
    DeliveryOut,
    NotificationAccepted,
    NotificationIn,
    NotificationOut,
)
from services.notification.service.sending import SendRequest
from shared import cursors
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/notifications", tags=["notifications"], responses=problem_responses(400, 401, 403)
)


def _status_url(notification_id: uuid.UUID | str) -> str:
    return f"/api/v1/notifications/{notification_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=NotificationAccepted,
    responses=problem_responses(503),
)
async def send(
    body: NotificationIn,
    sending: SendingDep,
    principal: Sender,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")] = None,
) -> NotificationAccepted:
    """Queue one delivery per recipient and channel (202). The same `Idempotency-Key` again answers
    the first answer and sends nothing."""
    request = SendRequest(
        category=body.category,
        user_ids=list(dict.fromkeys([*([body.user_id] if body.user_id else []), *body.user_ids])),
        addresses=list(dict.fromkeys(body.to)),
        template=body.template,
        subject=body.subject,
        body=body.body,
        data=body.data,
        channels=body.channels,
        locale=body.locale,
    )
    answer = await sending.send(principal.tenant, principal.actor, request, idempotency_key)
    response.headers["Location"] = _status_url(answer["notification_id"])
    return NotificationAccepted(**answer, status_url=_status_url(answer["notification_id"]))


@router.get("/dead", response_model=DeadPage)
async def dead_deliveries(
    deliveries: DeliveriesDep,
    principal: Manager,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DeadPage:
    """Deliveries whose tries ran out (newest first): re-drive them once the cause is fixed."""
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    found = await deliveries.dead(principal.tenant, limit + 1, after)
    page = found[:limit]
    more = len(found) > limit
    return DeadPage(
        items=[DeliveryOut.model_validate(d) for d in page],
        next_cursor=cursors.encode([page[-1].updated_at.isoformat(), page[-1].id]) if more else None,
    )


@router.post(
    "/deliveries/{delivery_id}/redrive", response_model=DeliveryOut, responses=problem_responses(404, 409)
)
async def redrive(delivery_id: uuid.UUID, deliveries: DeliveriesDep, principal: Manager) -> DeliveryOut:
    return DeliveryOut.model_validate(await deliveries.redrive(principal.tenant, delivery_id))


@router.get("/{notification_id}", response_model=NotificationOut, responses=problem_responses(404))
async def get_notification(
    notification_id: uuid.UUID, deliveries: DeliveriesDep, principal: Sender
) -> NotificationOut:
    """Each delivery's status and every attempt with its error."""
    found = await deliveries.notification(principal.tenant, notification_id)
    notification = found["notification"]
    return NotificationOut(
        id=notification.id,
        category=notification.category,
        template=notification.template,
        requested_by=notification.requested_by,
        created_at=notification.created_at,
        deliveries=[DeliveryOut.model_validate(d) for d in found["deliveries"]],
        attempts=[AttemptOut(**a) for a in found["attempts"]],
    )
