"""What a Stripe event means for a tenant's plan (flow 6), as a pure function of the event.

The tenant is found by the `metadata` our checkout put on the session and its subscription
(`tenant_id`, `plan`), or, when an event carries none, by the Stripe customer recorded for the
tenant at checkout. Events that do not move money or a plan are only acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PAYING_EVENTS = (
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.deleted",
)


@dataclass(frozen=True)
class PaymentOutcome:
    succeeded: bool
    tenant_id: uuid.UUID | None
    customer_id: str | None
    subscription_id: str | None
    plan: str | None
    invoice_id: str | None
    amount_minor: int
    currency: str
    reason: str | None = None


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Our metadata wherever this API version puts it: the object, the subscription details of an
    invoice (older and newer shapes), or the first line's."""
    candidates: list[Any] = [
        obj.get("metadata"),
        (obj.get("subscription_details") or {}).get("metadata"),
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("metadata"),
    ]
    for found in candidates:
        if isinstance(found, Mapping) and found.get("tenant_id"):
            return found
    return {}


def _tenant(metadata: Mapping[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(metadata["tenant_id"]))
    except (KeyError, ValueError):
        return None


def _id(value: Any) -> str | None:
    """An id, or the id of an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def outcome_of(event: Mapping[str, Any]) -> PaymentOutcome | None:
    kind: str = str(event.get("type", ""))
    if kind not in PAYING_EVENTS:
        return None
    obj: Mapping[str, Any] = (event.get("data") or {}).get("object") or {}
    metadata = _metadata(obj)
    succeeded = False
    reason: str | None = None
    invoice_id: str | None = None
    amount = 0
    if kind == "checkout.session.completed":
        if obj.get("payment_status") not in ("paid", "no_payment_required"):
            return None  # paid later (an invoice.paid follows)
        succeeded, amount, invoice_id = True, int(obj.get("amount_total") or 0), _id(obj.get("invoice"))
    elif kind == "invoice.paid":
        succeeded, amount, invoice_id = True, int(obj.get("amount_paid") or 0), _id(obj.get("id"))
    elif kind == "invoice.payment_failed":
        amount, invoice_id, reason = int(obj.get("amount_due") or 0), _id(obj.get("id")), "payment_failed"
    else:
        reason = "subscription_cancelled"
    subscription = _id(obj.get("subscription")) or (
        _id(obj.get("id")) if kind.startswith("customer.sub") else None
    )
    return PaymentOutcome(
        succeeded=succeeded,
        tenant_id=_tenant(metadata),
        customer_id=_id(obj.get("customer")),
        subscription_id=subscription,
        plan=str(metadata["plan"]) if metadata.get("plan") else None,
        invoice_id=invoice_id,
        amount_minor=amount,
        currency=str(obj.get("currency") or "usd").upper(),
        reason=reason,
    )
