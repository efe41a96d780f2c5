"""Events over Redis Streams (DESIGN §4): envelope, outbox, relay, consumer, dead letters."""

from shared.events.consumer import EventConsumer, Handler
from shared.events.envelope import Event
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay

__all__ = ["Event", "EventConsumer", "Handler", "Outbox", "OutboxRelay"]
