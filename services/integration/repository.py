"""The queries of integration, bound to one transaction's connection.

Row level security scopes every query to the transaction's tenant. The lookups across tenants
(due connections and syncs, the tenant of a Stripe customer, data keys to rotate) run under the
service's background role, whose read-only policies are in the migration.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.integration.models import (
    BillingCustomer,
    Connection,
    OAuthState,
    PlatformCampaign,
    Sync,
    TenantKey,
)
from shared.rows import RowRepository, insert_sql

Position = tuple[datetime, uuid.UUID]


class IntegrationRepository(RowRepository):
    # --- data keys -----------------------------------------------------------------------------

    async def tenant_key(self, tenant_id: uuid.UUID, *, for_update: bool = False) -> TenantKey | None:
        lock = " for update" if for_update else ""
        return TenantKey.of(
            await self.conn.fetchrow(
                f"select * from integrations.tenant_keys where tenant_id = $1{lock}", tenant_id
            )
        )

    async def add_tenant_key_once(self, key: TenantKey) -> TenantKey:
        """The first data key of a tenant wins a race between two replicas; the loser reads it."""
        await self.conn.execute(
            insert_sql(TenantKey).replace(" returning *", " on conflict do nothing"), *key.values()
        )
        stored = await self.tenant_key(key.tenant_id)
        assert stored is not None
        return stored

    async def tenants_wrapped_by_other_keys(self, current_key_id: str) -> list[uuid.UUID]:
        rows = await self.conn.fetch(
            "select tenant_id from integrations.tenant_keys where key_id <> $1", current_key_id
        )
        return [r["tenant_id"] for r in rows]

    # --- connections ---------------------------------------------------------------------------

    async def connection(self, connection_id: uuid.UUID, *, for_update: bool = False) -> Connection | None:
        lock = " for update" if for_update else ""
        return Connection.of(
            await self.conn.fetchrow(
                f"select * from integrations.connections where id = $1{lock}", connection_id
            )
        )

    async def connections(self, provider: str | None, limit: int, after: Position | None) -> list[Connection]:
        rows = await self.conn.fetch(
            """
            select * from integrations.connections
            where ($1::text is null or provider = $1)
              and ($2::timestamptz is null or (created_at, id) < ($2, $3::uuid))
            order by created_at desc, id desc
            limit $4
            """,
            provider,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [Connection(**dict(r)) for r in rows]

    async def active_connection(self, provider: str) -> Connection | None:
        """The connection a launch on this provider acts through: the oldest active one."""
        return Connection.of(
            await self.conn.fetchrow(
                "select * from integrations.connections where provider = $1 and status = 'active'"
                " order by created_at, id limit 1",
                provider,
            )
        )

    async def connection_id_for(self, provider: str, account_id: str) -> uuid.UUID | None:
        found: uuid.UUID | None = await self.conn.fetchval(
            "select id from integrations.connections where provider = $1 and account_id = $2",
            provider,
            account_id,
        )
        return found

    async def delete_connection(self, connection_id: uuid.UUID) -> bool:
        deleted = await self.conn.execute("delete from integrations.connections where id = $1", connection_id)
        return deleted.endswith(" 1")

    async def due_connections(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, connection) of scheduled syncs that are due: background role only."""
        rows = await self.conn.fetch(
            "select tenant_id, id from integrations.connections"
            " where status = 'active' and next_sync_at <= now() order by next_sync_at limit $1",
            limit,
        )
        return [(r["tenant_id"], r["id"]) for r in rows]

    # --- syncs ---------------------------------------------------------------------------------

    async def add_sync_unless_open(self, sync: Sync) -> Sync | None:
        """A new sync, or None when the connection already has one queued or running."""
        record = await self.conn.fetchrow(
            insert_sql(Sync).replace(
                " returning *",
                " on conflict (connection_id) where status in ('queued', 'running') do nothing returning *",
            ),
            *sync.values(),
        )
        return Sync.of(record)

    async def open_sync(self, connection_id: uuid.UUID) -> Sync | None:
        return Sync.of(
            await self.conn.fetchrow(
                "select * from integrations.syncs where connection_id = $1 and status in ('queued', 'running')",
                connection_id,
            )
        )

    async def sync(self, sync_id: uuid.UUID, *, skip_locked: bool = False) -> Sync | None:
        lock = " for update skip locked" if skip_locked else ""
        return Sync.of(
            await self.conn.fetchrow(f"select * from integrations.syncs where id = $1{lock}", sync_id)
        )

    async def syncs(self, connection_id: uuid.UUID, limit: int, after: Position | None) -> list[Sync]:
        rows = await self.conn.fetch(
            """
            select * from integrations.syncs
            where connection_id = $1
              and ($2::timestamptz is null or (requested_at, id) < ($2, $3::uuid))
            order by requested_at desc, id desc
            limit $4
            """,
            connection_id,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [Sync(**dict(r)) for r in rows]

    async def due_syncs(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, sync) queued and due, or running with a lapsed lease: background role only."""
        rows = await self.conn.fetch(
            "select tenant_id, id from integrations.syncs"
            " where status in ('queued', 'running') and not_before <= now()"
            " and (status = 'queued' or lease_until < now())"
            " order by not_before limit $1",
            limit,
        )
        return [(r["tenant_id"], r["id"]) for r in rows]

    async def add_rows_page(self, sync: Sync, page: int, rows: list[dict[str, Any]]) -> None:
        await self.conn.execute(
            "insert into integrations.sync_rows (sync_id, tenant_id, page, rows) values ($1, $2, $3, $4::text::jsonb)"
            " on conflict (sync_id, page) do update set rows = excluded.rows",
            sync.id,
            sync.tenant_id,
            page,
            json.dumps(rows),
        )

    async def rows_page(self, sync_id: uuid.UUID, page: int) -> str | None:
        """The page as stored JSON text: served as is, never parsed and re-encoded."""
        value: str | None = await self.conn.fetchval(
            "select rows::text from integrations.sync_rows where sync_id = $1 and page = $2", sync_id, page
        )
        return value

    async def all_rows(self, sync_id: uuid.UUID) -> list[dict[str, Any]]:
        pages = await self.conn.fetch(
            "select rows::text as rows from integrations.sync_rows where sync_id = $1 order by page", sync_id
        )
        return [row for page in pages for row in json.loads(page["rows"])]

    # --- platform campaigns --------------------------------------------------------------------

    async def platform_campaign(self, campaign_id: uuid.UUID, channel: str) -> PlatformCampaign | None:
        return PlatformCampaign.of(
            await self.conn.fetchrow(
                "select * from integrations.platform_campaigns where campaign_id = $1 and channel = $2",
                campaign_id,
                channel,
            )
        )

    async def platform_campaigns(self, campaign_id: uuid.UUID) -> list[PlatformCampaign]:
        rows = await self.conn.fetch(
            "select * from integrations.platform_campaigns where campaign_id = $1 order by channel",
            campaign_id,
        )
        return [PlatformCampaign(**dict(r)) for r in rows]

    async def save_platform_campaign(self, campaign: PlatformCampaign) -> None:
        await self.conn.execute(
            insert_sql(PlatformCampaign).replace(
                " returning *",
                " on conflict (campaign_id, channel) do update set external_id = excluded.external_id,"
                " status = excluded.status, budget_minor = excluded.budget_minor,"
                " connection_id = excluded.connection_id, updated_at = excluded.updated_at",
            ),
            *campaign.values(),
        )

    # --- OAuth states, billing, webhooks -------------------------------------------------------

    async def take_oauth_state(self, state: str) -> OAuthState | None:
        """Single use: the row goes with the read."""
        return OAuthState.of(
            await self.conn.fetchrow(
                "delete from integrations.oauth_states where state = $1 and expires_at > now() returning *",
                state,
            )
        )

    async def oauth_state_tenant(self, state: str) -> uuid.UUID | None:
        """Background role only: whose flow a callback (which carries no token) belongs to."""
        value: uuid.UUID | None = await self.conn.fetchval(
            "select tenant_id from integrations.oauth_states where state = $1 and expires_at > now()", state
        )
        return value

    async def billing_customer(self) -> BillingCustomer | None:
        return BillingCustomer.of(await self.conn.fetchrow("select * from integrations.billing_customers"))

    async def tenant_of_customer(self, customer_id: str) -> uuid.UUID | None:
        """Background role only."""
        value: uuid.UUID | None = await self.conn.fetchval(
            "select tenant_id from integrations.billing_customers where customer_id = $1", customer_id
        )
        return value

    async def save_billing_customer(self, customer: BillingCustomer) -> None:
        await self.conn.execute(
            insert_sql(BillingCustomer).replace(
                " returning *",
                " on conflict (tenant_id) do update set customer_id = excluded.customer_id,"
                " subscription_id = coalesce(excluded.subscription_id, billing_customers.subscription_id),"
                " plan = coalesce(excluded.plan, billing_customers.plan), updated_at = excluded.updated_at",
            ),
            *customer.values(),
        )

    async def record_webhook(
        self, provider: str, event_id: str, event_type: str, tenant_id: uuid.UUID | None, payload: str
    ) -> bool:
        """True the first time this provider's event id arrives; a redelivery is only acknowledged."""
        inserted = await self.conn.fetchval(
            "insert into integrations.webhook_events (provider, event_id, event_type, for_tenant, payload)"
            " values ($1, $2, $3, $4, $5::text::jsonb) on conflict do nothing returning true",
            provider,
            event_id,
            event_type,
            tenant_id,
            payload,
        )
        return bool(inserted)
