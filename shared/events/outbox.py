"""Writing events in the caller's transaction (the transactional outbox, DESIGN §4)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.database import Connection
from shared.events.catalog import CATALOG
from shared.events.envelope import Event, EventData


class Outbox:
    """The outbox of one service: `add` inserts into `<schema>.outbox` inside the open transaction.

    The row commits or rolls back with the state change; the relay publishes it after commit.
    """

    def __init__(self, schema: str, producer: str) -> None:
        self.schema = schema
        self.producer = producer
        self._insert = f"insert into {schema}.outbox (event_id, event_type, payload) values ($1, $2, $3)"

    def build(
        self, event_type: str, data: dict[str, Any], tenant_id: UUID | str | None, version: int = 1
    ) -> Event:
        known = CATALOG.get(event_type)
        if known is None or known.producer != self.producer or version not in known.versions:
            raise ValueError(f"{self.producer} does not produce {event_type} v{version}")
        return Event(
            type=event_type,
            version=version,
            tenant_id=UUID(str(tenant_id)) if tenant_id else None,
            producer=self.producer,
            data=data,
        )

    async def add(self, conn: Connection, payload: EventData, tenant_id: UUID | str | None) -> Event:
        """Write one event of `payload`'s type in the connection's open transaction."""
        event = self.build(payload.event_type, payload.model_dump(mode="json"), tenant_id, payload.version)
        await self.add_event(conn, event)
        return event

    async def add_event(self, conn: Connection, event: Event) -> None:
        await conn.execute(self._insert, event.id, event.type, event.to_json())

    async def add_many(self, conn: Connection, events: list[Event]) -> None:
        if events:
            await conn.executemany(self._insert, [(e.id, e.type, e.to_json()) for e in events])
