"""What a batch changes: which rows to write and by how much each rollup moves.

A row's key is (campaign, channel, source, day, hour): the same key again replaces the row, so
the rollups move by the new counters minus the ones replaced (both signed, so a row moving to
another currency leaves the first and joins the second). An unchanged row writes nothing. A
daily row and hourly rows for the same campaign, channel, source and day would count the same
activity twice: refused.

Rollups are kept for the whole tenant by hour, day, week and month, and per campaign by month
(what a breakdown by campaign over long ranges reads); a single campaign's days and hours are
read from its own rows, which sit together in the primary key. The rollups move in PostgreSQL, one
set-based statement per batch (`metrics_sql`): summing a thousand deltas per bucket there
costs less than building them here and shipping each bucket over.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from services.analytics.domain.kpis import Counters

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


@dataclass
class Plan:
    """New rows to insert; changed rows to update, each with what it replaces (`replaced[i]` held
    `updates[i]`'s key before). The rollups move by the written rows' counters minus the replaced
    ones' (in SQL, bucket by bucket)."""

    inserts: list[StoredRow] = field(default_factory=list)
    updates: list[StoredRow] = field(default_factory=list)
    replaced: list[StoredRow] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    unchanged: int = 0

    @property
    def inserted(self) -> int:
        return len(self.inserts)

    @property
    def updated(self) -> int:
        return len(self.updates)

    @property
    def write(self) -> list[StoredRow]:
        return self.inserts + self.updates

    @property
    def changed_campaigns(self) -> set[uuid.UUID]:
        return {row.campaign_id for row in self.write}


def plan(rows: Sequence[StoredRow], existing: Mapping[Prefix, Iterable[Existing]]) -> Plan:
    """What a batch inserts, updates (and replaces), given what is stored for its rows' days."""
    result = Plan()
    for index, row in enumerate(rows):
        stored = existing.get(row.prefix, ())
        if any((e.hour_key < 0) != (row.hour_key < 0) for e in stored):
            result.conflicts.append(index)
            continue
        old = next((e for e in stored if e.hour_key == row.hour_key), None)
        if old is None:
            result.inserts.append(row)
        elif (old.currency, old.counters, old.reach) == (row.currency, row.counters, row.reach):
            result.unchanged += 1
        else:
            result.updates.append(row)
            result.replaced.append(
                replace(row, currency=old.currency, counters=old.counters, reach=old.reach)
            )
    return result
