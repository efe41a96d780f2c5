"""Which days a sync pulls, and in which pages, so a crash resumes where it stopped.

An incremental sync starts `trailing_days` before the last day already synced (conversions are
attributed late: 14 days at Google, 28 at Meta) and ends yesterday in UTC; the first sync of a
connection reaches back `initial_days`. Pages are runs of days; a sync's checkpoint is the last
day of the last page stored, and a resumed sync starts the day after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

MAX_WINDOW_DAYS = 3 * 366


@dataclass(frozen=True)
class Window:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


class InvalidWindow(ValueError):
    pass


def incremental(synced_through: date | None, today: date, trailing_days: int, initial_days: int) -> Window:
    last = today - timedelta(days=1)
    if synced_through is None:
        first = last - timedelta(days=initial_days - 1)
    else:
        first = min(synced_through + timedelta(days=1), last) - timedelta(days=trailing_days)
    return Window(min(first, last), last)


def requested(first: date, last: date, today: date) -> Window:
    """A backfill a user asked for: in the past, forwards, at most three years."""
    if first > last:
        raise InvalidWindow("from must not come after to")
    if last >= today:
        raise InvalidWindow("to must be a day before today (UTC): today is not complete yet")
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise InvalidWindow("a sync covers at most three years")
    return Window(first, last)


def pages(window: Window, checkpoint: date | None, days_per_page: int) -> Iterator[Window]:
    """The pages still to pull: after the checkpoint when resuming."""
    start = window.first if checkpoint is None else checkpoint + timedelta(days=1)
    while start <= window.last:
        end = min(window.last, start + timedelta(days=days_per_page - 1))
        yield Window(start, end)
        start = end + timedelta(days=1)
