"""The queries of campaign_management, bound to one transaction's connection.

Row level security scopes every query to the transaction's tenant; the scheduler's lookup of due
campaigns is the only query across tenants (its own read-only policy, see the migration).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.campaign_management.domain.paging import SORTS, Position
from services.campaign_management.models import (
    AuditEntry,
    Campaign,
    Execution,
    Funnel,
    FunnelStage,
    KnownConnection,
    OwnerNotice,
    Recommendation,
    Transition,
)
from shared.rows import RowRepository

# The SQL expression each sort orders by, and the type its cursor value is cast to.
SORT_EXPRESSIONS = {
    "created_at": ("created_at", "timestamptz"),
    "name": ("name", "text"),
    "start_at": ("coalesce(start_at, 'infinity'::timestamptz)", "timestamptz"),
    "total_budget_minor": ("total_budget_minor", "bigint"),
}


@dataclass(frozen=True)
class CampaignFilter:
    statuses: tuple[str, ...] = ()
    channel: str | None = None
    tag: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    search: str | None = None


class CampaignRepository(RowRepository):
    # --- campaigns -----------------------------------------------------------------------------

    async def campaign(self, campaign_id: uuid.UUID, *, for_update: bool = False) -> Campaign | None:
        lock = " for update" if for_update else ""
        return Campaign.of(
            await self.conn.fetchrow(f"select * from campaigns.campaigns where id = $1{lock}", campaign_id)
        )

    async def campaigns(
        self, where: CampaignFilter, sort: str, limit: int, after: Position | None
    ) -> list[Campaign]:
        column, descending = SORTS[sort]
        expression, cast = SORT_EXPRESSIONS[column]
        clauses: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if len(where.statuses) == 1:  # equality lets the (tenant, status, created) index give the order
            clauses.append(f"status = {arg(where.statuses[0])}")
        elif where.statuses:
            clauses.append(f"status = any({arg(list(where.statuses))}::text[])")
        if where.channel:
            clauses.append(f"channel_names @> array[{arg(where.channel)}]::text[]")
        if where.tag:
            clauses.append(f"tags @> array[{arg(where.tag)}]::text[]")
        if where.starts_from:
            clauses.append(f"start_at >= {arg(where.starts_from)}")
        if where.starts_before:
            clauses.append(f"start_at < {arg(where.starts_before)}")
        if where.search:
            clauses.append(f"name ilike {arg('%' + _escape_like(where.search) + '%')}")
        if after is not None:
            comparison = "<" if descending else ">"
            value = arg(str(after.value))
            clauses.append(f"({expression}, id) {comparison} ({value}::text::{cast}, {arg(after.id)}::uuid)")
        direction = "desc" if descending else "asc"
        query = (
            "select * from campaigns.campaigns"
            + (" where " + " and ".join(clauses) if clauses else "")
            + f" order by {expression} {direction}, id {direction} limit {arg(limit)}"
        )
        return [Campaign(**dict(r)) for r in await self.conn.fetch(query, *args)]

    async def delete_campaign(self, campaign_id: uuid.UUID) -> None:
        for table in ("performance_cache", "executions", "transitions", "audit_log", "recommendations"):
            await self.conn.execute(f"delete from campaigns.{table} where campaign_id = $1", campaign_id)
        await self.conn.execute(
            "update campaigns.funnels set campaign_id = null where campaign_id = $1", campaign_id
        )
        await self.conn.execute("delete from campaigns.campaigns where id = $1", campaign_id)

    async def due_campaigns(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(id, tenant_id) of campaigns whose start or end has come, across tenants: the caller's
        transaction must have taken the scheduler role (its read-only policy)."""
        rows = await self.conn.fetch(
            """
            select id, tenant_id from campaigns.campaigns
            where (status = 'scheduled' and start_at <= now())
               or (status in ('active', 'paused') and end_at <= now())
            order by coalesce(start_at, end_at) limit $1
            """,
            limit,
        )
        return [(row["id"], row["tenant_id"]) for row in rows]

    async def due_notices(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(id, tenant_id) of owner notices due for a try, across tenants (scheduler policy)."""
        rows = await self.conn.fetch(
            """
            select id, tenant_id from campaigns.owner_notices
            where status = 'pending' and next_attempt_at <= now()
            order by next_attempt_at limit $1
            """,
            limit,
        )
        return [(row["id"], row["tenant_id"]) for row in rows]

    async def pending_notice(self, notice_id: uuid.UUID) -> OwnerNotice | None:
        """The notice, locked, if still pending and not locked by another replica's try."""
        return OwnerNotice.of(
            await self.conn.fetchrow(
                "select * from campaigns.owner_notices where id = $1 and status = 'pending'"
                " for update skip locked",
                notice_id,
            )
        )

    # --- history, executions, audit ------------------------------------------------------------

    async def transitions(self, campaign_id: uuid.UUID) -> list[Transition]:
        rows = await self.conn.fetch(
            "select * from campaigns.transitions where campaign_id = $1 order by at, id", campaign_id
        )
        return [Transition(**dict(r)) for r in rows]

    async def executions(self, campaign_id: uuid.UUID) -> list[Execution]:
        rows = await self.conn.fetch(
            "select * from campaigns.executions where campaign_id = $1 order by channel", campaign_id
        )
        return [Execution(**dict(r)) for r in rows]

    async def execution(self, campaign_id: uuid.UUID, channel: str) -> Execution | None:
        return Execution.of(
            await self.conn.fetchrow(
                "select * from campaigns.executions where campaign_id = $1 and channel = $2 for update",
                campaign_id,
                channel,
            )
        )

    async def upsert_execution(self, execution: Execution) -> None:
        await self.conn.execute(
            """
            insert into campaigns.executions
                (tenant_id, campaign_id, channel, status, external_id, error, last_synced_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8)
            on conflict (campaign_id, channel) do update set
                status = excluded.status, external_id = coalesce(excluded.external_id, executions.external_id),
                error = excluded.error, last_synced_at = excluded.last_synced_at, updated_at = excluded.updated_at
            """,
            *execution.values(),
        )

    async def audit(self, campaign_id: uuid.UUID) -> list[AuditEntry]:
        rows = await self.conn.fetch(
            "select * from campaigns.audit_log where campaign_id = $1 order by at", campaign_id
        )
        return [AuditEntry(**dict(r)) for r in rows]

    # --- recommendations -----------------------------------------------------------------------

    async def recommendation(
        self, recommendation_id: uuid.UUID, *, for_update: bool = False
    ) -> Recommendation | None:
        lock = " for update" if for_update else ""
        query = f"select * from campaigns.recommendations where id = $1{lock}"
        return Recommendation.of(await self.conn.fetchrow(query, recommendation_id))

    async def recommendations(self, campaign_id: uuid.UUID) -> list[Recommendation]:
        rows = await self.conn.fetch(
            "select * from campaigns.recommendations where campaign_id = $1 order by created_at desc",
            campaign_id,
        )
        return [Recommendation(**dict(r)) for r in rows]

    async def add_recommendation_once(self, recommendation: Recommendation) -> bool:
        """False when the task's recommendation is already stored (a redelivered event)."""
        status = await self.conn.execute(
            """
            insert into campaigns.recommendations
                (id, tenant_id, campaign_id, items, task_id, status, decided_by, decided_at, created_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            on conflict (task_id) do nothing
            """,
            *recommendation.values(),
        )
        return status.endswith(" 1")

    # --- connections known from integration's events -------------------------------------------

    async def upsert_connection(self, connection: KnownConnection) -> None:
        await self.conn.execute(
            """
            insert into campaigns.connections (tenant_id, connection_id, provider, status, updated_at)
            values ($1, $2, $3, $4, $5)
            on conflict (tenant_id, connection_id) do update
                set provider = excluded.provider, status = excluded.status, updated_at = excluded.updated_at
            """,
            *connection.values(),
        )

    async def connected_providers(self) -> set[str]:
        rows = await self.conn.fetch(
            "select distinct provider from campaigns.connections where status = 'active'"
        )
        return {row["provider"] for row in rows}

    # --- performance cache ---------------------------------------------------------------------

    async def cached_performance(self, campaign_id: uuid.UUID) -> tuple[dict[str, Any], datetime] | None:
        row = await self.conn.fetchrow(
            "select payload, fetched_at from campaigns.performance_cache where campaign_id = $1", campaign_id
        )
        return (row["payload"], row["fetched_at"]) if row else None

    async def cache_performance(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, payload: dict[str, Any], at: datetime
    ) -> None:
        await self.conn.execute(
            """
            insert into campaigns.performance_cache (tenant_id, campaign_id, payload, fetched_at) values ($1, $2, $3, $4)
            on conflict (campaign_id) do update set payload = excluded.payload, fetched_at = excluded.fetched_at
            """,
            tenant_id,
            campaign_id,
            payload,
            at,
        )

    # --- funnels -------------------------------------------------------------------------------

    async def funnel(self, funnel_id: uuid.UUID, *, for_update: bool = False) -> Funnel | None:
        lock = " for update" if for_update else ""
        return Funnel.of(
            await self.conn.fetchrow(f"select * from campaigns.funnels where id = $1{lock}", funnel_id)
        )

    async def funnels(self, limit: int, after: Position | None) -> list[Funnel]:
        if after is None:
            rows = await self.conn.fetch(
                "select * from campaigns.funnels order by created_at desc, id desc limit $1", limit
            )
        else:
            rows = await self.conn.fetch(
                "select * from campaigns.funnels where (created_at, id) < ($1::timestamptz, $2::uuid) "
                "order by created_at desc, id desc limit $3",
                after.value,
                after.id,
                limit,
            )
        return [Funnel(**dict(r)) for r in rows]

    async def stages(self, funnel_id: uuid.UUID) -> list[FunnelStage]:
        rows = await self.conn.fetch(
            "select * from campaigns.funnel_stages where funnel_id = $1 order by position", funnel_id
        )
        return [FunnelStage(**dict(r)) for r in rows]

    async def replace_stages(self, funnel_id: uuid.UUID, stages: list[FunnelStage]) -> list[FunnelStage]:
        await self.conn.execute("delete from campaigns.funnel_stages where funnel_id = $1", funnel_id)
        return [await self.add(stage) for stage in stages]

    async def delete_funnel(self, funnel_id: uuid.UUID) -> None:
        await self.conn.execute("delete from campaigns.funnels where id = $1", funnel_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
