"""Alerts against the real process: `kpi.alert` once per breach (not once per ingest), again
only after the KPI recovered and breached anew; anomalies once per day; pacing from the budget."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import redis

from tests.analytics.test_ingestion import daily, ingest
from tests.support.bus import events, publish, wait_for
from tests.support.kit import Account, assert_problem, eventually


def rule(api: httpx.Client, account: Account, **fields: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/analytics/alerts", json={"name": "r", **fields}, headers=account.auth)
    assert answer.status_code == 201, answer.text
    return answer.json()


def alerts_of(bus: redis.Redis, rule_id: str) -> list[dict[str, Any]]:
    return [e for e in events(bus, "analytics", "kpi.alert") if e["data"]["rule_id"] == rule_id]


def settle() -> None:
    """Several evaluator ticks (0.2 s each here): whatever would fire has fired."""
    time.sleep(1.0)


def test_a_threshold_fires_once_per_breach(api: httpx.Client, owner: Account, bus: redis.Redis) -> None:
    cid = str(uuid.uuid4())
    cpa = rule(
        api,
        owner,
        kind="threshold",
        metric="cpa_minor",
        operator="above",
        threshold=5_000,
        window_days=7,
        campaign_id=cid,
    )
    ingest(api, owner, [daily(cid, "2026-11-10", spend_minor=8_000, conversions=1)])  # CPA 8,000
    [first] = wait_for(bus, "analytics", "kpi.alert", lambda e: e["data"]["rule_id"] == cpa["id"])
    assert first["data"] | {"alert_id": None} == {
        "alert_id": None,
        "rule_id": cpa["id"],
        "rule_name": "r",
        "rule": "threshold",
        "campaign_id": cid,
        "channel": None,
        "kpi": "cpa_minor",
        "value": 8000.0,
        "threshold": 5000.0,
        "baseline": None,
        "day": "2026-11-10",
    }
    ingest(api, owner, [daily(cid, "2026-11-11", spend_minor=9_000, conversions=1)])  # still breached
    settle()
    assert len(alerts_of(bus, cpa["id"])) == 1, "not once per ingest"
    ingest(
        api, owner, [daily(cid, "2026-11-11", spend_minor=1_000, conversions=10)]
    )  # 9,000 / 11: fine again
    settle()
    ingest(api, owner, [daily(cid, "2026-11-12", spend_minor=60_000, conversions=1)])  # breached anew
    eventually(lambda: len(alerts_of(bus, cpa["id"])) == 2)
    fired = api.get("/api/v1/analytics/alerts/fired", headers=owner.auth).json()
    assert [a["value"] for a in fired if a["rule_id"] == cpa["id"]] == [5750.0, 8000.0]


def test_an_anomaly_fires_once_for_its_day(api: httpx.Client, owner: Account, bus: redis.Redis) -> None:
    cid = str(uuid.uuid4())
    spike = rule(api, owner, kind="anomaly", metric="clicks", sigmas=3, campaign_id=cid)
    start = date(2026, 10, 1)
    history = [100, 104, 98, 101, 99, 103, 97, 100, 102, 98, 101, 99, 100, 102]
    ingest(
        api,
        owner,
        [daily(cid, (start + timedelta(days=n)).isoformat(), clicks=c) for n, c in enumerate(history)],
    )
    ingest(api, owner, [daily(cid, "2026-10-15", clicks=101)])
    settle()
    assert alerts_of(bus, spike["id"]) == [], "an ordinary day"
    ingest(api, owner, [daily(cid, "2026-10-16", clicks=400)])
    [alert] = wait_for(bus, "analytics", "kpi.alert", lambda e: e["data"]["rule_id"] == spike["id"])
    assert alert["data"]["day"] == "2026-10-16" and alert["data"]["baseline"]["score"] > 3
    ingest(api, owner, [daily(cid, "2026-10-16", clicks=401, impressions=5)])  # the same day, still odd
    settle()
    assert len(alerts_of(bus, spike["id"])) == 1


def test_pacing_above_110_percent(api: httpx.Client, owner: Account, bus: redis.Redis) -> None:
    cid = str(uuid.uuid4())
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    publish(
        bus,
        "campaign.launched",
        {
            "campaign_id": cid,
            "name": "Fast spender",
            "channels": [],
            "targeting": {},
            "owner_user_id": owner.user_id,
            "budget_type": "daily",
            "total_budget_minor": 1_000,
            "currency": "EUR",
            "start_at": start.isoformat(),
            "end_at": None,
        },
        owner.tenant_id,
    )
    pace = rule(api, owner, kind="threshold", metric="pacing", operator="above", threshold=1.1)
    eventually(
        lambda: (
            api.get("/api/v1/analytics/kpis", params={"campaign_id": cid}, headers=owner.auth).status_code
            == 200
        )
    )
    ingest(
        api, owner, [daily(cid, start.date().isoformat(), spend_minor=2_500)]
    )  # 2,500 of 2,000 in two days
    [alert] = wait_for(bus, "analytics", "kpi.alert", lambda e: e["data"]["rule_id"] == pace["id"])
    assert alert["data"]["value"] == 1.25 and alert["data"]["campaign_id"] == cid


def test_rules_are_validated(api: httpx.Client, owner: Account) -> None:
    for body in (
        {"name": "x", "kind": "threshold", "metric": "ctr"},  # no threshold
        {"name": "x", "kind": "anomaly", "metric": "pacing"},
        {"name": "x", "kind": "threshold", "metric": "bounce_rate", "threshold": 1},
        {"name": "x", "kind": "threshold", "metric": "ctr", "threshold": 1, "window_days": 0},
        {"name": "x", "kind": "threshold", "metric": "ctr", "threshold": False},
    ):
        assert_problem(api.post("/api/v1/analytics/alerts", json=body, headers=owner.auth), 422)
    made = rule(api, owner, kind="threshold", metric="ctr", operator="below", threshold=0.01)
    path = f"/api/v1/analytics/alerts/{made['id']}"
    assert api.patch(path, json={"enabled": False}, headers=owner.auth).json()["enabled"] is False
    assert_problem(api.patch(path, json={"threshold": None}, headers=owner.auth), 422)
    assert api.delete(path, headers=owner.auth).status_code == 204
    assert_problem(api.get(path, headers=owner.auth), 404)
