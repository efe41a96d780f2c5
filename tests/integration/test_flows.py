"""Flows 2 and 3 across real processes: a launched campaign created once on each platform (even
when the event comes twice), a sync whose rows land in analytics, incremental windows, provider
rate limits and outages, one token refresh for two concurrent users of the token, and a replica
killed mid-sync whose sync another resumes from its checkpoint."""

from __future__ import annotations

import os
import random
import signal
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis

from tests.integration.conftest import Fleet
from tests.support.bus import publish, wait_for
from tests.support.kit import Account, assert_problem, eventually

GOOGLE_TOKENS = {"access_token": "fake-google-access-token", "refresh_token": "fake-google-refresh-token"}
TODAY = datetime.now(UTC).date()


def fake(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=10)


def seed(url: str, body: dict[str, Any]) -> None:
    with fake(url) as client:
        assert client.post("/_fake/seed", json=body).status_code == 200


def fake_state(url: str) -> dict[str, Any]:
    with fake(url) as client:
        return client.get("/_fake/state", params={"include_metrics": "false"}).json()


def new_account(url: str, digits: int = 10) -> str:
    account = str(random.randrange(10 ** (digits - 1), 10**digits))
    seed(url, {"accounts": [{"id": account, "name": f"Account {account}", "currency": "EUR"}]})
    return account


