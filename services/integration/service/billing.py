"""Billing (flow 6): checkout for a paid plan, and Stripe's word on payments turned into events.

The session and its subscription carry `metadata.tenant_id` and `metadata.plan`, so every later
event names its tenant; events without them are matched by the Stripe customer recorded here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from services.integration.clients.stripe import CheckoutSession, StripeClient, StripeFailure
from services.integration.domain.billing import PaymentOutcome
from services.integration.events import PaymentFailed, PaymentSucceeded
from services.integration.models import BillingCustomer
from services.integration.service.common import BACKGROUND_ROLE, IntegrationUnitOfWork, IntegrationWork
from shared import errors
from shared.clock import utcnow


class Billing:
    def __init__(
        self,
        uow: IntegrationUnitOfWork,
        stripe: StripeClient | None,
        prices: Mapping[str, str],
        public_url: str,
    ) -> None:
        self.uow = uow
        self.stripe = stripe
        self.prices = prices
        self.public_url = public_url.rstrip("/")

    async def checkout(self, tenant_id: uuid.UUID, plan: str) -> CheckoutSession:
        price = self.prices.get(plan)
        if price is None:
            raise errors.InvalidInput(f"{plan!r} is not a plan that can be bought here", code="unknown-plan")
        if self.stripe is None:
            raise errors.Unavailable("billing is not configured (STRIPE_API_KEY)", code="not-configured")
        async with self.uow(tenant_id) as work:
            customer = await work.repo.billing_customer()
        try:
            if customer is None:
                customer_id = await self.stripe.create_customer(str(tenant_id), f"customer-{tenant_id}")
                async with self.uow(tenant_id) as work:
                    await work.repo.save_billing_customer(BillingCustomer(tenant_id, customer_id))
            else:
                customer_id = customer.customer_id
            return await self.stripe.create_checkout(
                customer_id=customer_id,
                price=price,
                metadata={"tenant_id": str(tenant_id), "plan": plan},
                success_url=f"{self.public_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{self.public_url}/billing/cancelled",
                idempotency_key=f"checkout-{uuid.uuid4()}",
            )
        except StripeFailure as failure:
            if failure.unavailable:
                raise errors.Unavailable(f"Stripe is unavailable: {failure}") from None
            raise errors.Conflict(f"Stripe refused the checkout: {failure}", code="stripe-refused") from None

    async def tenant_of(self, work: IntegrationWork, outcome: PaymentOutcome) -> uuid.UUID | None:
        if outcome.tenant_id is not None:
            return outcome.tenant_id
        if outcome.customer_id is None:
            return None
        customer_id = outcome.customer_id
        return await work.read_as(BACKGROUND_ROLE, lambda: work.repo.tenant_of_customer(customer_id))

    async def record(self, work: IntegrationWork, outcome: PaymentOutcome) -> None:
        """In the tenant's scope: remember the customer and subscription, emit the payment event."""
        assert work.tenant_id is not None
        if outcome.customer_id:
            await work.repo.save_billing_customer(
                BillingCustomer(
                    work.tenant_id, outcome.customer_id, outcome.subscription_id, outcome.plan, utcnow()
                )
            )
        common = {
            "plan": outcome.plan,
            "invoice_id": outcome.invoice_id,
            "amount_minor": outcome.amount_minor,
            "currency": outcome.currency,
            "subscription_id": outcome.subscription_id,
        }
        if outcome.succeeded:
            await work.emit(PaymentSucceeded(**common))
        else:
            await work.emit(PaymentFailed(**common, reason=outcome.reason))
