"""The one clock of the fleet: timezone-aware UTC, so no naive datetime reaches a timestamptz."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
