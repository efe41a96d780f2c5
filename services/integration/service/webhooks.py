"""Webhooks `POST /api/v1/webhooks/{provider}`: verified on the raw body, stored once, handed on.

A bad or stale signature stores nothing. A provider's redelivery of an event id already stored
is acknowledged and does nothing more. Each new event becomes `webhook.received`; Stripe's paying
events also become `payment.succeeded` / `payment.failed` for the tenant they belong to.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.integration.domain import signatures
from services.integration.domain.billing import outcome_of
from services.integration.events import WebhookReceived
from services.integration.service.billing import Billing
from services.integration.service.common import IntegrationUnitOfWork
from shared import errors
from shared.text import check_storable_json

PROVIDERS = ("stripe", "meta", "mautic")


@dataclass(frozen=True)
class WebhookSecrets:
    stripe: Sequence[str]
    meta_app_secret: str
    meta_verify_token: str
    mautic: str


class BadSignature(errors.BadReference):
    code = "bad-signature"


class Webhooks:
    def __init__(self, uow: IntegrationUnitOfWork, billing: Billing, secrets: WebhookSecrets) -> None:
        self.uow = uow
        self.billing = billing
        self.secrets = secrets

    def verify_subscription(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's GET handshake when a webhook subscription is set up."""
        try:
            return signatures.verify_subscription(mode, token, challenge, self.secrets.meta_verify_token)
        except signatures.BadSignature as bad:
            raise BadSignature(f"verification refused: {bad.reason}") from None

    async def receive(self, provider: str, body: bytes, headers: Mapping[str, str]) -> bool:
        """True for a new event, False for a redelivery."""
        if provider not in PROVIDERS:
            raise errors.NotFound(f"no webhooks from {provider!r}")
        self._verify(provider, body, headers)
        payload = _json(body)
        event_id, event_type = _identity(provider, payload, body)
        outcome = outcome_of(payload) if provider == "stripe" else None
        async with self.uow(None) as work:
            tenant_id = await self.billing.tenant_of(work, outcome) if outcome else None
            if not await work.repo.record_webhook(
                provider, event_id, event_type, tenant_id, json.dumps(payload)
            ):
                return False
            await work.scope_to(tenant_id)
            await work.emit(WebhookReceived(provider=provider, event_id=event_id, webhook_type=event_type))
            if outcome is not None and tenant_id is not None:
                await self.billing.record(work, outcome)
        return True

    def _verify(self, provider: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            if provider == "stripe":
                signatures.verify_stripe(
                    body, headers.get("stripe-signature"), self.secrets.stripe, now=time.time()
                )
            elif provider == "meta":
                signatures.verify_meta(body, headers.get("x-hub-signature-256"), self.secrets.meta_app_secret)
            else:
                signatures.verify_mautic(body, headers.get("webhook-signature"), self.secrets.mautic)
        except signatures.BadSignature as bad:
            raise BadSignature(f"signature refused: {bad.reason}") from None


def _json(body: bytes) -> dict[str, Any]:
    """The signed body as a JSON object we can store (jsonb refuses NUL, lone surrogates, NaN)."""
    try:
        payload = json.loads(body.decode("utf-8"))
        check_storable_json(payload)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadReference("the body is not storable JSON", code="invalid-body") from None
    if not isinstance(payload, dict):
        raise errors.BadReference("the body is not a JSON object", code="invalid-body")
    return payload


def _identity(provider: str, payload: Mapping[str, Any], body: bytes) -> tuple[str, str]:
    """The provider's event id (Stripe's `id`); Meta and Mautic send none, so the body's digest:
    a redelivery carries the same bytes."""
    if provider == "stripe" and isinstance(payload.get("id"), str):
        return payload["id"][:200], str(payload.get("type", "unknown"))[:100]
    digest = hashlib.sha256(body).hexdigest()
    if provider == "meta":
        return digest, str(payload.get("object", "unknown"))[:100]
    kinds = [k for k in payload if k.startswith("mautic.")]
    return digest, (kinds[0] if kinds else "unknown")[:100]
