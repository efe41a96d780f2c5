"""What other services' events make notification say (DESIGN §4 flows 1, 3, 5, 6).

Each reaction runs in the consumer's transaction and sends through the same path as the API,
with the event id as the idempotency key: a redelivered event sends nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from services.notification.service.common import NotificationWork
from services.notification.service.directory import Directory, Person
from services.notification.service.sending import Sending, SendRequest
from shared.events.envelope import Event

Reaction = Callable[[NotificationWork, Event], Awaitable[None]]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None  # e.g. `service:ai_agents` asked for a report: nobody to tell


class Reactions:
    def __init__(self, sending: Sending, directory: Directory, public_url: str) -> None:
        self.sending = sending
        self.directory = directory
        self.public_url = public_url.rstrip("/")

    async def _send(
        self, work: NotificationWork, event: Event, people: list[Person], request: SendRequest
    ) -> None:
        if event.tenant_id is None or not people:
            return
        await self.sending.send_in(
            work, event.tenant_id, f"event:{event.type}", request, people, f"event:{event.id}"
        )

    async def _user(self, event: Event, user_id: Any) -> list[Person]:
        found = _uuid(user_id)
        if found is None or event.tenant_id is None:
            return []
        person = await self.directory.person(event.tenant_id, found)
        return [person] if person is not None and person.status == "active" else []

    async def _admins(self, event: Event) -> list[Person]:
        return await self.directory.admins(event.tenant_id) if event.tenant_id else []

    async def on_registered(self, work: NotificationWork, event: Event) -> None:
        """Flow 1: a welcome email and an in-app message to the new owner."""
        d = event.data
        person = Person(
            uuid.UUID(str(d["user_id"])),
            str(d["email"]),
            str(d.get("full_name", "")),
            str(d.get("role", "")),
            "active",
        )
        data = {"full_name": person.full_name, "tenant_name": d.get("tenant_name", "")}
        await self._send(work, event, [person], SendRequest("account", template="welcome", data=data))

    async def on_invited(self, work: NotificationWork, event: Event) -> None:
        """The invitation email; its one-time link is minted by user_management when it is sent."""
        d = event.data
        person = Person(
            uuid.UUID(str(d["user_id"])),
            str(d["email"]),
            str(d.get("full_name", "")),
            str(d.get("role", "")),
            "invited",
        )
        data = {"full_name": person.full_name, "role": person.role, "expires_at": d.get("expires_at")}
        request = SendRequest(
            "account", template="invitation", data=data, channels=["email"], invitation_for=person.id
        )
        await self._send(work, event, [person], request)

    async def on_locked(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        people = await self._user(event, d.get("user_id"))
        request = SendRequest(
            "security", template="security_locked", data={"locked_until": d.get("locked_until")}
        )
        await self._send(work, event, people, request)

    async def on_campaign(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        people = await self._user(event, d.get("owner_user_id"))
        channels = [c.get("channel") for c in d.get("channels", []) if isinstance(c, dict)]
        key = "campaign_launched" if event.type == "campaign.launched" else "campaign_completed"
        data = {
            "name": d.get("name"),
            "campaign_id": d.get("campaign_id"),
            "channels": channels,
            "reason": d.get("reason"),
        }
        await self._send(work, event, people, SendRequest("campaign", template=key, data=data))

    async def on_kpi_alert(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        data = {
            "kpi": d.get("kpi"),
            "value": d.get("value"),
            "rule": d.get("rule"),
            "campaign_id": d.get("campaign_id"),
        }
        await self._send(
            work, event, await self._admins(event), SendRequest("kpi_alert", template="kpi_alert", data=data)
        )

    async def on_report_ready(self, work: NotificationWork, event: Event) -> None:
        """Flow 5: the requester hears where to download it (the link needs their own token)."""
        d = event.data
        data = {"format": d.get("format"), "download_url": f"{self.public_url}{d.get('download_path', '')}"}
        people = await self._user(event, d.get("requested_by"))
        await self._send(work, event, people, SendRequest("report", template="report_ready", data=data))

    async def on_sync_failed(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        data = {
            "provider": d.get("provider"),
            "error": d.get("error"),
            "needs_reauth": bool(d.get("needs_reauth")),
        }
        await self._send(
            work,
            event,
            await self._admins(event),
            SendRequest("integration", template="sync_failed", data=data),
        )

    async def on_payment_failed(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        data = {"plan": d.get("plan"), "reason": d.get("reason")}
        await self._send(
            work,
            event,
            await self._admins(event),
            SendRequest("billing", template="payment_failed", data=data),
        )

    async def on_ai_task(self, work: NotificationWork, event: Event) -> None:
        d = event.data
        data = {"type": d.get("type"), "summary": d.get("summary") or ""}
        people = await self._user(event, d.get("requested_by"))
        await self._send(work, event, people, SendRequest("ai", template="ai_task_completed", data=data))
