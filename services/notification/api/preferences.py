"""`/api/v1/notifications/preferences` and push subscriptions: the caller's own settings."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from services.notification.api.deps import ContainerDep, PreferencesDep, Reader
from services.notification.api.inbox import _me
from services.notification.schemas import (
    PreferencesIn,
    PreferencesOut,
    PushKeyOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from shared import errors
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/notifications", tags=["preferences"], responses=problem_responses(400, 401, 403)
)


@router.get("/preferences", response_model=PreferencesOut)
async def read_preferences(preferences: PreferencesDep, principal: Reader) -> PreferencesOut:
    """Each category's channels as they apply to you (and whether you, the tenant, the category or
    its being critical decided it), your contact details and quiet hours."""
    return PreferencesOut(**await preferences.read(principal.tenant, _me(principal)))


@router.put("/preferences", response_model=PreferencesOut, responses=problem_responses(422))
async def write_preferences(
    body: PreferencesIn, preferences: PreferencesDep, principal: Reader
) -> PreferencesOut:
    """Your choices (or, with `scope: tenant`, the tenant's defaults: admins only). Critical
    categories (security, billing) cannot be turned off."""
    for_tenant = body.scope == "tenant"
    if for_tenant and not principal.can("notifications:manage"):
        raise errors.PermissionDenied("missing permission notifications:manage")
    if for_tenant and body.contact is not None:
        raise errors.InvalidInput("contact details belong to a user, not to the tenant")
    choices = [c.model_dump() for c in body.choices]
    contact = body.contact.model_dump() if body.contact is not None else None
    return PreferencesOut(
        **await preferences.write(principal.tenant, _me(principal), choices, contact, for_tenant)
    )


@router.get("/push/key", response_model=PushKeyOut)
async def push_key(container: ContainerDep, principal: Reader) -> PushKeyOut:
    """The applicationServerKey a browser subscribes with (null: push is not configured)."""
    push = container.channels.push
    return PushKeyOut(application_server_key=push.application_server_key if push else None)


@router.get("/push/subscriptions", response_model=list[PushSubscriptionOut])
async def push_subscriptions(preferences: PreferencesDep, principal: Reader) -> list[PushSubscriptionOut]:
    return [
        PushSubscriptionOut.model_validate(s)
        for s in await preferences.push_subscriptions(principal.tenant, _me(principal))
    ]


@router.post("/push/subscriptions", status_code=status.HTTP_201_CREATED, response_model=PushSubscriptionOut)
async def subscribe_push(
    body: PushSubscriptionIn, preferences: PreferencesDep, principal: Reader
) -> PushSubscriptionOut:
    """The browser's `PushSubscription.toJSON()`."""
    saved = await preferences.subscribe_push(
        principal.tenant, _me(principal), body.endpoint, body.keys["p256dh"], body.keys["auth"]
    )
    return PushSubscriptionOut.model_validate(saved)


@router.delete(
    "/push/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404),
)
async def unsubscribe_push(
    subscription_id: uuid.UUID, preferences: PreferencesDep, principal: Reader
) -> Response:
    await preferences.unsubscribe_push(principal.tenant, _me(principal), subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
