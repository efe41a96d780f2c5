"""What a batch changes: which rows to write and by how much each rollup moves.

A row's key is (campaign, channel, source, day, hour): the same key again replaces the row, so
the rollups move by the new counters minus the ones replaced (both signed, so a row moving to
another currency leaves the first and joins the second). An unchanged row writes nothing. A
daily row and hourly rows for the same campaign, channel, source and day would count the same
activity twice: refused.

Rollups are kept for the whole tenant by hour, day, week and month, and per campaign by month
(what a breakdown by campaign over long ranges reads); a single campaign's days and hours are
read from its own rows, which sit together in the primary key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.analytics.domain.calendar import month_start, week_start
from services.analytics.domain.kpis import Counters

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL_CAMPAIGNS = uuid.UUID(int=0)
"""The campaign id of the tenant-wide rollups."""

Prefix = tuple[uuid.UUID, str, str, date]  # campaign, channel, source, day


@dataclass(frozen=True)
class StoredRow:
    """A canonical row ready to store: its local day, and its hour as hours since the epoch (-1
    for a daily row)."""

    campaign_id: uuid.UUID
    channel: str
    source: str
    day: date
    hour_key: int
    currency: str
    counters: Counters
    reach: int | None
    external_campaign_id: str | None

    @property
    def prefix(self) -> Prefix:
        return (self.campaign_id, self.channel, self.source, self.day)


@dataclass(frozen=True)
class Existing:
    """A stored row of the same campaign, channel, source and day."""

    hour_key: int
    currency: str
    counters: Counters
    reach: int | None


RollupKey = tuple[str, uuid.UUID, str, str, date]  # grain, campaign, channel, currency, bucket
HourKey = tuple[str, str, datetime]  # channel, currency, hour


@dataclass
class Plan:
    write: list[StoredRow] = field(default_factory=list)
    rollups: dict[RollupKey, Counters] = field(default_factory=dict)
    hours: dict[HourKey, Counters] = field(default_factory=dict)
    conflicts: list[int] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed_campaigns(self) -> set[uuid.UUID]:
        return {row.campaign_id for row in self.write}


def plan(rows: Sequence[StoredRow], existing: Mapping[Prefix, Iterable[Existing]]) -> Plan:
    """The writes and rollup moves of a batch, given what is stored for its rows' days."""
    result = Plan()
    rollups: dict[RollupKey, list[Any]] = {}
    hours: dict[HourKey, list[Any]] = {}
    for index, row in enumerate(rows):
        stored = existing.get(row.prefix, ())
        if any((e.hour_key < 0) != (row.hour_key < 0) for e in stored):
            result.conflicts.append(index)
            continue
        old = next((e for e in stored if e.hour_key == row.hour_key), None)
        if old is not None and (old.currency, old.counters, old.reach) == (
            row.currency,
            row.counters,
            row.reach,
        ):
            result.unchanged += 1
            continue
        result.write.append(row)
        if old is None:
            result.inserted += 1
        else:
            result.updated += 1
            _move(rollups, hours, row, old.currency, (-old.counters).values())
        _move(rollups, hours, row, row.currency, row.counters.values())
    result.rollups = {k: Counters(*v) for k, v in rollups.items() if any(v)}
    result.hours = {k: Counters(*v) for k, v in hours.items() if any(v)}
    return result


def _add(into: dict[Any, list[Any]], key: Any, delta: tuple[Any, ...]) -> None:
    """Accumulate in place: a batch makes thousands of these, so no object per step."""
    total = into.get(key)
    if total is None:
        into[key] = list(delta)
    else:
        for i, value in enumerate(delta):
            total[i] += value


def _move(
    rollups: dict[RollupKey, list[Any]],
    hours: dict[HourKey, list[Any]],
    row: StoredRow,
    currency: str,
    delta: tuple[Any, ...],
) -> None:
    month = month_start(row.day)
    _add(rollups, ("d", ALL_CAMPAIGNS, row.channel, currency, row.day), delta)
    _add(rollups, ("w", ALL_CAMPAIGNS, row.channel, currency, week_start(row.day)), delta)
    _add(rollups, ("m", ALL_CAMPAIGNS, row.channel, currency, month), delta)
    _add(rollups, ("m", row.campaign_id, row.channel, currency, month), delta)
    if row.hour_key >= 0:
        hour = EPOCH + timedelta(hours=row.hour_key)
        _add(hours, (row.channel, currency, hour), delta)
