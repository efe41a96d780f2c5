"""Reading the numbers from the live service: KPIs against hand-computed values with the previous
period, pacing from campaign events, time series with gaps and across a DST change, breakdowns,
a change of time zone, and rollups equal to the raw sums for random data (Hypothesis)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.test_ingestion import daily, ingest
from tests.support.bus import publish
from tests.support.kit import Account, assert_problem, eventually, register_owner


def kpis(api: httpx.Client, account: Account, **params: Any) -> dict[str, Any]:
    answer = api.get("/api/v1/analytics/kpis", params=params, headers=account.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def series(api: httpx.Client, account: Account, **params: Any) -> list[tuple[str, Any]]:
    answer = api.get("/api/v1/analytics/timeseries", params=params, headers=account.auth)
    assert answer.status_code == 200, answer.text
    return [(p["bucket"], p["value"]) for p in answer.json()["points"]]


def test_kpis_match_hand_computed_values_with_the_previous_period(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    ingest(
        api,
        owner,
        [
            daily(
                cid,
                "2026-10-20",
                impressions=10_000,
                clicks=100,
                spend_minor=20_000,
                conversions=4,
                conversion_value_minor=60_000,
            ),
            daily(
                cid,
                "2026-11-10",
                impressions=20_000,
                clicks=400,
                spend_minor=50_000,
                conversions=16,
                conversion_value_minor=200_000,
                new_customers=10,
            ),
            {**daily(cid, "2026-11-11", impressions=5_000), "channel": "meta_ads"},
        ],
    )
    answer = kpis(api, owner, **{"from": "2026-11-01", "to": "2026-11-30", "campaign_id": cid})
    now, before = answer["current"], answer["previous"]
    assert (now["impressions"], now["clicks"], now["spend_minor"]) == (25_000, 400, 50_000)
    assert now["ctr"] == 0.016  # 400 / 25,000
    assert (now["cpc_minor"], now["cpm_minor"], now["cpa_minor"]) == (125.0, 2000.0, 3125.0)
    assert (now["conversion_rate"], now["roas"], now["cac_minor"]) == (0.04, 4.0, 5000.0)
    assert (before["from"], before["to"], before["clicks"], before["cac_minor"]) == (
        "2026-10-02",
        "2026-10-31",
        100,
        None,
    )
    assert answer["change"]["clicks"] == 3.0 and answer["change"]["roas"] == round(4.0 / 3.0 - 1, 6)
    by_channel = kpis(
        api, owner, **{"from": "2026-11-01", "to": "2026-11-30", "campaign_id": cid, "group_by": "channel"}
    )
    groups = {g["channel"]: g for g in by_channel["groups"]}
    assert groups["meta_ads"]["impressions"] == 5000 and groups["meta_ads"]["ctr"] == 0.0
    assert groups["meta_ads"]["cpc_minor"] is None, "no clicks: no cost per click, not infinity"


def test_pacing_uses_the_budget_learnt_from_campaign_events(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    cid = str(uuid.uuid4())
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    publish(
        bus,
        "campaign.created",
        {
            "campaign_id": cid,
            "name": "Paced",
            "objective": "sales",
            "budget_type": "lifetime",
            "total_budget_minor": 100_000,
            "currency": "EUR",
            "channels": [],
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(days=9)).isoformat(),
            "owner_user_id": owner.user_id,
        },
        owner.tenant_id,
    )
    days = [(start + timedelta(days=n)).date().isoformat() for n in range(5)]
    ingest(api, owner, [daily(cid, d, spend_minor=12_000) for d in days])  # 60,000 in 5 of 10 days
    params = {"from": days[0], "to": days[-1], "campaign_id": cid}
    eventually(lambda: kpis(api, owner, **params)["pacing"] is not None)
    assert kpis(api, owner, **params)["pacing"] == 1.2  # 60,000 spent of 50,000 expected by today


def test_a_daily_series_fills_gaps_and_sums_weeks_and_months(api: httpx.Client, owner: Account) -> None:
    cid = str(uuid.uuid4())
    ingest(
        api,
        owner,
        [
            daily(cid, "2026-11-02", clicks=3),
            daily(cid, "2026-11-04", clicks=4),
            daily(cid, "2026-11-09", clicks=10),
            daily(cid, "2026-10-31", clicks=1),
        ],
    )
    window = {"from": "2026-11-01", "to": "2026-11-05", "metric": "clicks", "campaign_id": cid}
    assert series(api, owner, **window) == [
        ("2026-11-01", 0.0),
        ("2026-11-02", 3.0),
        ("2026-11-03", 0.0),
        ("2026-11-04", 4.0),
        ("2026-11-05", 0.0),
    ]
    assert series(api, owner, **{**window, "metric": "ctr"})[1] == ("2026-11-02", None)
    weeks = {"from": "2026-10-26", "to": "2026-11-15", "metric": "clicks", "granularity": "week"}
    assert series(api, owner, **weeks, campaign_id=cid) == [
        ("2026-10-26", 1.0),
        ("2026-11-02", 7.0),
        ("2026-11-09", 10.0),
    ]
    assert series(api, owner, **weeks) == [("2026-10-26", 1.0), ("2026-11-02", 7.0), ("2026-11-09", 10.0)]
    months = {"from": "2026-10-01", "to": "2026-11-30", "metric": "clicks", "granularity": "month"}
    assert series(api, owner, **months) == [("2026-10-01", 1.0), ("2026-11-01", 17.0)]


def test_hourly_rows_land_on_local_days_across_the_dst_change(api: httpx.Client, user_service: str) -> None:
    owner = register_owner(user_service)
    assert api.put(
        "/api/v1/analytics/settings", json={"timezone": "Europe/Berlin"}, headers=owner.auth
    ).json() == {"timezone": "Europe/Berlin"}
    cid = str(uuid.uuid4())
    berlin = ZoneInfo("Europe/Berlin")
    hours = [
        datetime(2026, 3, 28, 22, tzinfo=UTC) + timedelta(hours=n) for n in range(26)
    ]  # 28th 23:00 local ..
    rows = [
        {
            "campaign_id": cid,
            "channel": "meta_ads",
            "hour_start": h.isoformat(),
            "currency": "EUR",
            "clicks": 1,
        }
        for h in hours
    ]
    ingest(api, owner, rows)
    days = series(
        api, owner, **{"from": "2026-03-28", "to": "2026-03-30", "metric": "clicks", "campaign_id": cid}
    )
    # 22:00Z on the 28th is 23:00 there; the 29th has 23 hours (clocks spring forward); 2 on the 30th
    assert days == [("2026-03-28", 1.0), ("2026-03-29", 23.0), ("2026-03-30", 2.0)]
    buckets = series(
        api, owner, **{"from": "2026-03-29", "to": "2026-03-29", "metric": "clicks", "granularity": "hour"}
    )
    assert len(buckets) == 23 and all(value == 1.0 for _, value in buckets)
    assert buckets[1][0] == datetime(2026, 3, 29, 1, tzinfo=berlin).isoformat()
    assert buckets[2][0] == datetime(2026, 3, 29, 3, tzinfo=berlin).isoformat(), (
        "02:00 does not exist that night"
    )

    assert (
        api.put("/api/v1/analytics/settings", json={"timezone": "UTC"}, headers=owner.auth).status_code == 200
    )
    utc_days = series(
        api, owner, **{"from": "2026-03-28", "to": "2026-03-30", "metric": "clicks", "campaign_id": cid}
    )
    assert utc_days == [("2026-03-28", 2.0), ("2026-03-29", 24.0), ("2026-03-30", 0.0)], (
        "rebuilt for the new zone"
    )
    bad = api.put("/api/v1/analytics/settings", json={"timezone": "Mars/Olympus"}, headers=owner.auth)
    assert bad.status_code == 422 and "unknown time zone" in bad.text


def test_breakdowns_and_top_n(api: httpx.Client, user_service: str) -> None:
    owner = register_owner(user_service)
    spends = {str(uuid.uuid4()): s for s in (300, 100, 900, 500)}
    ingest(api, owner, [daily(c, "2026-11-12", spend_minor=s, clicks=1) for c, s in spends.items()])
    answer = api.get(
        "/api/v1/analytics/breakdown",
        params={
            "by": "campaign",
            "metric": "spend_minor",
            "top": 2,
            "from": "2026-11-01",
            "to": "2026-11-30",
        },
        headers=owner.auth,
    ).json()
    assert [r["spend_minor"] for r in answer["rows"]] == [900, 500]
    assert answer["rows"][0]["campaign_id"] == next(c for c, s in spends.items() if s == 900)


# --- rollups equal the raw sums, for random data ------------------------------------------------

CHANNELS = ("google_ads", "meta_ads", "linkedin_ads", "email")
raw_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # campaign
        st.sampled_from(CHANNELS),
        st.integers(0, 55),  # a day of 2026-10-01 .. 2026-11-25
        st.one_of(st.none(), st.integers(0, 23)),  # daily, or hourly at this hour (UTC)
        st.integers(0, 5_000),
        st.integers(0, 300),
        st.integers(0, 90_000),
    ),
    min_size=1,
    max_size=40,
)


class Truth:
    """What the tenant's numbers must be: the latest value of every row key sent so far."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.campaigns = [str(uuid.uuid4()) for _ in range(3)]
        self.rows: dict[tuple[Any, ...], tuple[int, int, int]] = {}

    def batch(self, drawn: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        sent: dict[tuple[Any, ...], dict[str, Any]] = {}
        for campaign, channel, day_index, hour, impressions, clicks, spend in drawn:
            day = date(2026, 10, 1) + timedelta(days=day_index)
            source = "hourly" if hour is not None else "daily"  # one kind per source and day
            when = (
                {"date": day.isoformat()}
                if hour is None
                else {"hour_start": datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()}
            )
            key = (self.campaigns[campaign], channel, source, day, hour)
            sent[key] = {
                "campaign_id": self.campaigns[campaign],
                "channel": channel,
                "source": source,
                **when,
                "currency": "EUR",
                "impressions": impressions,
                "clicks": clicks,
                "spend_minor": spend,
            }
            self.rows[key] = (impressions, clicks, spend)
        return list(sent.values())

    def days(self, campaign: str | None = None) -> dict[date, tuple[int, int, int]]:
        sums: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
        for (c, _, _, day, _), values in self.rows.items():
            if campaign in (None, c):
                for i, v in enumerate(values):
                    sums[day][i] += v
        return {day: (s[0], s[1], s[2]) for day, s in sums.items()}


def test_rollups_equal_the_raw_sums_for_random_batches(api: httpx.Client, user_service: str) -> None:
    truth = Truth(register_owner(user_service))
    window = {"from": "2026-10-01", "to": "2026-11-29"}

    @given(raw_rows)
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(drawn: list[tuple[Any, ...]]) -> None:
        ingest(api, truth.account, truth.batch(drawn))
        expected = truth.days()
        total = kpis(api, truth.account, **window)["current"]
        assert (total["impressions"], total["clicks"], total["spend_minor"]) == tuple(
            sum(v[i] for v in expected.values()) for i in range(3)
        )
        for campaign in truth.campaigns:
            mine = truth.days(campaign)
            points = (
                dict(series(api, truth.account, **window, metric="spend_minor", campaign_id=campaign))
                if mine
                else {}
            )
            assert {d: v for d, v in points.items() if v} == {
                d.isoformat(): float(s[2]) for d, s in mine.items() if s[2]
            }
        months = dict(series(api, truth.account, **window, metric="clicks", granularity="month"))
        assert months == {
            m: float(sum(v[1] for d, v in expected.items() if d.isoformat()[:7] == m[:7]))
            for m in ("2026-10-01", "2026-11-01")
        }

    check()


def test_days_outside_the_calendar_and_backward_ranges_are_422(api: httpx.Client, owner: Account) -> None:
    for params in ({"to": "0001-01-01"}, {"from": "9999-12-31"}, {"from": "2026-03-02", "to": "2026-03-01"}):
        for path in ("/api/v1/analytics/kpis", f"/api/v1/analytics/campaigns/{uuid.uuid4()}/performance"):
            answer = api.get(path, params=params, headers=owner.auth)
            assert_problem(answer, 422, "invalid-range")
