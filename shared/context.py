"""Per-request (or per-event) context that logs and events pick up without passing it around."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)
