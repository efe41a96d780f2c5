"""The test-only `evtest` schema and the pieces the event tests wire around it.

Events are real catalog types (`campaign.created`) so the consumer's catalog checks apply; the
test producer writes them to `events.campaign_management` like the real service would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

from shared.database import Connection
from shared.events.envelope import Event, EventData
from shared.events.outbox import Outbox
from shared.fleet import ServiceSpec

EVTEST = ServiceSpec("evtest", 0, "evtest", migrations_path=Path(__file__).parent / "evtest_migrations")
PRODUCER = "campaign_management"
EVENT_TYPE = "campaign.created"
STREAM = "events.campaign_management"
OUTBOX = Outbox("evtest", PRODUCER)


def recording_handler(consumer: str, delay: float = 0.0):  # type: ignore[no-untyped-def]
    """A handler whose effect is one `effects` row per handled event (no unique constraint,
    so a double effect would show up as two rows)."""

    async def handle(conn: Connection, event: Event) -> None:
        if delay:
            await asyncio.sleep(delay)
        await conn.execute(
            "insert into evtest.effects (tenant_id, event_id, consumer, note) values ($1, $2, $3, $4)",
            event.tenant_id,
            event.id,
            consumer,
            event.data.get("note"),
        )

    return handle


class Noted(EventData):
    """The evtest payload: a `campaign.created` carrying only a note."""

    event_type = EVENT_TYPE
    note: str = ""


def make_event(tenant_id: UUID, note: str = "") -> Event:
    return OUTBOX.build(EVENT_TYPE, {"note": note}, tenant_id)
