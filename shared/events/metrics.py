"""Prometheus metrics of the event bus, labelled by service so one registry serves a process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "events_published_total", "Outbox rows published to Redis Streams", ["service", "stream"]
)
EVENTS_HANDLED = Counter("events_handled_total", "Events whose handler committed", ["service", "type"])
EVENTS_DUPLICATE = Counter(
    "events_duplicate_total", "Deliveries skipped because the inbox had the event", ["service"]
)
EVENTS_FAILED = Counter("events_failed_total", "Handler runs that raised", ["service", "type"])
EVENTS_DEAD = Counter("events_dead_total", "Messages moved to events.dead", ["service", "reason"])
EVENTS_PENDING = Gauge(
    "events_pending", "Messages delivered to the group but not yet acked", ["service", "stream"]
)
OUTBOX_BACKLOG = Gauge("outbox_unpublished", "Outbox rows not yet published", ["service"])
EVENTS_LOST = Counter(
    "events_lost_total",
    "Pending messages trimmed from their stream (MAXLEN) before they were handled",
    ["service", "stream"],
)
