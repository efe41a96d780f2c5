"""The event envelope of DESIGN §4, shared by producers and consumers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.context import causation_id_var, request_id_var


def _now() -> datetime:
    return datetime.now(UTC)


def _correlation() -> str:
    return request_id_var.get() or str(uuid4())


class Event(BaseModel):
    """An immutable fact one service tells the others. `data` never carries a secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(default_factory=uuid4)
    type: str = Field(min_length=1, max_length=100)
    version: int = Field(1, ge=1)
    occurred_at: datetime = Field(default_factory=_now)
    tenant_id: UUID | None
    producer: str = Field(min_length=1)
    correlation_id: str = Field(default_factory=_correlation)
    causation_id: str | None = Field(default_factory=causation_id_var.get)
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        return cls.model_validate_json(raw)


class EventData(BaseModel):
    """The typed `data` of one event type. Each service declares what it emits in its
    `events.py` as subclasses, and the outbox takes these, so a payload cannot drift from its type."""

    model_config = ConfigDict(frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
