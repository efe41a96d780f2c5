"""What ai_agents reads from its peers with its service token (flow 4): a campaign's budgets from
campaign_management (`campaigns:read`) and its figures per channel from analytics
(`analytics:read`)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from shared import errors
from shared.http import CircuitOpen
from shared.peers import Peers


class FleetReader:
    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def _get(self, peer: str, path: str, tenant_id: uuid.UUID) -> dict[str, Any] | None:
        try:
            response = await self.peers(peer).get(path, tenant_id=tenant_id)
        except (httpx.HTTPError, CircuitOpen) as error:
            raise errors.Unavailable(f"{peer} is unavailable ({type(error).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise errors.Unavailable(f"{peer} answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    async def campaign(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._get("campaign_management", f"/api/v1/campaigns/{campaign_id}", tenant_id)

    async def performance(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._get(
            "analytics", f"/api/v1/analytics/campaigns/{campaign_id}/performance", tenant_id
        )
