"""The daily budget a platform campaign runs on, from the channel's budget of our campaign."""

from __future__ import annotations

from datetime import datetime


def daily_budget(budget_minor: int, budget_type: str, start: datetime | None, end: datetime | None) -> int:
    """A daily budget as is; a lifetime budget spread over the flight's days (rounded up, so the
    platform never underspends by a rounding), or as one day's when the flight has no end."""
    if budget_type != "lifetime" or start is None or end is None or end <= start:
        return budget_minor
    days = max(1, -(-int((end - start).total_seconds()) // 86_400))
    return -(-budget_minor // days)
