"""Campaigns as records: create, read, list with filters and keyset pages, update with optimistic
concurrency, delete drafts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.campaign_management.domain import paging
from services.campaign_management.domain.lifecycle import Status
from services.campaign_management.events import CampaignCreated
from services.campaign_management.models import AuditEntry, Campaign
from services.campaign_management.repository import CampaignFilter
from services.campaign_management.service.common import (
    CampaignUnitOfWork,
    audit,
    campaign_or_404,
    channel_data,
    updated_event,
)
from shared import errors
from shared.clock import utcnow

# Fields a running campaign may still change; the rest is fixed once it has been launched.
CHANGEABLE_WHILE_RUNNING = frozenset({"name", "tags", "end_at", "utm"})
EDITABLE = frozenset(
    {"name", "objective", "budget_type", "total_budget_minor", "currency", "channels", "start_at", "end_at"}
    | {"targeting", "utm", "tags", "owner_user_id"}
)


@dataclass(frozen=True)
class CampaignPage:
    items: list[Campaign]
    next_cursor: str | None


def _derived(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Stored forms: channels as plain dicts, their names for the index, the total if not given."""
    values = dict(fields)
    if "channels" in values:
        channels = [
            {"channel": c["channel"], "budget_minor": int(c["budget_minor"])} for c in values["channels"]
        ]
        values["channels"] = channels
        values["channel_names"] = sorted({c["channel"] for c in channels})
        if values.get("total_budget_minor") is None:
            values["total_budget_minor"] = sum(c["budget_minor"] for c in channels)
    return values


class Campaigns:
    def __init__(self, uow: CampaignUnitOfWork) -> None:
        self.uow = uow

    async def create(
        self, tenant_id: uuid.UUID, actor: uuid.UUID | None, fields: Mapping[str, Any]
    ) -> Campaign:
        values = _derived(fields)
        values.setdefault("owner_user_id", actor)
        values.setdefault("channels", [])
        values.setdefault("total_budget_minor", 0)
        async with self.uow(tenant_id) as work:
            campaign = await work.repo.add(Campaign(id=uuid.uuid4(), tenant_id=tenant_id, **values))
            await work.emit(
                CampaignCreated(
                    campaign_id=campaign.id,
                    name=campaign.name,
                    objective=campaign.objective,
                    budget_type=campaign.budget_type,
                    total_budget_minor=campaign.total_budget_minor,
                    currency=campaign.currency,
                    channels=channel_data(campaign),
                    start_at=campaign.start_at,
                    end_at=campaign.end_at,
                    owner_user_id=campaign.owner_user_id,
                )
            )
            return campaign

    async def get(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
        async with self.uow(tenant_id) as work:
            return await campaign_or_404(work, campaign_id)

    async def audit_log(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list[AuditEntry]:
        async with self.uow(tenant_id) as work:
            await campaign_or_404(work, campaign_id)
            return await work.repo.audit(campaign_id)

    async def list(
        self, tenant_id: uuid.UUID, where: CampaignFilter, sort: str, limit: int, cursor: str | None
    ) -> CampaignPage:
        after = paging.decode(cursor, sort) if cursor else None
        async with self.uow(tenant_id) as work:
            rows = await work.repo.campaigns(where, sort, limit + 1, after)
        items = rows[:limit]
        if len(rows) <= limit:
            return CampaignPage(items, None)
        column, _ = paging.SORTS[sort]
        last = items[-1]
        value = getattr(last, column)
        if column == "start_at" and value is None:
            value = "infinity"
        return CampaignPage(items, paging.encode(paging.Position(sort, value, str(last.id))))

    async def update(
        self,
        tenant_id: uuid.UUID,
        campaign_id: uuid.UUID,
        actor: str,
        fields: Mapping[str, Any],
        expected_version: int | None,
    ) -> Campaign:
        """Apply a partial change. `expected_version` (from If-Match) must be the stored one,
        else nothing changes (412): two editors never silently overwrite each other."""
        values = _derived(fields)
        unknown = set(values) - EDITABLE - {"channel_names"}
        if unknown:
            raise errors.InvalidInput(f"cannot change {sorted(unknown)}")
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id, for_update=True)
            if expected_version is not None and expected_version != campaign.version:
                raise errors.PreconditionFailed(
                    f"the campaign changed meanwhile (version {campaign.version}, not {expected_version})",
                    current_version=campaign.version,
                )
            status = Status(campaign.status)
            fixed = set(fields) - CHANGEABLE_WHILE_RUNNING
            if status not in (Status.DRAFT, Status.SCHEDULED) and fixed:
                raise errors.Conflict(
                    f"a {status.value} campaign cannot change {sorted(fixed)}; budgets change through"
                    " recommendations, dates and channels only before launch",
                    current_status=status.value,
                )
            if status is Status.ARCHIVED:
                raise errors.Conflict("an archived campaign cannot change", current_status=status.value)
            if not values:
                return campaign
            campaign = await work.repo.update(
                campaign, **values, version=campaign.version + 1, updated_at=utcnow()
            )
            await audit(work, campaign, "updated", actor, fields=sorted(fields))
            await work.emit(updated_event(campaign, sorted(fields)))
            return campaign

    async def delete(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
        """Only a draft goes away; anything launched is archived instead (its history stays)."""
        async with self.uow(tenant_id) as work:
            campaign = await campaign_or_404(work, campaign_id, for_update=True)
            if campaign.status != Status.DRAFT:
                raise errors.Conflict(
                    f"only a draft can be deleted; archive a {campaign.status} campaign instead",
                    current_status=campaign.status,
                )
            await work.repo.delete_campaign(campaign.id)
