"""The rows of the `ai_agents` schema (tables in migrations/versions), tenant-owned with row level
security."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.rows import Row


@dataclass(slots=True)
class Task(Row):
    table = "ai_agents.tasks"

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    input: dict[str, Any]
    requested_by: str
    status: str = "queued"
    progress: list[dict[str, Any]] = field(default_factory=list)
    engine: str | None = None
    token_usage: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    runs: int = 0
    cancel_requested: bool = False
    lease_until: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
