"""The lifecycle over HTTP against two real processes: launch validation, illegal moves as 409,
the history, the events, and the scheduler acting exactly once with both replicas running."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import redis

from tests.campaign_management.conftest import Fleet
from tests.campaign_management.factory import connect, create, launch, running_campaign
from tests.support.bus import events, publish, wait_for
from tests.support.kit import Account, assert_problem, eventually


def test_launch_is_refused_with_every_reason_at_once(api: httpx.Client, owner: Account) -> None:
    past = datetime.now(UTC) - timedelta(days=3)
    campaign = create(
        api,
        owner,
        channels=[{"channel": "meta_ads", "budget_minor": 500}, {"channel": "email", "budget_minor": 0}],
        total_budget_minor=1_000,
        start_at=(past - timedelta(days=1)).isoformat(),
        end_at=past.isoformat(),
    )
    answer = api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=owner.auth)
    problem = assert_problem(answer, 422)
    reasons = " | ".join(e["msg"] for e in problem["errors"])
    assert "budget above zero" in reasons
    assert "add up to 500, not 1000" in reasons
    assert "end lies in the past" in reasons
    assert "meta_ads has no active connection" in reasons
    stored = api.get(f"/api/v1/campaigns/{campaign['id']}", headers=owner.auth).json()
    assert (stored["status"], stored["version"]) == ("draft", 1)


def test_a_connection_lost_to_reauthorisation_blocks_the_next_launch(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    connect(bus, owner, "linkedin_ads")
    first = create(api, owner, channels=[{"channel": "linkedin_ads", "budget_minor": 100}])
    launch(api, owner, first["id"])
    [connected] = [
        e for e in events(bus, "integration", "integration.connected") if e["tenant_id"] == owner.tenant_id
    ]
    publish(
        bus,
        "integration.sync_failed",
        {
            "connection_id": connected["data"]["connection_id"],
            "provider": "linkedin_ads",
            "sync_id": connected["id"],
            "error": "token revoked",
            "needs_reauth": True,
        },
        owner.tenant_id,
    )

    def refused() -> bool:  # a fresh draft each try: a try before the news arrived just launches
        later = create(api, owner, channels=[{"channel": "linkedin_ads", "budget_minor": 100}])
        answer = api.post(f"/api/v1/campaigns/{later['id']}/launch", headers=owner.auth)
        assert answer.status_code in (200, 422), answer.text
        return answer.status_code == 422 and "linkedin_ads has no active connection" in answer.text

    eventually(refused)


def test_illegal_moves_are_409_naming_the_state_and_the_moves_left(api: httpx.Client, owner: Account) -> None:
    campaign = create(api, owner, channels=[{"channel": "email", "budget_minor": 100}])
    path = f"/api/v1/campaigns/{campaign['id']}"
    for action in ("pause", "resume", "complete"):
        problem = assert_problem(api.post(f"{path}/{action}", headers=owner.auth), 409)
        assert problem["current_status"] == "draft"
        assert problem["allowed_actions"] == ["launch", "archive"]
        assert f"cannot {action} a draft campaign" in problem["detail"]
    assert api.post(f"{path}/archive", headers=owner.auth).json()["status"] == "archived"
    problem = assert_problem(api.post(f"{path}/launch", headers=owner.auth), 409)
    assert (problem["current_status"], problem["allowed_actions"]) == ("archived", [])


def test_every_move_is_recorded_and_announced(api: httpx.Client, owner: Account, bus: redis.Redis) -> None:
    campaign = running_campaign(api, bus, owner)
    assert campaign["status"] == "active"
    path = f"/api/v1/campaigns/{campaign['id']}"
    paused = api.post(f"{path}/pause", json={"reason": "stock ran out"}, headers=owner.auth)
    assert (paused.json()["status"], paused.headers["etag"]) == ("paused", '"3"')
    assert api.post(f"{path}/resume", headers=owner.auth).json()["status"] == "active"
    completed = api.post(f"{path}/complete", headers=owner.auth).json()
    assert completed["status"] == "completed" and completed["allowed_actions"] == ["archive"]
    assert_problem(api.post(f"{path}/resume", headers=owner.auth), 409)  # completed never runs again

    history = api.get(f"{path}/history", headers=owner.auth).json()
    moves = [(h["from_status"], h["to_status"], h["actor"], h["reason"]) for h in history]
    assert moves == [
        ("draft", "active", owner.user_id, None),
        ("active", "paused", owner.user_id, "stock ran out"),
        ("paused", "active", owner.user_id, None),
        ("active", "completed", owner.user_id, None),
    ]
    mine = lambda e: e["data"]["campaign_id"] == campaign["id"]  # noqa: E731
    [launched, resumed] = wait_for(bus, "campaign_management", "campaign.launched", mine, count=2)
    assert launched["data"]["channels"] == [
        {"channel": "google_ads", "budget_minor": 60_000, "currency": "EUR"},
        {"channel": "email", "budget_minor": 40_000, "currency": "EUR"},
    ]
    assert launched["data"]["owner_user_id"] == owner.user_id and resumed["id"] != launched["id"]
    [pause] = wait_for(bus, "campaign_management", "campaign.paused", mine)
    assert pause["data"]["reason"] == "stock ran out"
    wait_for(bus, "campaign_management", "campaign.completed", mine)


def test_launch_ahead_of_the_start_schedules_and_the_scheduler_acts_exactly_once(
    api: httpx.Client, campaigns_fleet: Fleet, owner: Account, bus: redis.Redis
) -> None:
    """Both replicas run the scheduler every 0.2 s; the start and the end each happen once."""
    start = datetime.now(UTC) + timedelta(seconds=1.5)
    campaign = create(
        api,
        owner,
        channels=[{"channel": "email", "budget_minor": 100}],
        start_at=start.isoformat(),
        end_at=(start + timedelta(seconds=1.5)).isoformat(),
    )
    scheduled = launch(api, owner, campaign["id"])
    assert scheduled["status"] == "scheduled" and scheduled["allowed_actions"] == ["pause", "archive"]
    path = f"/api/v1/campaigns/{campaign['id']}"
    eventually(lambda: api.get(path, headers=owner.auth).json()["status"] == "completed", timeout=20)
    time.sleep(1)  # several more ticks of both replicas: nothing may move twice
    history = [
        (h["from_status"], h["to_status"], h["actor"])
        for h in api.get(f"{path}/history", headers=owner.auth).json()
    ]
    assert history == [
        ("draft", "scheduled", owner.user_id),
        ("scheduled", "active", "scheduler"),
        ("active", "completed", "scheduler"),
    ]
    mine = lambda e: e["data"]["campaign_id"] == campaign["id"]  # noqa: E731
    assert len(wait_for(bus, "campaign_management", "campaign.launched", mine)) == 1
    [done] = wait_for(bus, "campaign_management", "campaign.completed", mine)
    assert done["data"]["reason"] == "end time reached"
    second_replica = httpx.get(f"{campaigns_fleet.urls[1]}{path}", headers=owner.auth).json()
    assert second_replica["status"] == "completed"
