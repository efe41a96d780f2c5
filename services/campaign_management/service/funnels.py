"""Sales funnels: ordered stages, an audience, nurture steps and scoring; synced to Mautic (and
kept in sync in place, by the Mautic ids stored on each funnel and stage); read back from Mautic
as stage movement and email engagement, joined with the campaign's ad spend from analytics."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.campaign_management.clients.fleet import FleetClients, PeerUnavailable
from services.campaign_management.clients.mautic import MauticClient, MauticCredentials, MauticError
from services.campaign_management.domain import funnels as mapping
from services.campaign_management.domain import paging
from services.campaign_management.events import FunnelSynced
from services.campaign_management.models import Funnel, FunnelStage
from services.campaign_management.service.common import CampaignUnitOfWork, CampaignWork
from services.campaign_management.service.funnel_sync import SyncProgress, write_to_mautic
from shared import errors
from shared.clock import utcnow
from shared.http import BreakerRegistry, CircuitOpen

logger = logging.getLogger("campaign_management.funnels")

SYNC_LEASE = timedelta(minutes=10)
"""A sync that has not finished in this long (its process died) no longer blocks the next one."""


@dataclass(frozen=True)
class FunnelView:
    funnel: Funnel
    stages: list[FunnelStage]


@dataclass(frozen=True)
class FunnelPage:
    items: list[FunnelView]
    next_cursor: str | None


class Funnels:
    def __init__(
        self,
        uow: CampaignUnitOfWork,
        fleet: FleetClients,
        breakers: BreakerRegistry,
        default_mautic: MauticCredentials | None,
    ) -> None:
        self.uow = uow
        self.fleet = fleet
        self.breakers = breakers
        self.default_mautic = default_mautic

    # --- records -------------------------------------------------------------------------------

    async def create(self, tenant_id: uuid.UUID, fields: Mapping[str, Any]) -> FunnelView:
        values = dict(fields)
        stages = values.pop("stages", [])
        async with self.uow(tenant_id) as work:
            await self._check_campaign(work, values.get("campaign_id"))
            funnel = await work.repo.add(Funnel(id=uuid.uuid4(), tenant_id=tenant_id, **values))
            rows = await work.repo.replace_stages(funnel.id, _stage_rows(tenant_id, funnel.id, stages))
            return FunnelView(funnel, rows)

    async def get(self, tenant_id: uuid.UUID, funnel_id: uuid.UUID) -> FunnelView:
        async with self.uow(tenant_id) as work:
            funnel = await _funnel_or_404(work, funnel_id)
            return FunnelView(funnel, await work.repo.stages(funnel.id))

    async def list(self, tenant_id: uuid.UUID, limit: int, cursor: str | None) -> FunnelPage:
        after = paging.decode(cursor, "-created_at") if cursor else None
        async with self.uow(tenant_id) as work:
            rows = await work.repo.funnels(limit + 1, after)
            views = [FunnelView(f, await work.repo.stages(f.id)) for f in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        token = paging.encode(paging.Position("-created_at", last.created_at, str(last.id))) if last else None
        return FunnelPage(views, token)

    async def update(
        self, tenant_id: uuid.UUID, funnel_id: uuid.UUID, fields: Mapping[str, Any]
    ) -> FunnelView:
        """Stages given are the new list; each keeps its Mautic ids when its name stays, so the
        next sync edits them in place."""
        values = dict(fields)
        stages = values.pop("stages", None)
        async with self.uow(tenant_id) as work:
            funnel = await _funnel_or_404(work, funnel_id, for_update=True)
            if "campaign_id" in values:
                await self._check_campaign(work, values["campaign_id"])
            funnel = await work.repo.update(funnel, **values, version=funnel.version + 1, updated_at=utcnow())
            rows = await work.repo.stages(funnel.id)
            if stages is not None:
                known = {row.name: row for row in rows}
                fresh = _stage_rows(tenant_id, funnel.id, stages)
                for row in fresh:
                    if row.name in known:
                        row.mautic_stage_id = known[row.name].mautic_stage_id
                        row.mautic_trigger_id = known[row.name].mautic_trigger_id
                rows = await work.repo.replace_stages(funnel.id, fresh)
            return FunnelView(funnel, rows)

    async def delete(self, tenant_id: uuid.UUID, funnel_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            await _funnel_or_404(work, funnel_id)
            await work.repo.delete_funnel(funnel_id)

    async def _check_campaign(self, work: CampaignWork, campaign_id: Any) -> None:
        if campaign_id is not None and await work.repo.campaign(campaign_id) is None:
            raise errors.InvalidInput(
                "campaign_id names no campaign of yours",
                errors=[{"loc": ["body", "campaign_id"], "msg": "no such campaign", "type": "not_found"}],
            )

    # --- Mautic --------------------------------------------------------------------------------

    async def _mautic(self, tenant_id: uuid.UUID) -> MauticClient:
        credentials = await self.fleet.mautic_credentials(tenant_id) or self.default_mautic
        if credentials is None:
            raise errors.Conflict("no Mautic connection: connect Mautic under /integrations first")
        return MauticClient(credentials, self.breakers)

    async def sync(self, tenant_id: uuid.UUID, funnel_id: uuid.UUID) -> FunnelView:
        """Write the funnel to Mautic: create what was never synced, edit the rest in place.
        One sync of a funnel at a time (409 while one runs); the outcome (ids, version, time, or
        the error) is stored either way."""
        client = await self._mautic(tenant_id)
        try:
            view = await self._claim_sync(tenant_id, funnel_id)
            progress = SyncProgress.of(view.funnel, view.stages)
            try:
                await write_to_mautic(client, view.funnel, view.stages, progress)
            except (MauticError, CircuitOpen, OSError) as error:
                message = error.detail if isinstance(error, errors.DomainError) else type(error).__name__
                await self._record_sync(tenant_id, funnel_id, client, progress, message)
                raise errors.Unavailable(f"the sync to Mautic failed: {message}", retry_after=30) from None
            return await self._record_sync(tenant_id, funnel_id, client, progress, None)
        finally:
            await client.aclose()

    async def _claim_sync(self, tenant_id: uuid.UUID, funnel_id: uuid.UUID) -> FunnelView:
        async with self.uow(tenant_id) as work:
            funnel = await _funnel_or_404(work, funnel_id, for_update=True)
            now = utcnow()
            started = funnel.sync_started_at
            if funnel.sync_status == "syncing" and started and now - started < SYNC_LEASE:
                raise errors.Conflict("this funnel is being synced right now; try again shortly")
            funnel = await work.repo.update(funnel, sync_status="syncing", sync_started_at=now)
            return FunnelView(funnel, await work.repo.stages(funnel.id))

    async def _record_sync(
        self,
        tenant_id: uuid.UUID,
        funnel_id: uuid.UUID,
        client: MauticClient,
        progress: SyncProgress,
        error: str | None,
    ) -> FunnelView:
        """Keep every id Mautic gave (also after a failure midway) and the outcome; announce a
        completed sync with `funnel.synced`."""
        async with self.uow(tenant_id) as work:
            funnel = await _funnel_or_404(work, funnel_id, for_update=True)
            ids = progress.ids()
            mautic = {**ids, "version": client.version, "base_url": client.credentials.base_url}
            outcome: dict[str, Any] = (
                {"sync_status": "failed", "sync_error": error[:1000]}
                if error
                else {"sync_status": "synced", "sync_error": None, "synced_at": utcnow()}
            )
            funnel = await work.repo.update(funnel, mautic=mautic, **outcome)
            for stage in await work.repo.stages(funnel.id):
                stage_id, trigger_id = progress.stage_ids.get(stage.name, (None, None))
                await work.repo.update(stage, mautic_stage_id=stage_id, mautic_trigger_id=trigger_id)
            stages = await work.repo.stages(funnel.id)
            if error is None:
                await work.emit(
                    FunnelSynced(
                        funnel_id=funnel.id, campaign_id=funnel.campaign_id, mautic=ids, stages=len(stages)
                    )
                )
            return FunnelView(funnel, stages)

    async def analytics(self, tenant_id: uuid.UUID, funnel_id: uuid.UUID) -> dict[str, Any]:
        """Contacts entering each stage and email engagement (from Mautic's stats), and the
        campaign's ad spend divided by the entries: cost per stage entry."""
        view = await self.get(tenant_id, funnel_id)
        if view.funnel.sync_status != "synced":
            raise errors.Conflict("sync the funnel to Mautic first")
        client = await self._mautic(tenant_id)
        try:
            entries: dict[str, int] = {}
            for stage in view.stages:
                if stage.mautic_stage_id is None:
                    continue
                rows = await client.stats(
                    "lead_stages_change_log", [("stage_id", "eq", stage.mautic_stage_id)]
                )
                entries[stage.name] = len({row.get("lead_id") for row in rows})
            segment_id = view.funnel.mautic.get("segment_id")
            email_rows = await client.stats("email_stats", [("list_id", "eq", segment_id)])
        except (MauticError, CircuitOpen, OSError) as error:
            raise errors.Unavailable(
                f"Mautic is unavailable: {type(error).__name__}", retry_after=30
            ) from None
        finally:
            await client.aclose()
        spend = await self._spend(tenant_id, view.funnel.campaign_id)
        sent = len(email_rows)
        opened = sum(1 for row in email_rows if str(row.get("is_read")) in ("1", "True", "true"))
        return {
            "funnel_id": str(view.funnel.id),
            "stage_entries": entries,
            "emails": {"sent": sent, "opened": opened, "open_rate": (opened / sent) if sent else None},
            "spend_minor": spend,
            "cost_per_stage_entry_minor": mapping.cost_per_stage_entry(spend, entries)
            if spend is not None
            else None,
        }

    async def _spend(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID | None) -> int | None:
        if campaign_id is None:
            return None
        try:
            figures = await self.fleet.performance(tenant_id, campaign_id, None, None)
        except PeerUnavailable:
            return None
        return int(figures.get("totals", {}).get("spend_minor") or 0)


def _stage_rows(
    tenant_id: uuid.UUID, funnel_id: uuid.UUID, stages: list[Mapping[str, Any]]
) -> list[FunnelStage]:
    return [
        FunnelStage(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            funnel_id=funnel_id,
            position=position,
            name=str(stage["name"]),
            weight=int(stage["weight"]),
            entry_rule=dict(stage["entry_rule"]),
        )
        for position, stage in enumerate(stages)
    ]


async def _funnel_or_404(work: CampaignWork, funnel_id: uuid.UUID, *, for_update: bool = False) -> Funnel:
    funnel = await work.repo.funnel(funnel_id, for_update=for_update)
    if funnel is None:
        raise errors.NotFound("no such funnel")
    return funnel
