"""The queries of notification, bound to one transaction's connection.

Row level security scopes every query to the transaction's tenant; the worker's lookup of due
deliveries is the only query across tenants (its own read-only policy, see the migration).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.notification.models import (
    Contact,
    Delivery,
    InboxItem,
    Notification,
    PushSubscription,
    Template,
)
from shared.rows import RowRepository, insert_sql

INBOX_COLUMNS = [c for c in InboxItem.columns() if c != "seq"]
INSERT_INBOX = (
    f"insert into notifications.inbox_items ({', '.join(INBOX_COLUMNS)}) "
    f"values ({', '.join(f'${i}' for i in range(1, len(INBOX_COLUMNS) + 1))}) returning *"
)


class NotificationRepository(RowRepository):
    # --- templates -----------------------------------------------------------------------------

    async def template(self, key: str, locale: str, *, for_update: bool = False) -> Template | None:
        lock = " for update" if for_update else ""
        return Template.of(
            await self.conn.fetchrow(
                f"select * from notifications.templates where template_key = $1 and locale = $2{lock}",
                key,
                locale,
            )
        )

    async def template_by_id(self, template_id: uuid.UUID) -> Template | None:
        return Template.of(
            await self.conn.fetchrow("select * from notifications.templates where id = $1", template_id)
        )

    async def templates(self, key: str | None) -> list[Template]:
        rows = await self.conn.fetch(
            "select * from notifications.templates where ($1::text is null or template_key = $1)"
            " order by template_key, locale",
            key,
        )
        return [Template(**dict(r)) for r in rows]

    async def templates_for(self, key: str, locales: list[str]) -> dict[str, Template]:
        rows = await self.conn.fetch(
            "select * from notifications.templates where template_key = $1 and locale = any($2::text[])",
            key,
            locales,
        )
        return {r["locale"]: Template(**dict(r)) for r in rows}

    async def add_template_version(self, template: Template) -> None:
        await self.conn.execute(
            "insert into notifications.template_versions (template_id, tenant_id, version, parts, updated_by)"
            " values ($1, $2, $3, $4::text::jsonb, $5)",
            template.id,
            template.tenant_id,
            template.version,
            json.dumps(template.parts),
            template.updated_by,
        )

    async def template_versions(self, template_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "select version, parts, updated_by, created_at from notifications.template_versions"
            " where template_id = $1 order by version desc",
            template_id,
        )
        return [dict(r) for r in rows]

    async def delete_template(self, template_id: uuid.UUID) -> bool:
        done = await self.conn.execute("delete from notifications.templates where id = $1", template_id)
        return done.endswith(" 1")

    # --- preferences and contacts --------------------------------------------------------------

    async def tenant_preferences(self) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "select category, channel, enabled from notifications.tenant_preferences"
        )
        return [dict(r) for r in rows]

    async def user_preferences(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "select category, channel, enabled from notifications.user_preferences where user_id = $1",
            user_id,
        )
        return [dict(r) for r in rows]

    async def set_preference(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID | None, category: str, channel: str, enabled: bool
    ) -> None:
        if user_id is None:
            await self.conn.execute(
                "insert into notifications.tenant_preferences values ($1, $2, $3, $4)"
                " on conflict (tenant_id, category, channel) do update set enabled = excluded.enabled",
                tenant_id,
                category,
                channel,
                enabled,
            )
            return
        await self.conn.execute(
            "insert into notifications.user_preferences values ($1, $2, $3, $4, $5)"
            " on conflict (user_id, category, channel) do update set enabled = excluded.enabled",
            tenant_id,
            user_id,
            category,
            channel,
            enabled,
        )

    async def contact(self, user_id: uuid.UUID) -> Contact | None:
        return Contact.of(
            await self.conn.fetchrow("select * from notifications.contacts where user_id = $1", user_id)
        )

    async def save_contact(self, contact: Contact) -> Contact:
        record = await self.conn.fetchrow(
            insert_sql(Contact).replace(
                " returning *",
                " on conflict (user_id) do update set phone = excluded.phone, timezone = excluded.timezone,"
                " locale = excluded.locale, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
                " updated_at = excluded.updated_at returning *",
            ),
            *contact.values(),
        )
        stored = Contact.of(record)
        assert stored is not None
        return stored

    # --- push subscriptions --------------------------------------------------------------------

    async def push_subscriptions(self, user_id: uuid.UUID) -> list[PushSubscription]:
        rows = await self.conn.fetch(
            "select * from notifications.push_subscriptions where user_id = $1 order by created_at", user_id
        )
        return [PushSubscription(**dict(r)) for r in rows]

    async def save_push_subscription(self, subscription: PushSubscription) -> PushSubscription:
        record = await self.conn.fetchrow(
            insert_sql(PushSubscription).replace(
                " returning *",
                " on conflict (endpoint) do update set p256dh = excluded.p256dh, auth = excluded.auth,"
                " user_id = excluded.user_id returning *",
            ),
            *subscription.values(),
        )
        stored = PushSubscription.of(record)
        assert stored is not None
        return stored

    async def delete_push_subscription(
        self, subscription_id: uuid.UUID, user_id: uuid.UUID | None = None
    ) -> bool:
        done = await self.conn.execute(
            "delete from notifications.push_subscriptions where id = $1 and ($2::uuid is null or user_id = $2)",
            subscription_id,
            user_id,
        )
        return done.endswith(" 1")

    async def delete_push_endpoint(self, endpoint: str) -> None:
        await self.conn.execute("delete from notifications.push_subscriptions where endpoint = $1", endpoint)

    # --- notifications and deliveries ----------------------------------------------------------

    async def notification(self, notification_id: uuid.UUID) -> Notification | None:
        return Notification.of(
            await self.conn.fetchrow(
                "select * from notifications.notifications where id = $1", notification_id
            )
        )

    async def notification_by_key(self, idempotency_key: str) -> Notification | None:
        return Notification.of(
            await self.conn.fetchrow(
                "select * from notifications.notifications where idempotency_key = $1", idempotency_key
            )
        )

    async def add_notification_once(self, notification: Notification) -> Notification | None:
        """None when the idempotency key was taken (by a concurrent request with the same key)."""
        record = await self.conn.fetchrow(
            insert_sql(Notification).replace(" returning *", " on conflict do nothing returning *"),
            *notification.values(),
        )
        return Notification.of(record)

    async def add_deliveries(self, deliveries: list[Delivery]) -> None:
        if deliveries:
            await self.conn.executemany(
                insert_sql(Delivery).replace(" returning *", ""), [d.values() for d in deliveries]
            )

    async def deliveries_of(self, notification_id: uuid.UUID) -> list[Delivery]:
        rows = await self.conn.fetch(
            "select * from notifications.deliveries where notification_id = $1 order by channel, created_at",
            notification_id,
        )
        return [Delivery(**dict(r)) for r in rows]

    async def delivery(self, delivery_id: uuid.UUID, *, for_update: bool = False) -> Delivery | None:
        lock = " for update" if for_update else ""
        return Delivery.of(
            await self.conn.fetchrow(
                f"select * from notifications.deliveries where id = $1{lock}", delivery_id
            )
        )

    async def claim_many(self, delivery_ids: list[uuid.UUID], lease_until: datetime) -> list[Delivery]:
        """The ones of these still due, now this worker's. One atomic UPDATE: of two workers, each
        row goes to one; the other's UPDATE finds it taken."""
        rows = await self.conn.fetch(
            "update notifications.deliveries set status = 'sending', lease_until = $2,"
            " attempts = attempts + 1, updated_at = now()"
            " where id = any($1::uuid[]) and ((status = 'queued' and next_attempt_at <= now())"
            " or (status = 'sending' and lease_until < now())) returning *",
            delivery_ids,
            lease_until,
        )
        return [Delivery(**dict(r)) for r in rows]

    async def due_deliveries(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Background role only."""
        rows = await self.conn.fetch(
            "select tenant_id, id from notifications.deliveries"
            " where (status = 'queued' and next_attempt_at <= now()) or (status = 'sending' and lease_until < now())"
            " order by next_attempt_at limit $1",
            limit,
        )
        return [(r["tenant_id"], r["id"]) for r in rows]

    async def add_attempt(
        self, delivery: Delivery, provider: str | None, outcome: str, error: str | None
    ) -> None:
        await self.conn.execute(
            "insert into notifications.attempts (tenant_id, delivery_id, attempt, provider, outcome, error)"
            " values ($1, $2, $3, $4, $5, $6)",
            delivery.tenant_id,
            delivery.id,
            delivery.attempts,
            provider,
            outcome,
            error,
        )

    async def attempts_of(self, notification_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "select a.delivery_id, a.attempt, a.provider, a.outcome, a.error, a.at from notifications.attempts a"
            " join notifications.deliveries d on d.id = a.delivery_id where d.notification_id = $1 order by a.id",
            notification_id,
        )
        return [dict(r) for r in rows]

    async def dead_deliveries(self, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Delivery]:
        rows = await self.conn.fetch(
            "select * from notifications.deliveries where status = 'dead'"
            " and ($1::timestamptz is null or (updated_at, id) < ($1, $2::uuid))"
            " order by updated_at desc, id desc limit $3",
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [Delivery(**dict(r)) for r in rows]

    async def waiting_digest(self, user_id: uuid.UUID, category: str, channel: str) -> Delivery | None:
        """The queued digest this user's next digestible message joins, if one is waiting."""
        return Delivery.of(
            await self.conn.fetchrow(
                "select * from notifications.deliveries where user_id = $1 and channel = $2 and status = 'queued'"
                " and content->>'digest' = $3 for update",
                user_id,
                channel,
                category,
            )
        )

    # --- inbox ---------------------------------------------------------------------------------

    async def add_inbox_item(self, item: InboxItem) -> InboxItem:
        stored = InboxItem.of(
            await self.conn.fetchrow(INSERT_INBOX, *[getattr(item, c) for c in INBOX_COLUMNS])
        )
        assert stored is not None
        return stored

    async def inbox(
        self, user_id: uuid.UUID, state: str, limit: int, before_seq: int | None
    ) -> list[InboxItem]:
        clause = {
            "unread": "read_at is null and archived_at is null",
            "read": "read_at is not null and archived_at is null",
            "archived": "archived_at is not null",
            "all": "archived_at is null",
        }[state]
        rows = await self.conn.fetch(
            f"select * from notifications.inbox_items where user_id = $1 and {clause}"
            " and ($2::bigint is null or seq < $2) order by seq desc limit $3",
            user_id,
            before_seq,
            limit,
        )
        return [InboxItem(**dict(r)) for r in rows]

    async def unread_count(self, user_id: uuid.UUID) -> int:
        value = await self.conn.fetchval(
            "select count(*) from notifications.inbox_items where user_id = $1 and read_at is null and archived_at is null",
            user_id,
        )
        return int(value)

    async def inbox_after(self, user_id: uuid.UUID, seq: int, limit: int = 100) -> list[InboxItem]:
        rows = await self.conn.fetch(
            "select * from notifications.inbox_items where user_id = $1 and seq > $2 order by seq limit $3",
            user_id,
            seq,
            limit,
        )
        return [InboxItem(**dict(r)) for r in rows]

    async def mark_inbox(self, user_id: uuid.UUID, item_id: uuid.UUID | None, column: str) -> int:
        assert column in ("read_at", "archived_at")
        done = await self.conn.execute(
            f"update notifications.inbox_items set {column} = coalesce({column}, now())"
            " where user_id = $1 and ($2::uuid is null or id = $2)",
            user_id,
            item_id,
        )
        return int(done.split()[-1])
