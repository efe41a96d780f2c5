"""Flow 4 from this side: optimize asks ai_agents for a task (as this service, for the tenant),
`ai.recommendation.created` is stored once, and applying one changes the budgets in one
transaction with both events emitted exactly once; a second apply is a 409."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import redis

from tests.campaign_management.conftest import Fleet
from tests.campaign_management.factory import create, running_campaign
from tests.support.bus import events, publish, wait_for
from tests.support.kit import Account, assert_problem, eventually


def recommend(bus: redis.Redis, account: Account, campaign_id: str, items: list[dict[str, Any]]) -> str:
    """As ai_agents would, at the end of an optimization task; returns the task id."""
    task_id = str(uuid.uuid4())
    publish(
        bus,
        "ai.recommendation.created",
        {"task_id": task_id, "campaign_id": campaign_id, "items": items},
        account.tenant_id,
    )
    return task_id


def stored(api: httpx.Client, account: Account, campaign_id: str, task_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        listed = api.get(f"/api/v1/campaigns/{campaign_id}/recommendations", headers=account.auth).json()
        return next((r for r in listed if r["task_id"] == task_id), None)

    return eventually(find)


MOVE = [
    {
        "kind": "budget_move",
        "channel": "google_ads",
        "from_budget_minor": 60_000,
        "to_budget_minor": 45_000,
        "rationale": "CPA 40% above target",
        "expected_effect": "-15% spend at equal conversions",
    },
    {
        "kind": "budget_move",
        "channel": "email",
        "from_budget_minor": 40_000,
        "to_budget_minor": 55_000,
        "rationale": "ROAS 6.1",
    },
]


def test_optimize_starts_a_task_at_ai_agents_as_this_service(
    api: httpx.Client, campaigns_fleet: Fleet, owner: Account
) -> None:
    campaign = create(api, owner)
    answer = api.post(f"/api/v1/campaigns/{campaign['id']}/optimize", headers=owner.auth)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["location"] == body["status_url"] == f"/api/v1/ai/tasks/{body['task_id']}"
    [request] = [
        r
        for r in campaigns_fleet.peers.seen("/api/v1/ai/tasks")
        if r["body"]["input"]["campaign_id"] == campaign["id"]
    ]
    assert (
        request["body"]["type"] == "campaign_optimization"
        and request["body"]["requested_by"] == owner.user_id
    )
    assert request["headers"]["X-Tenant-ID"] == owner.tenant_id
    claims = jwt.decode(request["headers"]["Authorization"].split()[1], options={"verify_signature": False})
    assert claims["typ"] == "service" and "ai:run" in claims["scope"].split()


def test_a_recommendation_is_stored_once_per_task(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    campaign = create(api, owner)
    task_id = recommend(bus, owner, campaign["id"], MOVE)
    found = stored(api, owner, campaign["id"], task_id)
    assert found["status"] == "open" and found["items"][0]["rationale"] == "CPA 40% above target"
    publish(
        bus,
        "ai.recommendation.created",
        {"task_id": task_id, "campaign_id": campaign["id"], "items": MOVE},
        owner.tenant_id,
    )
    marker = recommend(bus, owner, campaign["id"], MOVE[:1])  # processed after the duplicate
    stored(api, owner, campaign["id"], marker)
    listed = api.get(f"/api/v1/campaigns/{campaign['id']}/recommendations", headers=owner.auth).json()
    assert sorted(r["task_id"] for r in listed) == sorted([task_id, marker])


def test_applying_moves_the_budgets_once_and_announces_it_once(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    campaign = running_campaign(api, bus, owner)
    cid = campaign["id"]
    rid = stored(api, owner, cid, recommend(bus, owner, cid, MOVE))["id"]
    path = f"/api/v1/campaigns/{cid}/recommendations/{rid}"
    with ThreadPoolExecutor(4) as pool:  # four clicks at once: one applies, three are told
        answers = list(pool.map(lambda _: api.post(f"{path}/apply", headers=owner.auth), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    [applied] = [a.json() for a in answers if a.status_code == 200]
    assert (applied["status"], applied["decided_by"]) == ("applied", owner.user_id)
    problem = assert_problem(api.post(f"{path}/apply", headers=owner.auth), 409)
    assert problem["current_status"] == "applied"

    after = api.get(f"/api/v1/campaigns/{cid}", headers=owner.auth).json()
    assert {c["channel"]: c["budget_minor"] for c in after["channels"]} == {
        "google_ads": 45_000,
        "email": 55_000,
    }
    assert after["total_budget_minor"] == 100_000 and after["version"] == campaign["version"] + 1
    [entry] = [
        a
        for a in api.get(f"/api/v1/campaigns/{cid}/audit", headers=owner.auth).json()
        if a["action"] == "recommendation_applied"
    ]
    assert entry["detail"]["before"] == {"google_ads": 60_000, "email": 40_000}
    assert (
        entry["detail"]["after"] == {"google_ads": 45_000, "email": 55_000}
        and entry["actor"] == owner.user_id
    )

    [budget] = wait_for(
        bus, "campaign_management", "campaign.budget_changed", lambda e: e["data"]["campaign_id"] == cid
    )
    assert budget["data"]["recommendation_id"] == rid and budget["data"]["currency"] == "EUR"
    assert budget["data"]["budgets"] == [
        {"channel": "google_ads", "budget_minor": 45_000},
        {"channel": "email", "budget_minor": 55_000},
    ]
    [done] = wait_for(
        bus, "campaign_management", "recommendation.applied", lambda e: e["data"]["recommendation_id"] == rid
    )
    assert done["data"]["applied_by"] == owner.user_id
    mine = lambda t: [e for e in events(bus, "campaign_management", t) if e["data"].get("campaign_id") == cid]  # noqa: E731
    assert (len(mine("campaign.budget_changed")), len(mine("recommendation.applied"))) == (1, 1)


def test_a_recommendation_that_would_raise_the_total_is_refused_and_changes_nothing(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    campaign = create(api, owner)
    greedy = [
        {"kind": "budget_move", "channel": "email", "to_budget_minor": 90_000, "rationale": "more is better"}
    ]
    rid = stored(api, owner, campaign["id"], recommend(bus, owner, campaign["id"], greedy))["id"]
    path = f"/api/v1/campaigns/{campaign['id']}/recommendations/{rid}"
    assert (
        "may not raise the total"
        in assert_problem(api.post(f"{path}/apply", headers=owner.auth), 409)["detail"]
    )
    assert api.get(path, headers=owner.auth).json()["status"] == "open"
    assert api.get(f"/api/v1/campaigns/{campaign['id']}", headers=owner.auth).json()["version"] == 1


def test_pausing_a_channel_and_dismissing(api: httpx.Client, owner: Account, bus: redis.Redis) -> None:
    campaign = create(api, owner)
    cid = campaign["id"]
    pause = [{"kind": "pause_channel", "channel": "google_ads", "rationale": "no conversions in 14 days"}]
    rid = stored(api, owner, cid, recommend(bus, owner, cid, pause))["id"]
    answer = api.post(f"/api/v1/campaigns/{cid}/recommendations/{rid}/apply", headers=owner.auth)
    assert answer.status_code == 200, answer.text
    after = api.get(f"/api/v1/campaigns/{cid}", headers=owner.auth).json()
    assert after["channels"] == [
        {"channel": "google_ads", "budget_minor": 0},
        {"channel": "email", "budget_minor": 40_000},
    ]
    assert after["total_budget_minor"] == 40_000

    manual = api.post(
        f"/api/v1/campaigns/{cid}/recommendations",
        json={"items": [{"kind": "bid_change", "channel": "email", "rationale": "try a later send time"}]},
        headers=owner.auth,
    )
    assert manual.status_code == 201, manual.text
    path = f"/api/v1/campaigns/{cid}/recommendations/{manual.json()['id']}"
    dismissed = api.post(f"{path}/dismiss", headers=owner.auth).json()
    assert (dismissed["status"], dismissed["decided_by"]) == ("dismissed", owner.user_id)
    assert_problem(api.post(f"{path}/apply", headers=owner.auth), 409)
    assert api.get(f"/api/v1/campaigns/{cid}", headers=owner.auth).json()["version"] == after["version"]
