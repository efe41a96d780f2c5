"""What the analytics use cases share: one unit of work over both repositories, the tenant's
time zone, lookups that 404."""

from __future__ import annotations

from services.analytics.metrics_repository import MetricsRepository
from services.analytics.repository import AnalyticsRepository
from shared import errors
from shared.database import Connection
from shared.fleet import spec
from shared.unit_of_work import UnitOfWork, Work

BACKGROUND_ROLE = str(spec("analytics").background_role)


class Stores:
    """The records and the metrics, bound to one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.records = AnalyticsRepository(conn)
        self.metrics = MetricsRepository(conn)


AnalyticsWork = Work[Stores]
AnalyticsUnitOfWork = UnitOfWork[Stores]


def not_found(what: str) -> errors.NotFound:
    """Another tenant's object is invisible (row level security): the same 404 as none at all."""
    return errors.NotFound(f"no such {what}")


def ensure(found: object, what: str) -> None:
    if found is None:
        raise not_found(what)
