"""What comes back after a send: the SMS provider's status callbacks, opens and clicks of emails,
one-click unsubscribes; and the operator's view of a notification and its dead deliveries.

Callbacks, pixels and links are public; each carries a signed token naming its tenant and delivery
(`domain/links.py`), so they need no session and no lookup across tenants. Status only moves
forward (`domain.retry.TRANSITIONS`): a late or repeated callback changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.notification.clients.failover import Failover
from services.notification.clients.sms import TwilioSender
from services.notification.domain import preferences
from services.notification.domain.links import BadLink, LinkSigner
from services.notification.domain.retry import TRANSITIONS, DeliveryStatus
from services.notification.events import NotificationDelivered, NotificationFailed
from services.notification.models import Delivery
from services.notification.service.common import NotificationUnitOfWork, NotificationWork
from shared import errors
from shared.clock import utcnow

TWILIO_STATUS = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}
STAMPS = {"delivered": "delivered_at", "opened": "opened_at", "clicked": "clicked_at"}


class BadToken(errors.BadReference):
    code = "invalid-link"


def _moves(current: str, wanted: str) -> bool:
    try:
        return DeliveryStatus(wanted) in TRANSITIONS[DeliveryStatus(current)]
    except (ValueError, KeyError):
        return False


class Tracking:
    def __init__(
        self, uow: NotificationUnitOfWork, links: LinkSigner, sms: Failover[TwilioSender] | None
    ) -> None:
        self.uow = uow
        self.links = links
        self.sms = sms

    def _claims(self, token: str, purpose: str) -> Any:
        try:
            return self.links.read(token, purpose)
        except BadLink as bad:
            raise BadToken(str(bad)) from None

    async def sms_status(
        self, token: str, url: str, params: Mapping[str, str], signature: str | None
    ) -> None:
        accounts = self.sms.senders if self.sms is not None else ()
        if not any(account.verify_callback(url, params, signature) for account in accounts):
            raise BadToken("the callback's signature does not match")
        claims = self._claims(token, "status")
        wanted = TWILIO_STATUS.get(params.get("MessageStatus", ""))
        if wanted is None:
            return  # queued, sending, accepted: nothing new
        error = params.get("ErrorCode") or None
        await self._move(
            claims.tenant_id, claims.delivery_id, wanted, f"provider error {error}" if error else None
        )

    async def opened(self, token: str) -> None:
        claims = self._claims(token, "open")
        await self._move(claims.tenant_id, claims.delivery_id, "opened")

    async def clicked(self, token: str) -> str:
        """The URL the message linked to (bound in the token: nothing else is redirected to)."""
        claims = self._claims(token, "click")
        await self._move(claims.tenant_id, claims.delivery_id, "clicked")
        return str(claims.extra)

    async def unsubscribe(self, token: str) -> str:
        """One click (RFC 8058): email of this category off for the recipient; returns the category."""
        claims = self._claims(token, "unsubscribe")
        async with self.uow(claims.tenant_id) as work:
            delivery = await work.repo.delivery(claims.delivery_id)
            if delivery is None or delivery.user_id is None:
                raise errors.NotFound("no such message")
            category = str(delivery.content.get("category", ""))
            if not preferences.category(category).critical:
                await work.repo.set_preference(claims.tenant_id, delivery.user_id, category, "email", False)
            return category

    async def _move(
        self, tenant_id: uuid.UUID, delivery_id: uuid.UUID, wanted: str, error: str | None = None
    ) -> None:
        async with self.uow(tenant_id) as work:
            delivery = await work.repo.delivery(delivery_id, for_update=True)
            if delivery is None or not _moves(delivery.status, wanted):
                return
            now = utcnow()
            changes: dict[str, Any] = {"status": wanted, "updated_at": now}
            if wanted in STAMPS:
                changes[STAMPS[wanted]] = now
            if wanted in ("opened", "clicked") and delivery.delivered_at is None:
                changes["delivered_at"] = now  # an open proves delivery
            if error:
                changes["last_error"] = error[:1000]
            updated = await work.repo.update(delivery, **changes)
            await _announce(work, updated, wanted, error)


async def _announce(work: NotificationWork, delivery: Delivery, status: str, error: str | None) -> None:
    common = {
        "notification_id": delivery.notification_id,
        "delivery_id": delivery.id,
        "channel": delivery.channel,
        "user_id": delivery.user_id,
        "category": str(delivery.content.get("category", "")),
    }
    if status == "delivered":
        await work.emit(NotificationDelivered(**common))
    elif status == "failed":
        await work.emit(
            NotificationFailed(**common, error=error or "the provider could not deliver it", status="failed")
        )


class Deliveries:
    def __init__(self, uow: NotificationUnitOfWork) -> None:
        self.uow = uow

    async def notification(self, tenant_id: uuid.UUID, notification_id: uuid.UUID) -> dict[str, Any]:
        async with self.uow(tenant_id) as work:
            found = await work.repo.notification(notification_id)
            if found is None:
                raise errors.NotFound("no such notification")
            deliveries = await work.repo.deliveries_of(notification_id)
            attempts = await work.repo.attempts_of(notification_id)
        return {"notification": found, "deliveries": deliveries, "attempts": attempts}

    async def dead(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[Delivery]:
        async with self.uow(tenant_id) as work:
            return await work.repo.dead_deliveries(limit, after)

    async def redrive(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
        """A dead or failed delivery queued again with its tries reset (a bounce stays a bounce)."""
        async with self.uow(tenant_id) as work:
            delivery = await work.repo.delivery(delivery_id, for_update=True)
            if delivery is None:
                raise errors.NotFound("no such delivery")
            if delivery.status not in ("dead", "failed"):
                raise errors.Conflict(
                    f"the delivery is {delivery.status}; only dead or failed ones are re-driven",
                    code="not-redrivable",
                )
            now = utcnow()
            return await work.repo.update(
                delivery, status="queued", attempts=0, next_attempt_at=now, last_error=None, updated_at=now
            )
