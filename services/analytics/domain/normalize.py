"""One canonical row from what each provider reports, at the door (issue 10).

- Google Ads: `cost_micros` (millionths of the account currency), `conversions_value` in major units;
- Meta: every number a string, money in major units (`spend`), and one conversion reported under
  several action types at once (`omni_purchase`, `purchase`, `offsite_conversion.fb_pixel_purchase`):
  the first present in a priority list counts, never their sum;
- LinkedIn: `costInLocalCurrency` and `conversionValueInLocalCurrency` in the account currency (the
  row's `currency`), conversions as `externalWebsiteConversions`, leads as `oneClickLeads`;
- our own form: `spend_minor`, `conversions`, `conversion_value_minor`.

Exactly one way of giving spend (and of giving conversion value) per row; problems name the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.analytics.domain.calendar import EARLIEST_DAY, LATEST_DAY, in_calendar
from services.analytics.domain.kpis import Counters
from services.analytics.domain.money import decimal_of, major_to_minor, micros_to_minor

PURCHASE_ACTIONS = (
    "omni_purchase",
    "purchase",
    "offsite_conversion.fb_pixel_purchase",
    "onsite_web_purchase",
)
LEAD_ACTIONS = ("lead", "onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead")
VIDEO_ACTIONS = ("video_view",)

SPEND_FIELDS = ("spend_minor", "spend", "cost_micros", "costInLocalCurrency")
VALUE_FIELDS = ("conversion_value_minor", "conversion_value", "conversions_value", "action_values")
VALUE_FIELDS += ("conversionValueInLocalCurrency",)


MAX_COUNT = 10**15
"""The largest count or amount of minor units a row may carry (bigint holds 9.2 x 10^18)."""
MAX_CONVERSIONS = Decimal(10**14)
"""Conversions are stored as numeric(16, 2)."""


class RowProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CanonicalRow:
    campaign_id: UUID | None
    external_campaign_id: str | None
    channel: str
    source: str
    day: date | None  # None for an hourly row until its local day is known (tenant time zone)
    hour_start: datetime | None
    currency: str
    counters: Counters
    reach: int | None


def _number(raw: Mapping[str, Any], name: str) -> Decimal:
    try:
        return decimal_of(raw[name])
    except ValueError as error:
        raise RowProblem(name, str(error)) from None


def _in_range(name: str, value: int) -> int:
    if not 0 <= value <= MAX_COUNT:
        raise RowProblem(name, f"{name} must lie between 0 and {MAX_COUNT:,}")
    return value


def _count(raw: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = raw.get(name)
        if type(value) is int and 0 <= value <= MAX_COUNT:  # the common case, without a Decimal
            return value
        if value is not None:
            number = _number(raw, name)
            if number != number.to_integral_value():
                raise RowProblem(name, f"{name} must be a whole number")
            return _in_range(name, int(number))
    return 0


def _action(actions: Sequence[Mapping[str, Any]] | None, priority: Sequence[str]) -> Decimal | None:
    """The value of the first action type in `priority` that the row reports."""
    found = {str(a.get("action_type")): a for a in actions or ()}
    for action_type in priority:
        if found.get(action_type, {}).get("value") is not None:
            return _number(found[action_type], "value")
    return None


def _one_of(raw: Mapping[str, Any], names: Sequence[str], what: str) -> str | None:
    given = [name for name in names if raw.get(name) is not None]
    if len(given) > 1:
        raise RowProblem(given[1], f"give {what} once: {' and '.join(given)} both given")
    return given[0] if given else None


def _spend(raw: Mapping[str, Any], currency: str) -> int:
    name = _one_of(raw, SPEND_FIELDS, "spend")
    if name is None:
        return 0
    if name == "spend_minor":
        return _count(raw, name)
    if name == "cost_micros":
        return _in_range(name, micros_to_minor(_number(raw, name), currency))
    return _in_range(name, major_to_minor(_number(raw, name), currency))


def _conversion_value(raw: Mapping[str, Any], currency: str) -> int:
    name = _one_of(raw, VALUE_FIELDS, "conversion value")
    if name is None:
        return 0
    if name == "conversion_value_minor":
        return _count(raw, name)
    if name == "action_values":
        found = _action(raw[name], PURCHASE_ACTIONS)
        return _in_range(name, major_to_minor(found, currency)) if found is not None else 0
    return _in_range(name, major_to_minor(_number(raw, name), currency))


def _conversions(raw: Mapping[str, Any]) -> Decimal:
    """Fractional conversions exist (data-driven attribution): kept to two decimals."""
    for name in ("conversions", "externalWebsiteConversions"):
        if type(raw.get(name)) is int and raw[name] >= 0:
            return Decimal(raw[name])
        if raw.get(name) is not None:
            return _conversions_in_range(name, _number(raw, name))
    found = _action(raw.get("actions"), PURCHASE_ACTIONS)
    return _conversions_in_range("actions", found) if found is not None else Decimal(0)


def _conversions_in_range(name: str, value: Decimal) -> Decimal:
    if not 0 <= value < MAX_CONVERSIONS:
        raise RowProblem(name, f"conversions must lie between 0 and {MAX_CONVERSIONS:,}")
    return value.quantize(Decimal("0.01"))


def _leads(raw: Mapping[str, Any]) -> int:
    if raw.get("leads") is not None or raw.get("oneClickLeads") is not None:
        return _count(raw, "leads", "oneClickLeads")
    found = _action(raw.get("actions"), LEAD_ACTIONS)
    return _in_range("actions", int(found)) if found is not None else 0


def _video_views(raw: Mapping[str, Any]) -> int:
    if raw.get("video_views") is not None or raw.get("videoViews") is not None:
        return _count(raw, "video_views", "videoViews")
    found = _action(raw.get("actions"), VIDEO_ACTIONS)
    return _in_range("actions", int(found)) if found is not None else 0


def _when(raw: Mapping[str, Any]) -> tuple[date | None, datetime | None]:
    day, hour_start = raw.get("date"), raw.get("hour_start")
    if (day is None) == (hour_start is None):
        raise RowProblem("date", "give date (a daily row) or hour_start (an hourly row), one of them")
    when = day if day is not None else hour_start.date()
    if not in_calendar(when):
        raise RowProblem(
            "date" if day is not None else "hour_start", f"days lie between {EARLIEST_DAY} and {LATEST_DAY}"
        )
    if hour_start is not None:
        if hour_start.tzinfo is None:
            raise RowProblem("hour_start", "hour_start must carry its offset (UTC: end it with Z)")
        if (hour_start.minute, hour_start.second, hour_start.microsecond) != (0, 0, 0):
            raise RowProblem("hour_start", "hour_start must be the start of an hour")
    return day, hour_start


def normalize(raw: Mapping[str, Any]) -> CanonicalRow:
    """The canonical row, or RowProblem naming the first bad field."""
    if raw.get("campaign_id") is None and raw.get("external_campaign_id") is None:
        raise RowProblem("campaign_id", "give campaign_id or external_campaign_id")
    day, hour_start = _when(raw)
    currency = str(raw["currency"])
    counters = Counters(
        impressions=_count(raw, "impressions"),
        clicks=_count(raw, "clicks"),
        spend_minor=_spend(raw, currency),
        conversions=_conversions(raw),
        conversion_value_minor=_conversion_value(raw, currency),
        video_views=_video_views(raw),
        leads=_leads(raw),
        new_customers=_count(raw, "new_customers"),
    )
    reach = _count(raw, "reach") if raw.get("reach") is not None else None
    return CanonicalRow(
        campaign_id=raw.get("campaign_id"),
        external_campaign_id=raw.get("external_campaign_id"),
        channel=str(raw["channel"]),
        source=str(raw.get("source") or "api"),
        day=day,
        hour_start=hour_start,
        currency=currency,
        counters=counters,
        reach=reach,
    )
