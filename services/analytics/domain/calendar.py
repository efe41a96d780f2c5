"""Buckets in the tenant's time zone.

A daily row's date is already a local calendar day (ad platforms report per account day); an
hourly row is an instant, and its day is the local date of that instant, so a Berlin tenant's
hour 2026-03-29T00:00Z belongs to the 29th and its 23 local hours make that day. Weeks start on
Monday (ISO), months on the first. Hour buckets step through real instants, so the day the clocks
spring forward has 23 of them and the day they fall back 25.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

GRANULARITIES = ("hour", "day", "week", "month")
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
"""The days figures may be about: wide enough for any campaign, and far enough from the calendar's
ends that previous periods, week starts and time zone shifts never overflow."""


def in_calendar(day: date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def bucket_of(day: date, granularity: str) -> date:
    if granularity == "week":
        return week_start(day)
    if granularity == "month":
        return month_start(day)
    return day


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day begins (midnight exists in every zone we know of)."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def hours(first: date, last: date, tz: ZoneInfo) -> Iterator[datetime]:
    """Every hour instant (UTC) of the local days first..last, in order."""
    instant, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    while instant < end:
        yield instant
        instant += timedelta(hours=1)


def date_buckets(first: date, last: date, granularity: str) -> list[date]:
    """The day, week or month buckets touching first..last, each once, in order."""
    buckets: list[date] = []
    day = first
    while day <= last:
        bucket = bucket_of(day, granularity)
        if not buckets or buckets[-1] != bucket:
            buckets.append(bucket)
        day += timedelta(days=1)
    return buckets


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The same number of days just before first..last."""
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


def cover(first: date, last: date) -> list[tuple[str, date, date]]:
    """first..last as whole months where it contains them and single days at the edges, so a
    year is read as 12 month rows instead of 365 day rows: (grain, from, to) inclusive."""
    parts: list[tuple[str, date, date]] = []
    day = first
    while day <= last:
        month_end = _next_month(day) - timedelta(days=1)
        if day.day == 1 and month_end <= last:
            parts.append(("month", day, day))
            day = month_end + timedelta(days=1)
            continue
        end = min(month_end, last)
        parts.append(("day", day, end))
        day = end + timedelta(days=1)
    return parts


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
