"""The pure rules of analytics, in microseconds: money, normalisation at the door, KPI formulas,
pacing, calendars across DST, range covers and alert verdicts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics.domain import alerts, calendar
from services.analytics.domain.kpis import Budget, Counters, change, expected_spend, kpis, pacing, value_of
from services.analytics.domain.money import major_to_minor, micros_to_minor, minor_to_major
from services.analytics.domain.normalize import RowProblem, normalize
from services.analytics.domain.rollups import Existing, StoredRow, plan
from shared.clock import time_zone

# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("12.345", "EUR", 1235),
        ("12.344", "EUR", 1234),
        ("1500", "JPY", 1500),
        ("1500.5", "JPY", 1501),
        ("1.2345", "KWD", 1235),
        (0.1, "USD", 10),
        ("-0.005", "EUR", -1),
    ],
)
def test_major_units_become_minor_units_half_up(value: object, currency: str, minor: int) -> None:
    assert major_to_minor(value, currency) == minor


def test_micros_follow_the_currency_exponent() -> None:
    assert micros_to_minor(12_345_000, "EUR") == 1235  # 12.345 EUR
    assert micros_to_minor("1500000000", "JPY") == 1500
    assert micros_to_minor(1_234_500, "KWD") == 1235
    assert minor_to_major(1235, "EUR") == Decimal("12.35")


# --- normalisation -------------------------------------------------------------------------------


CAMPAIGN = uuid.uuid4()


def row(**fields: Any) -> dict[str, Any]:
    base = {"campaign_id": CAMPAIGN, "channel": "google_ads", "currency": "EUR", "date": date(2026, 11, 20)}
    return {**base, **fields}


def test_google_ads_micros_and_major_unit_values() -> None:
    canonical = normalize(
        row(cost_micros="2500000", conversions=1.5, conversions_value=99.99, impressions=10)
    )
    c = canonical.counters
    assert (c.spend_minor, c.conversions, c.conversion_value_minor, c.impressions) == (
        250,
        Decimal("1.50"),
        9999,
        10,
    )


def test_meta_strings_and_one_purchase_reported_under_several_action_types() -> None:
    meta = row(
        channel="meta_ads",
        impressions="1200",
        clicks="40",
        spend="31.07",
        reach="900",
        actions=[
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
            {"action_type": "omni_purchase", "value": "3"},
            {"action_type": "purchase", "value": "3"},
            {"action_type": "lead", "value": "7"},
            {"action_type": "video_view", "value": "250"},
        ],
        action_values=[
            {"action_type": "purchase", "value": "120.50"},
            {"action_type": "omni_purchase", "value": "120.50"},
        ],
    )
    c = normalize(meta).counters
    assert (c.impressions, c.clicks, c.spend_minor) == (1200, 40, 3107)
    assert c.conversions == Decimal("3.00"), "the same purchase is not counted three times"
    assert (c.conversion_value_minor, c.leads, c.video_views) == (12050, 7, 250)
    assert normalize(meta).reach == 900


def test_linkedin_local_currency_fields() -> None:
    c = normalize(
        row(
            channel="linkedin_ads",
            currency="GBP",
            costInLocalCurrency="88.4",
            externalWebsiteConversions=4,
            conversionValueInLocalCurrency="400",
            oneClickLeads=2,
            videoViews=30,
        )
    ).counters
    assert (c.spend_minor, c.conversions, c.conversion_value_minor, c.leads, c.video_views) == (
        8840,
        Decimal("4.00"),
        40000,
        2,
        30,
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"spend": "1.00", "cost_micros": 100}, "cost_micros", "give spend once"),
        ({"spend": "abc"}, "spend", "not a number"),
        ({"spend": "NaN"}, "spend", "not a finite number"),
        ({"impressions": "1.5"}, "impressions", "whole number"),
        ({"clicks": -1}, "clicks", "between 0 and"),
        ({"clicks": "1.5"}, "clicks", "whole number"),
        ({"spend": "-3"}, "spend", "between 0 and"),
        ({"spend": "9" * 17}, "spend", "between 0 and"),  # 10^19 cents: past bigint
        ({"cost_micros": "1" + "0" * 30}, "cost_micros", "18 digits"),
        ({"conversions": "-1"}, "conversions", "between 0 and"),
        ({"conversions": "1" + "0" * 15}, "conversions", "between 0 and"),  # numeric(16, 2)
        ({"actions": [{"action_type": "lead", "value": "-5"}]}, "actions", "between 0 and"),
        ({"actions": [{"action_type": "purchase", "value": "lots"}]}, "value", "not a number"),
        ({"campaign_id": None}, "campaign_id", "give campaign_id or external_campaign_id"),
        ({"hour_start": datetime(2026, 11, 20, 10, tzinfo=UTC)}, "date", "one of them"),
        ({"date": date(1, 1, 1)}, "date", "days lie between"),
        (
            {"date": None, "hour_start": datetime(9999, 12, 31, 10, tzinfo=UTC)},
            "hour_start",
            "days lie between",
        ),
        ({"date": None, "hour_start": datetime(2026, 11, 20, 10)}, "hour_start", "offset"),
        (
            {"date": None, "hour_start": datetime(2026, 11, 20, 10, 30, tzinfo=UTC)},
            "hour_start",
            "start of an hour",
        ),
    ],
)
def test_bad_values_name_their_field(fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(RowProblem, match=message) as caught:
        normalize(row(**fields))
    assert caught.value.field == field


# --- KPIs ----------------------------------------------------------------------------------------


def test_kpis_against_hand_computed_values() -> None:
    c = Counters(
        impressions=20_000,
        clicks=400,
        spend_minor=50_000,
        conversions=Decimal(16),
        conversion_value_minor=200_000,
        new_customers=10,
    )
    assert kpis(c) == {
        "ctr": 0.02,  # 400 / 20,000
        "cpc_minor": 125.0,  # 50,000 / 400
        "cpm_minor": 2500.0,  # 1000 * 50,000 / 20,000
        "cpa_minor": 3125.0,  # 50,000 / 16
        "conversion_rate": 0.04,  # 16 / 400
        "roas": 4.0,  # 200,000 / 50,000
        "cac_minor": 5000.0,  # 50,000 / 10
    }


def test_zero_denominators_give_null_not_an_error() -> None:
    assert kpis(Counters()) == dict.fromkeys(kpis(Counters()), None)
    only_spend = kpis(Counters(spend_minor=500))
    assert only_spend["roas"] == 0.0 and only_spend["cpc_minor"] is None and only_spend["ctr"] is None


def test_counters_add_and_subtract_and_metrics_read_by_name() -> None:
    a, b = Counters(clicks=3, conversions=Decimal("1.5")), Counters(clicks=2, impressions=100)
    assert a + b == Counters(clicks=5, impressions=100, conversions=Decimal("1.5"))
    assert (a + b) - b == a
    assert value_of("clicks", a + b) == 5.0 and value_of("ctr", a + b) == 0.05
    with pytest.raises(KeyError):
        value_of("bounce_rate", a)


def test_change_is_relative_and_null_without_a_base() -> None:
    assert change(150, 100) == 0.5 and change(50, 100) == -0.5 and change(-5, -10) == 0.5
    assert change(10, 0) is None and change(None, 3) is None and change(3, None) is None


def test_pacing_of_daily_and_lifetime_budgets() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    lifetime = Budget(30_000, "lifetime", start, start + timedelta(days=29))  # 30 days, 1,000 a day
    assert expected_spend(lifetime, date(2026, 11, 10)) == 10_000
    assert pacing(11_000, lifetime, date(2026, 11, 10)) == 1.1
    assert expected_spend(lifetime, date(2027, 1, 1)) == 30_000  # the flight is over
    assert expected_spend(lifetime, date(2026, 10, 1)) == 0
    daily = Budget(500, "daily", start, None)
    assert (
        expected_spend(daily, date(2026, 11, 4)) == 2_000 and pacing(1_000, daily, date(2026, 11, 4)) == 0.5
    )
    assert pacing(10, Budget(500, "lifetime", None, None), date(2026, 11, 4)) is None


# --- calendars -----------------------------------------------------------------------------------

BERLIN = time_zone("Europe/Berlin")


def test_hours_of_local_days_across_both_dst_changes() -> None:
    spring = list(calendar.hours(date(2026, 3, 29), date(2026, 3, 29), BERLIN))
    autumn = list(calendar.hours(date(2026, 10, 25), date(2026, 10, 25), BERLIN))
    assert (len(spring), len(autumn)) == (23, 25)
    assert spring[0] == datetime(2026, 3, 28, 23, tzinfo=UTC) and spring[-1] == datetime(
        2026, 3, 29, 21, tzinfo=UTC
    )
    assert len({h.astimezone(BERLIN).isoformat() for h in autumn}) == 25, "02:00 twice, told apart by offset"


def test_an_hourly_row_belongs_to_its_local_day() -> None:
    assert calendar.local_day(datetime(2026, 3, 28, 23, tzinfo=UTC), BERLIN) == date(2026, 3, 29)
    assert calendar.local_day(datetime(2026, 7, 1, 21, 59, tzinfo=UTC), BERLIN) == date(2026, 7, 1)
    assert calendar.local_day(datetime(2026, 7, 1, 22, tzinfo=UTC), BERLIN) == date(2026, 7, 2)
    for unknown in ("Mars/Olympus", "US", "../etc"):  # "US" is a directory of the zone database
        with pytest.raises(ValueError, match="unknown time zone"):
            time_zone(unknown)


def test_week_and_month_buckets() -> None:
    assert calendar.bucket_of(date(2026, 11, 26), "week") == date(2026, 11, 23)  # a Thursday -> Monday
    assert calendar.date_buckets(date(2026, 1, 30), date(2026, 3, 2), "month") == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert calendar.previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (
        date(2026, 10, 2),
        date(2026, 10, 31),
    )


def test_a_year_is_covered_by_twelve_months() -> None:
    assert calendar.cover(date(2026, 1, 1), date(2026, 12, 31)) == [
        ("month", date(2026, m, 1), date(2026, m, 1)) for m in range(1, 13)
    ]
    assert calendar.cover(date(2026, 1, 15), date(2026, 3, 3)) == [
        ("day", date(2026, 1, 15), date(2026, 1, 31)),
        ("month", date(2026, 2, 1), date(2026, 2, 1)),
        ("day", date(2026, 3, 1), date(2026, 3, 3)),
    ]


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 800))
def test_a_cover_holds_every_day_exactly_once(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    days: list[date] = []
    for grain, start, end in calendar.cover(first, last):
        if grain == "month":
            end = date(start.year + (start.month == 12), start.month % 12 + 1, 1) - timedelta(days=1)
        days += [start + timedelta(days=n) for n in range((end - start).days + 1)]
    assert days == [first + timedelta(days=n) for n in range(length + 1)]


# --- alerts --------------------------------------------------------------------------------------


def test_thresholds_and_once_per_breach() -> None:
    assert alerts.breaches(12.0, "above", 10) and not alerts.breaches(10.0, "above", 10)
    assert alerts.breaches(0.01, "below", 0.02) and not alerts.breaches(None, "below", 1)
    assert (
        alerts.should_fire(False, True)
        and not alerts.should_fire(True, True)
        and not alerts.should_fire(True, False)
    )


def test_anomaly_against_the_trailing_days() -> None:
    history = [100, 104, 98, 101, 99, 103, 97, 100, 102, 98, 101, 99, 100, 102]
    found = alerts.anomaly(160.0, history, 3.0)
    assert found is not None and found.score > 3 and round(found.mean, 2) == 100.29
    assert alerts.anomaly(103.0, history, 3.0) is None
    assert alerts.anomaly(500.0, [100.0] * 14, 3.0) is None, "a flat line has no spread to judge by"
    assert alerts.anomaly(500.0, [100.0, None, 90.0], 3.0) is None, "too little history"


# --- what a batch changes ------------------------------------------------------------------------


def stored_row(day: date, hour_key: int = -1, currency: str = "EUR", clicks: int = 1) -> StoredRow:
    return StoredRow(
        CAMPAIGN, "meta_ads", "api", day, hour_key, currency, Counters(clicks=clicks), None, None
    )


def test_a_plan_writes_new_and_changed_rows_and_names_what_they_replace() -> None:
    day = date(2026, 11, 18)
    existing = {stored_row(day).prefix: [Existing(-1, "EUR", Counters(clicks=4), None)]}
    changed = plan([stored_row(day, clicks=10), stored_row(day + timedelta(days=1))], existing)
    assert (changed.inserted, changed.updated, changed.unchanged) == (1, 1, 0)
    assert (changed.inserts, changed.updates) == (
        [stored_row(day + timedelta(days=1))],
        [stored_row(day, clicks=10)],
    )
    assert changed.replaced == [stored_row(day, clicks=4)], "the rollups lose what the row held"
    same = plan([stored_row(day, clicks=4)], existing)
    assert (same.unchanged, same.write, same.replaced) == (1, [], [])


def test_a_row_moving_currency_replaces_the_row_in_the_other_currency() -> None:
    day = date(2026, 11, 18)
    moved = plan(
        [stored_row(day, currency="USD", clicks=3)],
        {stored_row(day).prefix: [Existing(-1, "EUR", Counters(clicks=3), None)]},
    )
    assert (moved.updated, moved.replaced) == (1, [stored_row(day, currency="EUR", clicks=3)])


def test_hourly_rows_are_kept_apart_and_may_not_meet_a_daily_row() -> None:
    day = date(2026, 11, 18)
    hour = int(datetime(2026, 11, 18, 9, tzinfo=UTC).timestamp()) // 3600
    stored = {stored_row(day).prefix: [Existing(hour, "EUR", Counters(clicks=1), None)]}
    next_hour = plan([stored_row(day, hour), stored_row(day, hour + 1)], stored)
    assert (next_hour.unchanged, next_hour.inserted, next_hour.write) == (1, 1, [stored_row(day, hour + 1)])
    clash = plan([stored_row(day, hour)], {stored_row(day).prefix: [Existing(-1, "EUR", Counters(), None)]})
    assert (clash.conflicts, clash.write) == ([0], [])
