"""The queries of ai_agents, bound to one transaction's connection. Row level security scopes
every query to the transaction's tenant; the worker's lookup of due tasks runs under the
service's background role (see the migration)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.ai_agents.models import Task
from shared.rows import RowRepository


def vector_literal(values: list[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


class AgentRepository(RowRepository):
    async def task(self, task_id: uuid.UUID, *, for_update: bool = False) -> Task | None:
        lock = " for update" if for_update else ""
        return Task.of(
            await self.conn.fetchrow(f"select * from ai_agents.tasks where id = $1{lock}", task_id)
        )

    async def tasks(
        self, status: str | None, task_type: str | None, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[Task]:
        rows = await self.conn.fetch(
            """
            select * from ai_agents.tasks
            where ($1::text is null or status = $1) and ($2::text is null or type = $2)
              and ($3::timestamptz is null or (created_at, id) < ($3, $4::uuid))
            order by created_at desc, id desc limit $5
            """,
            status,
            task_type,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [Task(**dict(r)) for r in rows]

    async def due_tasks(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Background role only: queued, or running with a lapsed lease (its worker died)."""
        rows = await self.conn.fetch(
            "select tenant_id, id from ai_agents.tasks"
            " where status = 'queued' or (status = 'running' and lease_until < now())"
            " order by created_at limit $1",
            limit,
        )
        return [(r["tenant_id"], r["id"]) for r in rows]

    async def claim(self, task_id: uuid.UUID, lease_until: datetime) -> Task | None:
        """One atomic UPDATE: of two workers, one takes the task. A running task whose lease lapsed
        (its worker died) is taken again, and its run counted."""
        return Task.of(
            await self.conn.fetchrow(
                "update ai_agents.tasks set status = 'running', runs = runs + 1, lease_until = $2,"
                " started_at = coalesce(started_at, now())"
                " where id = $1 and (status = 'queued' or (status = 'running' and lease_until < now()))"
                " returning *",
                task_id,
                lease_until,
            )
        )

    async def add_step(self, task_id: uuid.UUID, step: dict[str, Any], lease_until: datetime) -> bool:
        """Append a progress step and renew the lease; answers whether a cancel was asked for."""
        cancel = await self.conn.fetchval(
            "update ai_agents.tasks set progress = progress || $2::text::jsonb, lease_until = $3"
            " where id = $1 returning cancel_requested",
            task_id,
            json.dumps([step]),
            lease_until,
        )
        return bool(cancel)

    async def add_content(
        self,
        tenant_id: uuid.UUID,
        kind: str,
        title: str,
        body: str,
        embedding: list[float],
        task_id: uuid.UUID | None,
    ) -> uuid.UUID:
        content_id = uuid.uuid4()
        await self.conn.execute(
            "insert into ai_agents.content_items (id, tenant_id, kind, title, body, embedding, task_id)"
            " values ($1, $2, $3, $4, $5, $6::text::vector, $7)",
            content_id,
            tenant_id,
            kind,
            title[:300],
            body,
            vector_literal(embedding),
            task_id,
        )
        return content_id

    async def nearest_content(self, embedding: list[float], limit: int) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "select id, kind, title, body, task_id, created_at,"
            " 1 - (embedding <=> $1::text::vector) as similarity"
            " from ai_agents.content_items order by embedding <=> $1::text::vector limit $2",
            vector_literal(embedding),
            limit,
        )
        return [dict(r) for r in rows]
