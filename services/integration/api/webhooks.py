"""`/api/v1/webhooks/{provider}` (public, signature checked) and billing checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.integration.api.deps import BillingDep, BillingOwner, WebhooksDep
from services.integration.schemas import CheckoutIn, CheckoutOut, WebhookAck
from shared.problems import problem_responses

router = APIRouter(tags=["webhooks"])
ProviderName = Annotated[str, Path(pattern=r"^[a-z_]{1,30}$", description="stripe, meta or mautic")]


@router.post("/api/v1/webhooks/{provider}", response_model=WebhookAck, responses=problem_responses(400, 404))
async def receive_webhook(provider: ProviderName, request: Request, webhooks: WebhooksDep) -> WebhookAck:
    """Verified on the raw body (Stripe-Signature, X-Hub-Signature-256, Webhook-Signature); a bad or
    stale signature is a 400 and nothing is stored; a redelivered event is acknowledged once."""
    new = await webhooks.receive(provider, await request.body(), request.headers)
    return WebhookAck(received=True, duplicate=not new)


@router.get("/api/v1/webhooks/meta", responses=problem_responses(400))
async def meta_subscription(
    webhooks: WebhooksDep,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=50)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=500)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=500)] = None,
) -> Response:
    """Meta's verification handshake: the challenge echoed when the verify token matches."""
    return Response(webhooks.verify_subscription(mode, token, challenge), media_type="text/plain")


@router.post(
    "/api/v1/integrations/billing/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutOut,
    responses=problem_responses(401, 403, 409, 503),
)
async def checkout(body: CheckoutIn, billing: BillingDep, principal: BillingOwner) -> CheckoutOut:
    """A Stripe Checkout Session for a paid plan (owner only); the plan changes when Stripe's
    webhook says the payment succeeded."""
    session = await billing.checkout(principal.tenant, body.plan)
    return CheckoutOut(session_id=session.id, url=session.url)
