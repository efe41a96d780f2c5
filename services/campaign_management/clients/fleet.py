"""The peers campaign_management calls, each with this service's own service token:
analytics (a campaign's performance), ai_agents (optimization tasks), integration (the tenant's
Mautic credentials, which no event may carry)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from services.campaign_management.clients.mautic import MauticCredentials
from services.campaign_management.models import OwnerNotice
from shared import errors
from shared.http import CircuitOpen
from shared.peers import Peers


class PeerUnavailable(errors.Unavailable):
    code = "peer-unavailable"


class NoticeRefused(Exception):
    """notification answered 4xx: sending the same notice again cannot succeed."""


def _unavailable(peer: str, error: BaseException | None = None) -> PeerUnavailable:
    reason = type(error).__name__ if error else "an error"
    return PeerUnavailable(f"{peer} is unavailable ({reason}); try again shortly", retry_after=5)


class FleetClients:
    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def performance(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, since: date | None, until: date | None
    ) -> dict[str, Any]:
        """`GET /api/v1/analytics/campaigns/{id}/performance` (totals, per channel, per day)."""
        params = {key: value.isoformat() for key, value in (("from", since), ("to", until)) if value}
        try:
            response = await self.peers("analytics").get(
                f"/api/v1/analytics/campaigns/{campaign_id}/performance", tenant_id=tenant_id, params=params
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable("analytics", error) from None
        if response.status_code == 404:  # analytics has no figures for it yet
            return {
                "campaign_id": str(campaign_id),
                "totals": {},
                "channels": [],
                "days": [],
                "last_synced_at": None,
            }
        if response.status_code != 200:
            raise _unavailable("analytics")
        body: dict[str, Any] = response.json()
        return body

    async def start_optimization(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, requested_by: str
    ) -> dict[str, Any]:
        """Ask ai_agents for a `campaign_optimization` task; answers its id and status URL."""
        try:
            response = await self.peers("ai_agents").post(
                "/api/v1/ai/tasks",
                tenant_id=tenant_id,
                json={
                    "type": "campaign_optimization",
                    "input": {"campaign_id": str(campaign_id)},
                    "requested_by": requested_by,
                },
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable("ai_agents", error) from None
        if response.status_code not in (200, 201, 202):
            raise _unavailable("ai_agents")
        body: dict[str, Any] = response.json()
        return body

    async def notify_owner(self, notice: OwnerNotice) -> None:
        """`POST /api/v1/notifications` to the campaign's owner. The notice id is the idempotency
        key, so a try that timed out after notification accepted it is not sent twice."""
        try:
            response = await self.peers("notification").post(
                "/api/v1/notifications",
                tenant_id=notice.tenant_id,
                headers={"Idempotency-Key": str(notice.id)},
                json={
                    "user_id": str(notice.user_id),
                    "category": notice.category,
                    "subject": notice.subject,
                    "body": notice.body,
                    "data": {"campaign_id": str(notice.campaign_id)},
                },
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable("notification", error) from None
        if response.status_code in (200, 201, 202):
            return
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise NoticeRefused(f"notification answered {response.status_code}")
        raise _unavailable("notification")

    async def mautic_credentials(self, tenant_id: uuid.UUID) -> MauticCredentials | None:
        """The tenant's Mautic connection held by integration; None when it has none (404).
        Integration being down is an error, not "none": the default Mautic is not the tenant's."""
        try:
            response = await self.peers("integration").get(
                "/api/v1/integrations/mautic/credentials", tenant_id=tenant_id
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable("integration", error) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _unavailable("integration")
        body = response.json()
        return MauticCredentials(
            base_url=body["base_url"],
            username=body.get("username"),
            password=body.get("password"),
            client_id=body.get("client_id"),
            client_secret=body.get("client_secret"),
        )
