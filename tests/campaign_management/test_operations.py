"""What comes back from the platforms and analytics: executions filled from integration's
`execution.updated`, the owner told through notification (and an outage of it delaying, not losing,
the notice), and performance read from analytics with the last figures kept for its outages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import redis

from shared.events.catalog import stream_of
from shared.events.envelope import Event
from tests.campaign_management.conftest import Fleet
from tests.campaign_management.factory import create, running_campaign
from tests.support.bus import publish
from tests.support.kit import Account, assert_problem, eventually


@pytest.fixture
def peers(campaigns_fleet: Fleet) -> Iterator[Any]:
    """The stand-ins, put back to healthy after each test."""
    yield campaigns_fleet.peers
    campaigns_fleet.peers.analytics_down = False
    campaigns_fleet.peers.notification_status = 201


def report(
    bus: redis.Redis, account: Account, campaign_id: str, channel: str, status: str, **extra: Any
) -> None:
    data = {"campaign_id": campaign_id, "channel": channel, "status": status, "external_id": None, **extra}
    publish(bus, "execution.updated", data, account.tenant_id)


def executions(api: httpx.Client, account: Account, campaign_id: str) -> dict[str, dict[str, Any]]:
    answer = api.get(f"/api/v1/campaigns/{campaign_id}/executions", headers=account.auth)
    assert answer.status_code == 200, answer.text
    return {e["channel"]: e for e in answer.json()}


def notices_for(peers: Any, campaign_id: str) -> list[dict[str, Any]]:
    return [r for r in peers.seen("/api/v1/notifications") if r["body"]["data"]["campaign_id"] == campaign_id]


def test_executions_are_filled_from_integration_reports(
    api: httpx.Client, owner: Account, bus: redis.Redis, peers: Any
) -> None:
    campaign = running_campaign(api, bus, owner)
    cid = campaign["id"]
    assert executions(api, owner, cid) == {}
    report(bus, owner, cid, "google_ads", "pending")
    report(bus, owner, cid, "email", "running", external_id="mautic-campaign-7")
    eventually(lambda: len(executions(api, owner, cid)) == 2)
    report(bus, owner, cid, "google_ads", "running", external_id="customers/123/campaigns/456")
    found = eventually(
        lambda: (e := executions(api, owner, cid)) and e["google_ads"]["status"] == "running" and e
    )
    assert found["google_ads"]["external_id"] == "customers/123/campaigns/456"
    assert found["email"]["external_id"] == "mautic-campaign-7"
    report(bus, owner, cid, "google_ads", "failed", error="CAMPAIGN_ERROR_BUDGET_TOO_LOW")
    failed = eventually(
        lambda: (e := executions(api, owner, cid)) and e["google_ads"]["status"] == "failed" and e
    )
    assert failed["google_ads"]["error"] == "CAMPAIGN_ERROR_BUDGET_TOO_LOW"
    assert failed["google_ads"]["external_id"] == "customers/123/campaigns/456"  # kept when not reported

    # Each change of state reaches the owner once, as this service, in the owner's tenant.
    sent = eventually(lambda: (n := notices_for(peers, cid)) and len(n) == 4 and n)
    name = campaign["name"]
    subjects = {n["body"]["subject"]: n["body"]["body"] for n in sent}
    assert sorted(subjects) == sorted(
        [
            f"“{name}” is being set up on google ads",
            f"“{name}” is live on email",
            f"“{name}” is live on google ads",
            f"“{name}” could not run on google ads",
        ]
    )
    assert "CAMPAIGN_ERROR_BUDGET_TOO_LOW" in subjects[f"“{name}” could not run on google ads"]
    assert {n["body"]["user_id"] for n in sent} == {owner.user_id}
    assert len({n["headers"]["Idempotency-Key"] for n in sent}) == 4
    for request in sent:
        assert request["headers"]["X-Tenant-ID"] == owner.tenant_id
        claims = jwt.decode(
            request["headers"]["Authorization"].split()[1], options={"verify_signature": False}
        )
        assert claims["typ"] == "service" and "notifications:send" in claims["scope"].split()


def test_a_late_redelivery_does_not_turn_the_clock_back(
    api: httpx.Client, owner: Account, bus: redis.Redis, peers: Any
) -> None:
    campaign = running_campaign(api, bus, owner)
    cid = campaign["id"]
    older = Event(
        type="execution.updated",
        tenant_id=owner.tenant_id,
        producer="integration",
        occurred_at=datetime.now(UTC) - timedelta(minutes=5),
        data={"campaign_id": cid, "channel": "google_ads", "status": "pending", "external_id": None},
    )
    report(bus, owner, cid, "google_ads", "running", external_id="c-1")
    eventually(lambda: executions(api, owner, cid).get("google_ads", {}).get("status") == "running")
    bus.xadd(stream_of("integration"), {"event": older.to_json()})
    report(bus, owner, cid, "email", "running")  # a marker after the stale report
    eventually(lambda: "email" in executions(api, owner, cid))
    assert executions(api, owner, cid)["google_ads"]["status"] == "running"


def test_a_notification_outage_delays_the_notice_and_loses_nothing(
    api: httpx.Client, owner: Account, bus: redis.Redis, peers: Any
) -> None:
    campaign = running_campaign(api, bus, owner)
    cid = campaign["id"]
    peers.notification_status = 503
    report(bus, owner, cid, "google_ads", "failed", error="account suspended")
    eventually(lambda: len(notices_for(peers, cid)) >= 2)  # tried, refused, tried again
    assert executions(api, owner, cid)["google_ads"]["status"] == "failed"  # recorded regardless
    peers.notification_status = 201
    eventually(lambda: any(t["status"] == 201 for t in notices_for(peers, cid)), timeout=20)
    time.sleep(1.0)  # several more ticks of both replicas
    tries = notices_for(peers, cid)
    assert [t["status"] for t in tries][-1] == 201 and [t["status"] for t in tries].count(201) == 1
    assert len({t["headers"]["Idempotency-Key"] for t in tries}) == 1, "one notice, one key, every try"


def test_performance_comes_from_analytics_and_survives_its_outage(
    api: httpx.Client, owner: Account, bus: redis.Redis, peers: Any
) -> None:
    campaign = create(api, owner)
    path = f"/api/v1/campaigns/{campaign['id']}/performance"
    nothing_yet = api.get(path, headers=owner.auth).json()
    assert nothing_yet["figures"]["totals"] == {} and nothing_yet["stale"] is False
    figures = {
        "totals": {"impressions": 1000, "clicks": 50, "spend_minor": 2500, "ctr": 0.05, "cpc_minor": 50},
        "channels": [{"channel": "google_ads", "impressions": 1000}],
        "days": [{"date": "2026-11-25", "impressions": 1000}],
        "last_synced_at": "2026-11-25T23:00:00+00:00",
    }
    peers.performance[campaign["id"]] = figures
    live = api.get(path, headers=owner.auth)
    assert live.status_code == 200, live.text
    assert live.json()["figures"] == figures and live.json()["stale"] is False
    [request] = [r for r in peers.seen(f"/api/v1/analytics/campaigns/{campaign['id']}")][-1:]
    assert request["headers"]["X-Tenant-ID"] == owner.tenant_id
    claims = jwt.decode(request["headers"]["Authorization"].split()[1], options={"verify_signature": False})
    assert "analytics:read" in claims["scope"].split()

    peers.analytics_down = True
    stale = api.get(path, headers=owner.auth).json()
    assert stale["stale"] is True and stale["figures"] == figures
    assert stale["fetched_at"] == live.json()["fetched_at"]
    windowed = api.get(path, params={"from": "2026-11-01", "to": "2026-11-30"}, headers=owner.auth)
    problem = assert_problem(windowed, 503)
    assert windowed.headers["retry-after"] == "5" and "analytics is unavailable" in problem["detail"]
    peers.analytics_down = False  # back once its circuit lets a trial call through (1 s here)
    fresh = eventually(
        lambda: (a := api.get(path, params={"from": "2026-11-01"}, headers=owner.auth)).is_success and a
    )
    assert fresh.json()["stale"] is False
    assert peers.seen(f"/api/v1/analytics/campaigns/{campaign['id']}")[-1]["query"] == {"from": "2026-11-01"}