def connect(
    api: httpx.Client, owner: Account, provider: str, account: str, **credentials: Any
) -> dict[str, Any]:
    answer = api.post(
        "/api/v1/integrations/connections",
        json={"provider": provider, "name": provider, "account_id": account, "credentials": credentials},
        headers=owner.auth,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def finished_sync(api: httpx.Client, owner: Account, sync_id: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        sync = api.get(f"/api/v1/integrations/syncs/{sync_id}", headers=owner.auth).json()
        return sync if sync["status"] in ("succeeded", "failed") else None

    return eventually(done, timeout=timeout)


def request_sync(api: httpx.Client, owner: Account, connection_id: str, **window: str) -> dict[str, Any]:
    answer = api.post(
        f"/api/v1/integrations/connections/{connection_id}/sync", json=window, headers=owner.auth
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def launched(campaign_id: str, owner: Account, *channels: str) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": "Winter sale",
        "objective": "sales",
        "start_at": None,
        "end_at": None,
        "channels": [{"channel": c, "budget_minor": 5_000, "currency": "EUR"} for c in channels],
        "targeting": {},
        "owner_user_id": owner.user_id,
        "budget_type": "daily",
        "total_budget_minor": 5_000 * len(channels),
        "currency": "EUR",
    }


def executions(
    bus: redis.Redis, campaign_id: str, count: int, status: str = "running"
) -> list[dict[str, Any]]:
    return wait_for(
        bus,
        "integration",
        "execution.updated",
        lambda e: e["data"]["campaign_id"] == campaign_id and e["data"]["status"] == status,
        count=count,
        timeout=30,
    )


def stamped(url: str, campaign_id: str) -> list[dict[str, Any]]:
    return [c for c in fake_state(url)["campaigns"] if f"bz:{campaign_id}" in c["name"]]


def test_a_launch_twice_creates_one_campaign_per_platform_and_its_sync_lands_in_analytics(
    api: httpx.Client, owner: Account, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    fakes = integration_fleet.fakes
    google_account, meta_account = new_account(fakes.google.url), new_account(fakes.meta.url, 16)
    google = connect(api, owner, "google_ads", google_account, **GOOGLE_TOKENS)
    connect(api, owner, "meta_ads", meta_account, access_token="fake-meta-access-token")
    campaign_id = str(uuid.uuid4())
    data = launched(campaign_id, owner, "google_ads", "meta_ads", "email")
    publish(bus, "campaign.launched", data, owner.tenant_id)
    publish(bus, "campaign.launched", data, owner.tenant_id)  # the producer sent it again

    reports = executions(bus, campaign_id, count=4)
    assert {e["data"]["channel"] for e in reports} == {"google_ads", "meta_ads"}
    assert len(stamped(fakes.google.url, campaign_id)) == 1
    assert len(stamped(fakes.meta.url, campaign_id)) == 1
    external = next(e["data"]["external_id"] for e in reports if e["data"]["channel"] == "google_ads")

    days = [TODAY - timedelta(days=n) for n in (20, 19, 18)]
    seed(
        fakes.google.url,
        {
            "metrics": [
                {
                    "account_id": google_account,
                    "campaign_id": external,
                    "date": d.isoformat(),
                    "impressions": 1000,
                    "clicks": 50,
                    "cost": "12.50",
                    "conversions": 2,
                    "conversion_value": "80.00",
                }
                for d in days
            ]
        },
    )
    sync = request_sync(api, owner, google["id"], **{"from": days[0].isoformat(), "to": days[-1].isoformat()})
    assert sync["status_url"] == f"/api/v1/integrations/syncs/{sync['id']}"
    done = finished_sync(api, owner, sync["id"])
    assert (done["status"], done["rows"], done["checkpoint"]) == ("succeeded", 3, days[-1].isoformat())

    params = {"campaign_id": campaign_id, "from": days[0].isoformat(), "to": days[-1].isoformat()}

    def in_analytics() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{integration_fleet.analytics}/api/v1/analytics/kpis", params=params, headers=owner.auth
        )
        current = answer.json().get("current", {}) if answer.status_code == 200 else {}
        return current if current.get("impressions") == 3000 else None

    figures = eventually(in_analytics, timeout=30)
    assert (figures["clicks"], figures["spend_minor"], figures["conversion_value_minor"]) == (
        150,
        3750,
        24_000,
    )

    again = request_sync(api, owner, google["id"])  # incremental: 14 trailing days before what is synced
    assert (again["window_from"], again["window_to"]) == (
        (days[-1] + timedelta(days=1) - timedelta(days=14)).isoformat(),
        (TODAY - timedelta(days=1)).isoformat(),
    )
    assert finished_sync(api, owner, again["id"])["status"] == "succeeded"


def test_pause_and_budget_reach_the_platform(
    api: httpx.Client, owner: Account, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    url = integration_fleet.fakes.google.url
    connect(api, owner, "google_ads", new_account(url), **GOOGLE_TOKENS)
    campaign_id = str(uuid.uuid4())
    publish(bus, "campaign.launched", launched(campaign_id, owner, "google_ads"), owner.tenant_id)
    executions(bus, campaign_id, count=1)
    publish(
        bus,
        "campaign.budget_changed",
        {
            "campaign_id": campaign_id,
            "budgets": [{"channel": "google_ads", "budget_minor": 7_500}],
            "currency": "EUR",
            "total_budget_minor": 7_500,
            "reason": "test",
        },
        owner.tenant_id,
    )
    moved = wait_for(
        bus,
        "integration",
        "execution.updated",
        lambda e: e["data"]["campaign_id"] == campaign_id and e["data"]["budget_minor"] == 7_500,
    )
    assert moved[0]["data"]["status"] == "running"
    publish(
        bus,
        "campaign.paused",
        {"campaign_id": campaign_id, "channels": [], "reason": "test"},
        owner.tenant_id,
    )
    executions(bus, campaign_id, count=1, status="stopped")
    (campaign,) = stamped(url, campaign_id)
    assert (campaign["status"], campaign["daily_budget"]) == ("PAUSED", 75.0)


def test_a_launch_without_a_connection_is_reported_failed(
    owner: Account, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    campaign_id = str(uuid.uuid4())
    publish(bus, "campaign.launched", launched(campaign_id, owner, "linkedin_ads"), owner.tenant_id)
    (report,) = executions(bus, campaign_id, count=1, status="failed")
    assert "no active linkedin_ads connection" in report["data"]["error"]


def test_a_rate_limit_storm_is_waited_out_and_an_outage_requeues_the_sync(
    api: httpx.Client, owner: Account, integration_fleet: Fleet
) -> None:
    url = integration_fleet.fakes.google.url
    account = new_account(url)
    connection = connect(api, owner, "google_ads", account, **GOOGLE_TOKENS)
    prefix = f"/v18/customers/{account}/"
    with fake(url) as control:
        control.post("/_fake/fail", json={"path_prefix": prefix, "status": 429, "count": 3, "retry_after": 0})
    window = {"from": (TODAY - timedelta(days=5)).isoformat(), "to": (TODAY - timedelta(days=1)).isoformat()}
    stormy = finished_sync(api, owner, request_sync(api, owner, connection["id"], **window)["id"])
    assert (stormy["status"], stormy["attempts"]) == ("succeeded", 1)  # retried inside the call

    with fake(url) as control:  # longer than retries and one breaker opening: the sync is requeued
        control.post("/_fake/fail", json={"path_prefix": prefix, "status": 503, "count": 12})
    down = request_sync(api, owner, connection["id"], **window)
    errors_seen: list[str] = []

    def recovered() -> dict[str, Any] | None:
        sync = api.get(f"/api/v1/integrations/syncs/{down['id']}", headers=owner.auth).json()
        if sync["error"]:
            errors_seen.append(sync["error"])
        return sync if sync["status"] == "succeeded" else None

    done = eventually(recovered, timeout=90)
    assert done["attempts"] >= 2 and done["error"] is None, done
    # The error stays visible while the sync waits to retry (a retry may win the race to a poll).
    assert all(e.startswith("unavailable: google_ads") for e in errors_seen), errors_seen


def test_two_replicas_refresh_an_expiring_token_once(
    api: httpx.Client, owner: Account, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    url = integration_fleet.fakes.google.url
    account = new_account(url)
    connection = connect(api, owner, "google_ads", account, **GOOGLE_TOKENS, expires_in=1)
    before = fake_state(url)["requests"].get("POST /token", 0)
    campaign_id = str(uuid.uuid4())
    window = {"from": (TODAY - timedelta(days=3)).isoformat(), "to": (TODAY - timedelta(days=1)).isoformat()}
    publish(bus, "campaign.launched", launched(campaign_id, owner, "google_ads"), owner.tenant_id)
    with httpx.Client(base_url=integration_fleet.urls[1], timeout=30) as other:
        sync = request_sync(other, owner, connection["id"], **window)
    executions(bus, campaign_id, count=1)
    assert finished_sync(api, owner, sync["id"])["status"] == "succeeded"
    assert fake_state(url)["requests"].get("POST /token", 0) - before == 1
    refreshed = api.get(f"/api/v1/integrations/connections/{connection['id']}", headers=owner.auth).json()
    expires = datetime.fromisoformat(refreshed["token_expires_at"])
    assert expires > datetime.now(UTC) + timedelta(minutes=30)


def test_a_refused_refresh_needs_reauth_and_says_so(
    api: httpx.Client, owner: Account, integration_fleet: Fleet, bus: redis.Redis
) -> None:
    url = integration_fleet.fakes.google.url
    connection = connect(
        api,
        owner,
        "google_ads",
        new_account(url),
        access_token="stale",
        refresh_token="revoked-long-ago",
        expires_in=1,
    )
    sync = finished_sync(api, owner, request_sync(api, owner, connection["id"])["id"])
    assert sync["status"] == "failed"
    after = api.get(f"/api/v1/integrations/connections/{connection['id']}", headers=owner.auth).json()
    assert after["status"] == "needs_reauth"
    (failed,) = wait_for(
        bus,
        "integration",
        "integration.sync_failed",
        lambda e: e["data"]["connection_id"] == connection["id"] and e["data"]["sync_id"] is None,
    )
    assert failed["data"]["needs_reauth"] is True
    assert_problem(
        api.post(f"/api/v1/integrations/connections/{connection['id']}/sync", headers=owner.auth), 409
    )
    fixed = api.patch(
        f"/api/v1/integrations/connections/{connection['id']}",
        json={"credentials": GOOGLE_TOKENS},
        headers=owner.auth,
    ).json()
    assert fixed["status"] == "active"


def test_a_replica_killed_mid_sync_is_resumed_from_its_checkpoint(
    api: httpx.Client, owner: Account, integration_fleet: Fleet
) -> None:
    url = integration_fleet.fakes.google.url
    account = new_account(url)
    connection = connect(api, owner, "google_ads", account, **GOOGLE_TOKENS)
    first = TODAY - timedelta(days=40)
    campaign = str(random.randrange(10**8, 10**9))
    seed(
        url,
        {
            "metrics": [
                {
                    "account_id": account,
                    "campaign_id": campaign,
                    "date": (first + timedelta(days=n)).isoformat(),
                    "impressions": 100 + n,
                    "clicks": 1,
                    "cost": "1.00",
                }
                for n in range(40)
            ]
        },
    )
    stream = f"POST /v18/customers/{account}/googleAds:searchStream"
    with fake(url) as control:  # each page (10 days) takes a second: time to kill the runner mid-sync
        control.post("/_fake/delay", json={"path_prefix": f"/v18/customers/{account}/", "seconds": 1.0})
    window = {"from": first.isoformat(), "to": (first + timedelta(days=39)).isoformat()}
    sync = request_sync(api, owner, connection["id"], **window)

    def after_first_page() -> dict[str, Any] | None:
        found = api.get(f"/api/v1/integrations/syncs/{sync['id']}", headers=owner.auth).json()
        return found if found["pages"] >= 1 and found["status"] == "running" else None

    running = eventually(after_first_page, timeout=30)
    pid = int(running["runner"].rsplit(":", 1)[1])
    pids = [replica.processes[0].process.pid for replica in integration_fleet.replicas]
    assert pid in pids
    survivor = integration_fleet.urls[1 - pids.index(pid)]
    os.kill(pid, signal.SIGKILL)
    try:
        with httpx.Client(base_url=survivor, timeout=30) as other:
            done = finished_sync(other, owner, sync["id"], timeout=60)
    finally:
        with fake(url) as control:
            control.post("/_fake/delay", json={"seconds": 0})
        for replica in integration_fleet.replicas:  # the killed one restarts, as under the dev stack
            replica.wait_ready(timeout=60, on_news=lambda _: None)
    assert (done["status"], done["rows"], done["pages"]) == ("succeeded", 40, 4)
    assert done["attempts"] == 2 and done["runner"] != running["runner"]
    assert (
        fake_state(url)["requests"][stream] <= 4 + 1
    )  # the pages before the checkpoint were not pulled again
    with httpx.Client(base_url=integration_fleet.url) as client:
        client.get("/health")
