"""What other services tell analytics, by event:

- integration's `integration.sync_completed`: the fetched rows (inline, or at `rows_url` on
  integration, read with this service's token) go through ingestion like an API batch;
- integration's `execution.updated`: which platform campaign is which of ours, so rows naming
  a platform id find their campaign (parked rows waiting for it are ingested now);
- campaign_management's campaign events: name, status, budget and flight, for spend pacing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from services.analytics.service.common import AnalyticsWork
from services.analytics.service.ingestion import Ingestion, parse_rows
from shared import errors
from shared.events.envelope import Event
from shared.peers import Peers

BUDGET_FIELDS = ("budget_type", "total_budget_minor", "currency", "start_at", "end_at")


class Feeds:
    def __init__(self, ingestion: Ingestion, peers: Peers) -> None:
        self.ingestion = ingestion
        self.peers = peers

    async def on_sync_completed(self, work: AnalyticsWork, event: Event) -> None:
        data, tenant_id = event.data, event.tenant_id
        if tenant_id is None:
            return
        provider = str(data.get("provider") or "integration")
        raw = data.get("rows")
        if raw is None and data.get("rows_url"):
            raw = await self._fetch_rows(tenant_id, str(data["rows_url"]))
        rows = parse_rows([{**row, "source": row.get("source") or provider} for row in raw or []])
        sync_id = uuid.UUID(str(data["sync_id"])) if data.get("sync_id") else None
        if rows:
            await self.ingestion.ingest_in(work, tenant_id, rows, source=provider, sync_id=sync_id, park=True)

    async def _fetch_rows(self, tenant_id: uuid.UUID, rows_url: str) -> list[dict[str, Any]]:
        """Large syncs leave their rows at integration, in pages linked by `next`; a failure here
        is retried by the consumer (the whole event, so no page is stored twice or lost)."""
        rows: list[dict[str, Any]] = []
        url: str | None = rows_url
        while url:
            try:
                response = await self.peers("integration").get(url, tenant_id=tenant_id)
            except httpx.HTTPError as error:
                raise errors.Unavailable(f"integration is unavailable ({type(error).__name__})") from None
            if response.status_code != 200:
                raise errors.Unavailable(f"integration answered {response.status_code} for the sync's rows")
            body = response.json()
            rows += body.get("rows", []) if isinstance(body, dict) else body
            url = body.get("next") if isinstance(body, dict) else None
        return rows

    async def on_execution_updated(self, work: AnalyticsWork, event: Event) -> None:
        data, tenant_id = event.data, event.tenant_id
        if tenant_id is None or not data.get("external_id") or not data.get("campaign_id"):
            return
        channel, external_id = str(data["channel"]), str(data["external_id"])
        campaign_id = uuid.UUID(str(data["campaign_id"]))
        await work.repo.records.map_external(tenant_id, channel, external_id, campaign_id)
        waiting = await work.repo.records.take_unmapped(channel, external_id)
        by_sync: dict[tuple[str, uuid.UUID | None], list[dict[str, Any]]] = {}
        for parked in waiting:
            by_sync.setdefault((parked["source"], parked["sync_id"]), []).append(parked["row"])
        for (source, sync_id), rows in by_sync.items():
            await self.ingestion.ingest_in(
                work, tenant_id, parse_rows(rows), source=source, sync_id=sync_id, park=True
            )

    async def on_campaign(self, work: AnalyticsWork, event: Event) -> None:
        """campaign.created / updated / launched / paused / completed / budget_changed."""
        data, tenant_id = event.data, event.tenant_id
        if tenant_id is None or not data.get("campaign_id"):
            return
        fields: dict[str, Any] = {}
        if "name" in data:
            fields["name"] = str(data["name"])[:200]
        status = {
            "campaign.launched": "active",
            "campaign.paused": "paused",
            "campaign.completed": "completed",
        }
        if event.type in status:
            fields["status"] = status[event.type]
        elif "status" in data:
            fields["status"] = data["status"]
        for name in BUDGET_FIELDS:
            if name in data:
                value = data[name]
                fields[name] = datetime.fromisoformat(value) if name.endswith("_at") and value else value
        await work.repo.records.save_campaign(tenant_id, uuid.UUID(str(data["campaign_id"])), **fields)
