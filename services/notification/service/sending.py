"""`POST /notifications`: whom, on which channels, when; one delivery per channel and recipient.

Recipients are users (their email from user_management; phone, time zone, locale and quiet hours
from their contact settings here; push subscriptions here) or bare addresses (an email or an E.164
phone number). Channels follow preferences (user over tenant over the category's default; a
critical category keeps its defaults); quiet hours delay what is not critical; a digestible
category joins the user's waiting digest on that channel. In-app messages land in the inbox at
once. An `Idempotency-Key` seen before answers what it answered the first time and sends nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notification.domain import preferences
from services.notification.domain.preferences import QuietHours
from services.notification.events import NotificationDelivered
from services.notification.models import Contact, Delivery, InboxItem, Notification
from services.notification.service.common import NotificationUnitOfWork, NotificationWork
from services.notification.service.directory import Directory, Person
from services.notification.service.rendering import render_content, template_parts
from shared import errors
from shared.clock import utcnow

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class SendRequest:
    category: str
    user_ids: list[uuid.UUID] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    template: str | None = None
    subject: str | None = None
    body: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    channels: list[str] | None = None
    locale: str | None = None
    invitation_for: uuid.UUID | None = None  # mint this user's invitation link at send time


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID | None
    email: str | None
    phone: str | None
    locale: str | None
    quiet: QuietHours | None
    has_push: bool


class Sending:
    def __init__(
        self, uow: NotificationUnitOfWork, directory: Directory, offered: set[str], digest_minutes: int
    ) -> None:
        self.uow = uow
        self.directory = directory
        self.offered = offered | {"in_app"}  # channels this deployment has a provider for
        self.digest_minutes = digest_minutes

    async def send(
        self, tenant_id: uuid.UUID, actor: str, request: SendRequest, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        if idempotency_key:
            async with self.uow(tenant_id) as work:
                seen = await work.repo.notification_by_key(idempotency_key)
            if seen is not None:
                return dict(seen.answer or {})
        people = [await self._person(tenant_id, user_id) for user_id in request.user_ids]
        async with self.uow(tenant_id) as work:
            return await self.send_in(work, tenant_id, actor, request, people, idempotency_key)

    async def send_in(
        self,
        work: NotificationWork,
        tenant_id: uuid.UUID,
        actor: str,
        request: SendRequest,
        people: list[Person],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Inside a transaction (an event handler's, or the request's)."""
        if (
            request.template is not None
            and await template_parts(work, request.template, request.locale) is None
        ):
            raise errors.InvalidInput(f"no template {request.template!r}", code="unknown-template")
        notification_id = uuid.uuid4()
        recipients = [await self._recipient(work, person, request.locale) for person in people]
        recipients += [_address(address, request.locale) for address in request.addresses]
        deliveries: list[Delivery] = []
        for recipient in recipients:
            deliveries += await self._deliveries(work, tenant_id, notification_id, request, recipient)
        answer = {
            "notification_id": str(notification_id),
            "deliveries": [_summary(d) for d in deliveries if d.digest_of is None],
        }
        created = await work.repo.add_notification_once(
            Notification(
                id=notification_id,
                tenant_id=tenant_id,
                category=request.category,
                template=request.template,
                recipients=[{"user_id": str(p.id)} for p in people]
                + [{"address": a} for a in request.addresses],
                requested_by=actor,
                data=request.data,
                idempotency_key=idempotency_key,
                answer=answer,
            )
        )
        if created is None:  # the same key, committed by a concurrent request: its answer stands
            seen = await work.repo.notification_by_key(str(idempotency_key))
            return dict(seen.answer or {}) if seen else answer
        await work.repo.add_deliveries([d for d in deliveries if d.digest_of is None])
        for delivery in deliveries:
            if delivery.channel == "in_app" and delivery.digest_of is None:
                await self._to_inbox(work, delivery, request)
        return answer

    async def _person(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Person:
        person = await self.directory.person(tenant_id, user_id)
        if person is None or person.status == "deactivated":
            raise errors.InvalidInput(f"no active user {user_id} in this tenant", code="unknown-recipient")
        return person

    async def _recipient(self, work: NotificationWork, person: Person, locale: str | None) -> Recipient:
        contact = await work.repo.contact(person.id) or Contact(
            tenant_id=person.id, user_id=person.id
        )  # none saved yet
        quiet = None
        if contact.quiet_start and contact.quiet_end and contact.timezone:
            quiet = QuietHours(contact.quiet_start, contact.quiet_end, contact.timezone)
        has_push = bool(await work.repo.push_subscriptions(person.id))
        return Recipient(person.id, person.email, contact.phone, locale or contact.locale, quiet, has_push)

    async def _deliveries(
        self,
        work: NotificationWork,
        tenant_id: uuid.UUID,
        notification_id: uuid.UUID,
        request: SendRequest,
        recipient: Recipient,
    ) -> list[Delivery]:
        category = preferences.category(request.category)
        channels = await self._channels(work, category, request, recipient)
        now = utcnow()
        later = preferences.quiet_until(now, recipient.quiet, category.critical)
        content: dict[str, Any] = {
            "category": request.category,
            "template": request.template,
            "locale": recipient.locale,
            "data": request.data,
        }
        if request.template is None:
            content.update(subject=request.subject or "", body=request.body or "")
        if request.invitation_for is not None:
            content["invitation_for"] = str(request.invitation_for)
        made = []
        for channel in channels:
            address = {"email": recipient.email, "sms": recipient.phone}.get(channel)
            due = now if channel == "in_app" else (later or now)
            delivery = Delivery(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                notification_id=notification_id,
                channel=channel,
                content=content,
                user_id=recipient.user_id,
                address=address,
                locale=recipient.locale,
                next_attempt_at=due,
            )
            if category.digestible and channel != "in_app" and recipient.user_id is not None:
                delivery = await self._join_digest(work, delivery, category.name, due)
            made.append(delivery)
        return made

    async def _channels(
        self,
        work: NotificationWork,
        category: preferences.Category,
        request: SendRequest,
        recipient: Recipient,
    ) -> list[str]:
        reachable = {"in_app"} if recipient.user_id else set()
        if recipient.email:
            reachable.add("email")
        if recipient.phone:
            reachable.add("sms")
        if recipient.has_push:
            reachable.add("push")
        if recipient.user_id is None:  # a bare address: its own channel, no preferences
            return [c for c in preferences.CHANNELS if c in reachable & self.offered]
        user = {
            p["channel"]: p["enabled"]
            for p in await work.repo.user_preferences(recipient.user_id)
            if p["category"] == category.name
        }
        tenant = {
            p["channel"]: p["enabled"]
            for p in await work.repo.tenant_preferences()
            if p["category"] == category.name
        }
        return preferences.choose_channels(category, request.channels, user, tenant, reachable & self.offered)

    async def _join_digest(
        self, work: NotificationWork, delivery: Delivery, category: str, due: datetime
    ) -> Delivery:
        """The user's queued digest of this category and channel takes the message as an item;
        without one, this delivery becomes the digest, sent when the window ends."""
        waiting = await work.repo.waiting_digest(delivery.user_id, category, delivery.channel)  # type: ignore[arg-type]
        item = {
            "notification_id": str(delivery.notification_id),
            **{k: delivery.content.get(k) for k in ("template", "subject", "body", "data")},
        }
        if waiting is not None:
            items = [*waiting.content.get("items", []), item]
            await work.repo.update(waiting, content={**waiting.content, "items": items}, updated_at=utcnow())
            delivery.digest_of = waiting.id
            return delivery
        delivery.content = {**delivery.content, "digest": category, "items": [item]}
        delivery.next_attempt_at = max(due, preferences.digest_window_end(utcnow(), self.digest_minutes))
        return delivery

    async def _to_inbox(self, work: NotificationWork, delivery: Delivery, request: SendRequest) -> None:
        rendered = await render_content(work, delivery.content)
        assert delivery.user_id is not None
        await work.repo.add_inbox_item(
            InboxItem(
                id=delivery.id,
                tenant_id=delivery.tenant_id,
                user_id=delivery.user_id,
                notification_id=delivery.notification_id,
                category=request.category,
                title=(rendered.subject or rendered.push_title or request.category)[:300],
                body=rendered.text or rendered.push_body or "",
                data=request.data,
            )
        )
        now = utcnow()
        await work.repo.update(delivery, status="delivered", sent_at=now, delivered_at=now, updated_at=now)
        await work.emit(
            NotificationDelivered(
                notification_id=delivery.notification_id,
                delivery_id=delivery.id,
                channel="in_app",
                user_id=delivery.user_id,
                category=request.category,
            )
        )


def _address(address: str, locale: str | None) -> Recipient:
    if EMAIL.match(address):
        return Recipient(None, address, None, locale, None, False)
    if PHONE.match(address):
        return Recipient(None, None, address, locale, None, False)
    raise errors.InvalidInput(
        f"{address!r} is neither an email address nor an E.164 phone number", code="bad-address"
    )


def _summary(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "channel": delivery.channel,
        "user_id": str(delivery.user_id) if delivery.user_id else None,
        "status": "delivered" if delivery.channel == "in_app" else "queued",
        "scheduled_for": delivery.next_attempt_at.isoformat(),
    }
