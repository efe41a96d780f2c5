"""The queries of analytics' records: settings, what it knows of campaigns, dashboards, reports
and alerts (the metrics have their own, metrics_repository.py). Row level security scopes every
query to the transaction's tenant; the background lookups run as the background role."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.analytics.models import AlertEvent, AlertRule, Dashboard, KnownCampaign, Report
from shared.rows import RowRepository


class AnalyticsRepository(RowRepository):
    # --- settings and campaigns ----------------------------------------------------------------

    async def timezone(self) -> str:
        value = await self.conn.fetchval("select timezone from analytics.settings")
        return str(value) if value else "UTC"

    async def set_timezone(self, tenant_id: uuid.UUID, timezone: str) -> None:
        await self.conn.execute(
            "insert into analytics.settings (tenant_id, timezone) values ($1, $2) on conflict (tenant_id)"
            " do update set timezone = excluded.timezone, updated_at = now()",
            tenant_id,
            timezone,
        )

    async def campaign(self, campaign_id: uuid.UUID) -> KnownCampaign | None:
        return KnownCampaign.of(
            await self.conn.fetchrow("select * from analytics.campaigns where campaign_id = $1", campaign_id)
        )

    async def save_campaign(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, **fields: Any) -> None:
        """Create or update what we know; fields not given keep their value."""
        names = list(fields)
        columns = ", ".join(["tenant_id", "campaign_id", *names])
        values = ", ".join(f"${i}" for i in range(1, len(names) + 3))
        updates = ", ".join([*(f"{n} = excluded.{n}" for n in names), "updated_at = now()"])
        await self.conn.execute(
            f"insert into analytics.campaigns ({columns}) values ({values})"
            f" on conflict (campaign_id) do update set {updates}",
            tenant_id,
            campaign_id,
            *fields.values(),
        )

    async def map_external(
        self, tenant_id: uuid.UUID, channel: str, external_id: str, campaign_id: uuid.UUID
    ) -> None:
        await self.conn.execute(
            "insert into analytics.campaign_map (tenant_id, channel, external_campaign_id, campaign_id)"
            " values ($1, $2, $3, $4) on conflict (tenant_id, channel, external_campaign_id)"
            " do update set campaign_id = excluded.campaign_id",
            tenant_id,
            channel,
            external_id,
            campaign_id,
        )

    async def mapped_campaigns(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], uuid.UUID]:
        if not keys:
            return {}
        rows = await self.conn.fetch(
            "select m.channel, m.external_campaign_id, m.campaign_id from analytics.campaign_map m"
            " join unnest($1::text[], $2::text[]) as k(channel, external_campaign_id)"
            " using (channel, external_campaign_id)",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["channel"], r["external_campaign_id"]): r["campaign_id"] for r in rows}

    async def park_unmapped(
        self, tenant_id: uuid.UUID, rows: Sequence[dict[str, Any]], source: str, sync_id: uuid.UUID | None
    ) -> None:
        """Rows naming a platform campaign we cannot place yet: kept until its mapping arrives."""
        await self.conn.executemany(
            "insert into analytics.unmapped_rows (tenant_id, channel, external_campaign_id, row, source, sync_id)"
            " values ($1, $2, $3, $4, $5, $6)",
            [(tenant_id, r["channel"], str(r["external_campaign_id"]), r, source, sync_id) for r in rows],
        )

    async def take_unmapped(self, channel: str, external_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "delete from analytics.unmapped_rows where channel = $1 and external_campaign_id = $2"
            " returning row, source, sync_id",
            channel,
            external_id,
        )
        return [dict(r) for r in rows]

    async def unmapped_count(self) -> int:
        return int(await self.conn.fetchval("select count(*) from analytics.unmapped_rows"))

    # --- dashboards ----------------------------------------------------------------------------

    async def dashboard(self, dashboard_id: uuid.UUID, *, for_update: bool = False) -> Dashboard | None:
        lock = " for update" if for_update else ""
        return Dashboard.of(
            await self.conn.fetchrow(f"select * from analytics.dashboards where id = $1{lock}", dashboard_id)
        )

    async def dashboards(self, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Dashboard]:
        return [Dashboard(**dict(r)) for r in await self._page("dashboards", limit, after)]

    async def delete_dashboard(self, dashboard_id: uuid.UUID) -> None:
        await self.conn.execute("delete from analytics.dashboards where id = $1", dashboard_id)

    # --- reports -------------------------------------------------------------------------------

    async def report(self, report_id: uuid.UUID) -> Report | None:
        return Report.of(await self.conn.fetchrow("select * from analytics.reports where id = $1", report_id))

    async def reports(self, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Report]:
        columns = ", ".join("null::bytea as content" if c == "content" else c for c in Report.columns())
        rows = await self._page("reports", limit, after, columns=columns)  # files stay in the database
        return [Report(**dict(r)) for r in rows]

    async def claimable_reports(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(id, tenant) of reports waiting or abandoned by a dead worker (background role)."""
        rows = await self.conn.fetch(
            "select id, tenant_id from analytics.reports"
            " where status = 'queued' or (status = 'running' and lease_until < now())"
            " order by created_at limit $1",
            limit,
        )
        return [(r["id"], r["tenant_id"]) for r in rows]

    async def claim_report(self, report_id: uuid.UUID, lease_seconds: float) -> Report | None:
        """The report, now ours for `lease_seconds`, if nobody else holds it."""
        return Report.of(
            await self.conn.fetchrow(
                """
                update analytics.reports set status = 'running', attempts = attempts + 1,
                    lease_until = now() + make_interval(secs => $2)
                where id = (
                    select id from analytics.reports where id = $1
                      and (status = 'queued' or (status = 'running' and lease_until < now()))
                    for update skip locked
                )
                returning *
                """,
                report_id,
                lease_seconds,
            )
        )

    # --- alerts --------------------------------------------------------------------------------

    async def alert_rule(self, rule_id: uuid.UUID) -> AlertRule | None:
        return AlertRule.of(
            await self.conn.fetchrow("select * from analytics.alert_rules where id = $1", rule_id)
        )

    async def alert_rules(self) -> list[AlertRule]:
        rows = await self.conn.fetch("select * from analytics.alert_rules order by created_at, id")
        return [AlertRule(**dict(r)) for r in rows]

    async def rules_for(self, campaign_id: uuid.UUID) -> list[AlertRule]:
        rows = await self.conn.fetch(
            "select * from analytics.alert_rules where enabled and (campaign_id is null or campaign_id = $1)"
            " order by created_at, id",
            campaign_id,
        )
        return [AlertRule(**dict(r)) for r in rows]

    async def delete_alert_rule(self, rule_id: uuid.UUID) -> None:
        await self.conn.execute("delete from analytics.alert_rules where id = $1", rule_id)

    async def alert_state(self, rule_id: uuid.UUID, campaign_id: uuid.UUID) -> tuple[bool, str]:
        row = await self.conn.fetchrow(
            "select breached, breach_key from analytics.alert_states where rule_id = $1 and campaign_id = $2"
            " for update",
            rule_id,
            campaign_id,
        )
        return (bool(row["breached"]), str(row["breach_key"])) if row else (False, "")

    async def set_alert_state(
        self,
        tenant_id: uuid.UUID,
        rule_id: uuid.UUID,
        campaign_id: uuid.UUID,
        breached: bool,
        key: str,
        value: float | None,
    ) -> None:
        await self.conn.execute(
            "insert into analytics.alert_states (tenant_id, rule_id, campaign_id, breached, breach_key, last_value)"
            " values ($1, $2, $3, $4, $5, $6) on conflict (rule_id, campaign_id) do update set"
            " breached = excluded.breached, breach_key = excluded.breach_key, last_value = excluded.last_value,"
            " changed_at = case when alert_states.breached <> excluded.breached then now()"
            " else alert_states.changed_at end",
            tenant_id,
            rule_id,
            campaign_id,
            breached,
            key,
            value,
        )

    async def alert_events(self, limit: int) -> list[AlertEvent]:
        rows = await self.conn.fetch(
            "select * from analytics.alert_events order by fired_at desc, id limit $1", limit
        )
        return [AlertEvent(**dict(r)) for r in rows]

    async def queued_campaigns(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(campaign, tenant) whose numbers changed since alerts last looked (background role)."""
        rows = await self.conn.fetch(
            "select campaign_id, tenant_id from analytics.alert_queue order by queued_at limit $1", limit
        )
        return [(r["campaign_id"], r["tenant_id"]) for r in rows]

    async def take_queued(self, campaign_id: uuid.UUID) -> bool:
        """Off the queue, if nobody else took it meanwhile."""
        return bool(
            await self.conn.fetchval(
                "delete from analytics.alert_queue where campaign_id = $1 and ctid = ("
                " select ctid from analytics.alert_queue where campaign_id = $1 for update skip locked)"
                " returning true",
                campaign_id,
            )
        )

    # --- helpers -------------------------------------------------------------------------------

    async def _page(
        self, table: str, limit: int, after: tuple[datetime, uuid.UUID] | None, columns: str = "*"
    ) -> list[Any]:
        if after is None:
            return await self.conn.fetch(
                f"select {columns} from analytics.{table} order by created_at desc, id desc limit $1", limit
            )
        return await self.conn.fetch(
            f"select {columns} from analytics.{table} where (created_at, id) < ($2, $3)"
            " order by created_at desc, id desc limit $1",
            limit,
            *after,
        )
