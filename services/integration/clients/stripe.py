"""The slice of Stripe's REST API billing uses: customers and Checkout Sessions.

Form-encoded bodies in Stripe's bracket notation, `Authorization: Bearer <secret key>`, and an
`Idempotency-Key` on every POST, so a retried call never makes a second customer or session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from shared.http import BreakerRegistry, CircuitOpen, ResilientClient


class StripeFailure(Exception):
    """Stripe refused or could not be reached; the message is Stripe's own (no key in it)."""

    def __init__(self, message: str, *, unavailable: bool) -> None:
        super().__init__(message)
        self.unavailable = unavailable


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    customer_id: str | None


def form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested mappings and lists in Stripe's notation: `metadata[plan]`, `line_items[0][price]`."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs += form(value, name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                pairs += (
                    form(item, f"{name}[{index}]")
                    if isinstance(item, Mapping)
                    else [(f"{name}[{index}]", str(item))]
                )
        elif value is not None:
            pairs.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    return pairs


class StripeClient:
    def __init__(self, base_url: str, api_key: str, breakers: BreakerRegistry) -> None:
        self._http = ResilientClient(
            base_url, headers={"Authorization": f"Bearer {api_key}"}, breakers=breakers, retries=2
        )

    async def _post(self, path: str, params: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
        try:
            response = await self._http.post(
                path,
                content=urlencode(form(params)),
                headers={
                    "Idempotency-Key": idempotency_key,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                idempotent=True,
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise StripeFailure(f"Stripe is unreachable ({type(error).__name__})", unavailable=True) from None
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            message = str(
                (body.get("error") or {}).get("message") or f"Stripe answered {response.status_code}"
            )
            raise StripeFailure(
                message, unavailable=response.status_code >= 500 or response.status_code == 429
            )
        return body

    async def create_customer(self, tenant_id: str, idempotency_key: str) -> str:
        body = await self._post("/v1/customers", {"metadata": {"tenant_id": tenant_id}}, idempotency_key)
        return str(body["id"])

    async def create_checkout(
        self,
        *,
        customer_id: str,
        price: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        body = await self._post(
            "/v1/checkout/sessions",
            {
                "mode": "subscription",
                "customer": customer_id,
                "line_items": [{"price": price, "quantity": 1}],
                "metadata": dict(metadata),
                "subscription_data": {"metadata": dict(metadata)},
                "client_reference_id": metadata.get("tenant_id"),
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            idempotency_key,
        )
        return CheckoutSession(str(body["id"]), str(body["url"]), body.get("customer"))

    async def aclose(self) -> None:
        await self._http.aclose()
