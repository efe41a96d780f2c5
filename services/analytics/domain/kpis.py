"""Counters add up; KPIs are ratios of summed counters, computed on demand and never stored
(DESIGN §7: a zero denominator gives null, not an error or infinity)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

COUNTERS = (
    "impressions",
    "clicks",
    "spend_minor",
    "conversions",
    "conversion_value_minor",
    "video_views",
    "leads",
    "new_customers",
)
KPIS = ("ctr", "cpc_minor", "cpm_minor", "cpa_minor", "conversion_rate", "roas", "cac_minor")


@dataclass(slots=True)
class Counters:
    """Additive counts of one row or of many (treat as immutable: arithmetic makes new ones)."""

    impressions: int = 0
    clicks: int = 0
    spend_minor: int = 0
    conversions: Decimal = Decimal(0)
    conversion_value_minor: int = 0
    video_views: int = 0
    leads: int = 0
    new_customers: int = 0

    def values(self) -> tuple[int, int, int, Decimal, int, int, int, int]:
        """In COUNTERS order: the order rows are shipped to PostgreSQL in."""
        return (
            self.impressions,
            self.clicks,
            self.spend_minor,
            self.conversions,
            self.conversion_value_minor,
            self.video_views,
            self.leads,
            self.new_customers,
        )

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(a - b for a, b in zip(self.values(), other.values(), strict=True)))

    def as_dict(self) -> dict[str, int | float]:
        return {
            f.name: float(value) if isinstance(value := getattr(self, f.name), Decimal) else value
            for f in fields(self)
        }

    def is_zero(self) -> bool:
        return not any(self.values())


def ratio(numerator: float | Decimal, denominator: float | Decimal, scale: float = 1.0) -> float | None:
    if not denominator:
        return None
    return round(float(numerator) * scale / float(denominator), 6)


def kpis(c: Counters) -> dict[str, float | None]:
    """CTR = clicks/impressions; CPC = spend/clicks; CPM = 1000*spend/impressions; CPA =
    spend/conversions; conversion rate = conversions/clicks; ROAS = revenue/spend; CAC =
    spend/new customers. Money KPIs stay in minor units."""
    return {
        "ctr": ratio(c.clicks, c.impressions),
        "cpc_minor": ratio(c.spend_minor, c.clicks),
        "cpm_minor": ratio(c.spend_minor, c.impressions, 1000),
        "cpa_minor": ratio(c.spend_minor, c.conversions),
        "conversion_rate": ratio(c.conversions, c.clicks),
        "roas": ratio(c.conversion_value_minor, c.spend_minor),
        "cac_minor": ratio(c.spend_minor, c.new_customers),
    }


def value_of(metric: str, c: Counters) -> float | None:
    """A counter or a KPI by name (for time series, widgets and alerts)."""
    if metric in COUNTERS:
        return float(getattr(c, metric))
    if metric in KPIS:
        return kpis(c)[metric]
    raise KeyError(metric)


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from the previous period; null when there is nothing to compare with."""
    if current is None or not previous:
        return None
    return round((current - previous) / abs(previous), 6)


@dataclass(frozen=True)
class Budget:
    total_minor: int
    budget_type: str  # "daily" (per day) or "lifetime"
    start_at: datetime | None
    end_at: datetime | None


def expected_spend(budget: Budget, today: date) -> int | None:
    """What the campaign should have spent by the end of `today` (its local date): a daily budget
    per day run, a lifetime budget spread evenly over the flight. None without dates to pace by."""
    if budget.start_at is None:
        return None
    start = budget.start_at.date()
    if today < start:
        return 0
    if budget.budget_type == "daily":
        last = min(today, budget.end_at.date()) if budget.end_at else today
        return budget.total_minor * ((last - start).days + 1)
    if budget.end_at is None:
        return None
    flight_days = (budget.end_at.date() - start).days + 1
    elapsed = min((today - start).days + 1, flight_days)
    return round(budget.total_minor * elapsed / flight_days)


def pacing(spent_minor: int, budget: Budget, today: date) -> float | None:
    """Spend so far over expected spend so far: 1.0 on track, 1.1 is 10% ahead."""
    expected = expected_spend(budget, today)
    return ratio(spent_minor, expected) if expected is not None else None
