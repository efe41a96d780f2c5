"""One stream message on its way through the consumer, and the checks it must pass first."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError
from redis.exceptions import RedisError

from shared.events.catalog import CATALOG, stream_of
from shared.events.envelope import Event


class Malformed(Exception):
    """A message no handler could ever accept; `reason` is a short machine-readable label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_INFRASTRUCTURE = (
    OSError,  # includes ConnectionError
    TimeoutError,
    RedisError,
    asyncpg.InterfaceError,  # includes a connection that no longer exists
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections
)


@dataclass
class Delivery:
    stream: str
    message_id: str
    raw: bytes | None
    deliveries: int = 1
    event: Event | None = None
    handled: bool = False
    """Its handler ran and committed now (not a duplicate the inbox already had)."""

    @property
    def key(self) -> str:
        return f"{self.stream}:{self.message_id}"


def parse_event(raw: bytes | None, stream: str | None = None) -> Event:
    """Validate a stream message against the envelope and the catalog, or raise `Malformed`.
    With `stream`, the event must also come from its rightful producer's own stream."""
    if raw is None:
        raise Malformed("malformed", "message has no 'event' field")
    try:
        event = Event.from_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        kind = "not JSON" if first["type"] == "json_invalid" else "not an event envelope"
        raise Malformed("malformed", f"{kind}: {first['msg']} at {first['loc']}") from None
    known = CATALOG.get(event.type)
    if known is None:
        raise Malformed("unknown_type", f"unknown event type {event.type!r}")
    if event.version not in known.versions:
        raise Malformed("unsupported_version", f"{event.type} version {event.version} is not supported")
    if event.producer != known.producer:
        raise Malformed(
            "untrusted_producer", f"{event.type} comes from {known.producer}, not {event.producer!r}"
        )
    if stream is not None and stream != stream_of(known.producer):
        raise Malformed(
            "untrusted_producer", f"{event.type} read from {stream}, not {stream_of(known.producer)}"
        )
    return event


def is_infrastructure_error(error: BaseException) -> bool:
    """Errors of the database or Redis themselves: wait them out, never blame the event."""
    return isinstance(error, _INFRASTRUCTURE)
