"""Standing in for a producer on the real event bus, and reading what a service published.

A test that plays another service appends a well-formed envelope to that producer's stream with
admin rights, as the producer's relay would; services under test consume it like any other."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import redis

from shared.events.catalog import CATALOG, stream_of
from shared.events.envelope import Event
from tests.support.kit import eventually


def publish(
    client: redis.Redis, event_type: str, data: dict[str, Any], tenant_id: UUID | str | None
) -> Event:
    producer = CATALOG[event_type].producer
    event = Event(
        type=event_type, tenant_id=UUID(str(tenant_id)) if tenant_id else None, producer=producer, data=data
    )
    client.xadd(stream_of(producer), {"event": event.to_json()})
    return event


def events(client: redis.Redis, producer: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """Every envelope on the producer's stream (of one type, if given), oldest first."""
    found = [json.loads(fields[b"event"]) for _, fields in client.xrange(stream_of(producer))]
    return [e for e in found if event_type is None or e["type"] == event_type]


def wait_for(
    client: redis.Redis,
    producer: str,
    event_type: str,
    where: Callable[[dict[str, Any]], bool] = lambda _: True,
    count: int = 1,
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """At least `count` matching envelopes, polling (the relay publishes after the commit)."""

    def matching() -> list[dict[str, Any]] | None:
        found = [e for e in events(client, producer, event_type) if where(e)]
        return found if len(found) >= count else None

    return eventually(matching, timeout=timeout)
