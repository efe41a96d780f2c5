"""The one clock of the fleet (timezone-aware UTC, so no naive datetime reaches a timestamptz) and
the one way to read a time zone a user names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(UTC)


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone, or ValueError naming it (a typo must fail on save, not at 3 a.m.).
    `US` or `../etc` name directories or files that are no zone: ZoneInfo raises OSError for them."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None
