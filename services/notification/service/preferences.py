"""Who wants what: per user, per category and channel (over the tenant's defaults, over the
category's); contact details and quiet hours per user; web push subscriptions per user."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Any

from services.notification.domain import preferences
from services.notification.models import Contact, PushSubscription
from services.notification.service.common import NotificationUnitOfWork
from shared import errors
from shared.clock import time_zone, utcnow


class Preferences:
    def __init__(self, uow: NotificationUnitOfWork) -> None:
        self.uow = uow

    async def read(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
        async with self.uow(tenant_id) as work:
            mine = await work.repo.user_preferences(user_id)
            tenant = await work.repo.tenant_preferences()
            contact = await work.repo.contact(user_id)
        return {
            "categories": _matrix(mine, tenant),
            "contact": _contact(contact),
            "tenant_defaults": [dict(p) for p in tenant],
        }

    async def write(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        choices: list[dict[str, Any]],
        contact: dict[str, Any] | None,
        for_tenant: bool,
    ) -> dict[str, Any]:
        """Each choice {category, channel, enabled}; a critical category's channels cannot go off."""
        for choice in choices:
            category = preferences.category(choice["category"])
            if category.critical and not choice["enabled"] and choice["channel"] in category.default_channels:
                raise errors.InvalidInput(
                    f"{category.name} messages are critical: {choice['channel']} cannot be turned off",
                    code="critical-category",
                )
        if contact is not None:
            _check_contact(contact)
        async with self.uow(tenant_id) as work:
            for choice in choices:
                owner = None if for_tenant else user_id
                await work.repo.set_preference(
                    tenant_id, owner, choice["category"], choice["channel"], choice["enabled"]
                )
            if contact is not None:
                await work.repo.save_contact(
                    Contact(tenant_id=tenant_id, user_id=user_id, updated_at=utcnow(), **contact)
                )
        return await self.read(tenant_id, user_id)

    async def subscribe_push(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, endpoint: str, p256dh: str, auth: str
    ) -> PushSubscription:
        async with self.uow(tenant_id) as work:
            return await work.repo.save_push_subscription(
                PushSubscription(uuid.uuid4(), tenant_id, user_id, endpoint, p256dh, auth)
            )

    async def push_subscriptions(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[PushSubscription]:
        async with self.uow(tenant_id) as work:
            return await work.repo.push_subscriptions(user_id)

    async def unsubscribe_push(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> None:
        async with self.uow(tenant_id) as work:
            if not await work.repo.delete_push_subscription(subscription_id, user_id):
                raise errors.NotFound("no such push subscription")


def _matrix(mine: list[dict[str, Any]], tenant: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every known category with each channel's effective setting and where it comes from."""
    own = {(p["category"], p["channel"]): p["enabled"] for p in mine}
    theirs = {(p["category"], p["channel"]): p["enabled"] for p in tenant}
    names = sorted(set(preferences.CATEGORIES) | {c for c, _ in own} | {c for c, _ in theirs})
    rows = []
    for name in names:
        category = preferences.category(name)
        channels = {}
        for channel in preferences.CHANNELS:
            default = channel in category.default_channels
            value, source = default, "category"
            if (name, channel) in theirs:
                value, source = theirs[(name, channel)], "tenant"
            if (name, channel) in own:
                value, source = own[(name, channel)], "user"
            if category.critical and default:
                value, source = True, "critical"
            channels[channel] = {"enabled": value, "source": source}
        rows.append(
            {
                "category": name,
                "critical": category.critical,
                "digestible": category.digestible,
                "channels": channels,
            }
        )
    return rows


def _contact(contact: Contact | None) -> dict[str, Any]:
    if contact is None:
        return {"phone": None, "timezone": None, "locale": None, "quiet_start": None, "quiet_end": None}
    return {
        "phone": contact.phone,
        "timezone": contact.timezone,
        "locale": contact.locale,
        "quiet_start": contact.quiet_start.isoformat() if contact.quiet_start else None,
        "quiet_end": contact.quiet_end.isoformat() if contact.quiet_end else None,
    }


def _check_contact(contact: dict[str, Any]) -> None:
    zone = contact.get("timezone")
    if zone:
        try:
            time_zone(zone)
        except ValueError as unknown:
            raise errors.InvalidInput(str(unknown), code="invalid-contact") from None
    start, end = contact.get("quiet_start"), contact.get("quiet_end")
    if (start is None) != (end is None):
        raise errors.InvalidInput("give both quiet_start and quiet_end, or neither", code="invalid-contact")
    if start is not None and not zone:
        raise errors.InvalidInput("quiet hours need a time zone", code="invalid-contact")
    for value in (start, end):
        if value is not None and not isinstance(value, time):
            raise errors.InvalidInput("quiet hours are times of day", code="invalid-contact")
