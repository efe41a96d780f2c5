"""Funnels synced to the fake Mautic (a real HTTP server with Mautic's paths, shapes and quirks):
created once, edited in place on the next sync, surviving a 429 storm, keeping what exists after
a failure midway, the tenant's own Mautic over OAuth2, and analytics read back from Mautic."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from fakes._server import ThreadedFake
from fakes.mautic import make_app as mautic_app
from tests.campaign_management.conftest import Fleet
from tests.campaign_management.factory import create
from tests.support.bus import wait_for
from tests.support.kit import Account, assert_problem


def funnel_body(name: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "stages": [
            {"name": "Customer", "weight": 90, "entry_rule": {"type": "form_submitted", "value": "checkout"}},
            {"name": "Lead", "weight": 10, "entry_rule": {"type": "form_submitted", "value": "newsletter"}},
            {"name": "Qualified", "weight": 50, "entry_rule": {"type": "points_above", "value": 40}},
        ],
        "audience": {"tags": ["shoes"], "min_points": 5, "countries": ["DE"]},
        "nurture": [
            {"name": "Welcome", "type": "email", "delay_days": 0},
            {"name": "Best sellers", "type": "email", "delay_days": 3},
        ],
        "scoring": [{"action": "email_opened", "delta": 5}, {"action": "form_submitted", "delta": 20}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def mautic_api(campaigns_fleet: Fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=campaigns_fleet.mautic.url, timeout=10) as client:
        yield client


def ours(mautic_api: httpx.Client, name: str) -> dict[str, list[dict[str, Any]]]:
    """What the fake Mautic holds for one funnel (the fake is shared by the session)."""
    resources = mautic_api.get("/_fake/state").json()["resources"]
    return {kind: [i for i in items if name in (i.get("name") or "")] for kind, items in resources.items()}


def sync(api: httpx.Client, account: Account, funnel_id: str) -> httpx.Response:
    return api.post(f"/api/v1/funnels/{funnel_id}/sync", headers=account.auth)


def test_a_sync_creates_once_and_the_next_edits_in_place(
    api: httpx.Client, owner: Account, bus: redis.Redis, mautic_api: httpx.Client
) -> None:
    created = api.post("/api/v1/funnels", json=funnel_body("Shoe funnel A"), headers=owner.auth)
    assert created.status_code == 201, created.text
    funnel = created.json()
    assert funnel["sync_status"] == "never" and [s["name"] for s in funnel["stages"]] == [
        "Customer",
        "Lead",
        "Qualified",
    ]
    first = sync(api, owner, funnel["id"])
    assert first.status_code == 200, first.text
    synced = first.json()
    assert synced["sync_status"] == "synced" and synced["mautic"]["version"] == "5.1.1"
    held = ours(mautic_api, "Shoe funnel A")
    assert [s["name"] for s in held["stages"]] == [
        "Shoe funnel A: Lead",
        "Shoe funnel A: Qualified",
        "Shoe funnel A: Customer",
    ]
    assert {s["name"]: s["mautic_stage_id"] for s in synced["stages"]} == {
        s["name"].split(": ")[1]: s["id"] for s in held["stages"]
    }
    [trigger] = held["triggers"]
    assert (
        trigger["points"] == 40
        and trigger["events"][0]["properties"]["stage"] == synced["stages"][2]["mautic_stage_id"]
    )
    [segment] = held["lists"] if "lists" in held else held["segments"]
    assert synced["mautic"]["segment_id"] == segment["id"] and len(segment["filters"]) == 3
    [nurture] = held["campaigns"]
    assert [e["name"] for e in nurture["events"]] == ["Welcome", "Best sellers"]
    assert sorted(p["delta"] for p in held["points"]) == [5, 20]
    [event] = wait_for(
        bus, "campaign_management", "funnel.synced", lambda e: e["data"]["funnel_id"] == funnel["id"]
    )
    assert event["data"]["stages"] == 3 and event["data"]["mautic"]["segment_id"] == segment["id"]

    renamed = funnel_body(
        "Shoe funnel A",
        stages=[
            *funnel_body("x")["stages"][:2],
            {"name": "Qualified", "weight": 60, "entry_rule": {"type": "points_above", "value": 55}},
        ],
        scoring=[
            {"action": "email_opened", "delta": 7},
            {"action": "form_submitted", "delta": 20},
            {"action": "page_visited", "delta": 1},
        ],
    )
    edited = api.patch(
        f"/api/v1/funnels/{funnel['id']}",
        json={k: renamed[k] for k in ("stages", "scoring")},
        headers=owner.auth,
    )
    assert edited.status_code == 200, edited.text
    second = sync(api, owner, funnel["id"])
    assert second.status_code == 200, second.text
    again = ours(mautic_api, "Shoe funnel A")
    assert [s["id"] for s in again["stages"]] == [s["id"] for s in held["stages"]]  # the same three, edited
    assert [s["weight"] for s in again["stages"] if s["name"].endswith("Qualified")] == [60]
    assert [t["points"] for t in again["triggers"]] == [55]
    assert [s["id"] for s in again.get("segments", again.get("lists", []))] == [segment["id"]]
    assert [c["id"] for c in again["campaigns"]] == [nurture["id"]]
    assert sorted(p["delta"] for p in again["points"]) == [1, 7, 20]


def test_a_429_storm_is_waited_out(api: httpx.Client, owner: Account, mautic_api: httpx.Client) -> None:
    funnel = api.post("/api/v1/funnels", json=funnel_body("Storm funnel"), headers=owner.auth).json()
    mautic_api.post(
        "/_fake/fail", json={"path_prefix": "/api/stages", "status": 429, "count": 3, "retry_after": 0}
    )
    answer = sync(api, owner, funnel["id"])
    assert answer.status_code == 200, answer.text
    assert len(ours(mautic_api, "Storm funnel")["stages"]) == 3


def test_a_sync_failing_midway_keeps_what_exists_and_the_next_completes_it(
    api: httpx.Client, owner: Account, mautic_api: httpx.Client
) -> None:
    funnel = api.post("/api/v1/funnels", json=funnel_body("Midway funnel"), headers=owner.auth).json()
    mautic_api.post(
        "/_fake/fail", json={"path_prefix": "/api/segments", "status": 429, "count": 50, "retry_after": 0}
    )
    failed = sync(api, owner, funnel["id"])
    problem = assert_problem(failed, 503)
    assert "Mautic answered 429" in problem["detail"] and failed.headers["retry-after"] == "30"
    stored = api.get(f"/api/v1/funnels/{funnel['id']}", headers=owner.auth).json()
    assert stored["sync_status"] == "failed" and "429" in stored["sync_error"]
    assert all(s["mautic_stage_id"] for s in stored["stages"]), "the stages made before the failure are known"
    _clear_failures(mautic_api)
    assert sync(api, owner, funnel["id"]).status_code == 200
    held = ours(mautic_api, "Midway funnel")
    assert len(held["stages"]) == 3 and len(held["triggers"]) == 1, "no stage or trigger made twice"


def _clear_failures(mautic_api: httpx.Client) -> None:
    """Spend what is left of an armed failure on requests that change nothing."""
    while any(rule["count"] for rule in mautic_api.get("/_fake/state").json()["failures"]):
        mautic_api.get("/api/segments", auth=("admin", "mautic-secret"))


def test_one_sync_of_a_funnel_at_a_time(api: httpx.Client, owner: Account, mautic_api: httpx.Client) -> None:
    funnel = api.post("/api/v1/funnels", json=funnel_body("Busy funnel"), headers=owner.auth).json()
    mautic_api.post(
        "/_fake/fail", json={"path_prefix": "/api/stages", "status": 429, "count": 3, "retry_after": 1}
    )
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: sync(api, owner, funnel["id"]), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert len(ours(mautic_api, "Busy funnel")["stages"]) == 3


def test_the_tenants_own_mautic_is_used_over_oauth2(
    api: httpx.Client, campaigns_fleet: Fleet, owner: Account
) -> None:
    own = ThreadedFake(
        mautic_app(client_id="agency-app", client_secret="agency-secret", username="x", password="y")
    )
    url = own.start()
    try:
        campaigns_fleet.peers.mautic_credentials[owner.tenant_id] = {
            "base_url": url,
            "client_id": "agency-app",
            "client_secret": "agency-secret",
        }
        funnel = api.post("/api/v1/funnels", json=funnel_body("Own funnel"), headers=owner.auth).json()
        answer = sync(api, owner, funnel["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["mautic"]["base_url"] == url
        with httpx.Client(base_url=url) as client:
            state = client.get("/_fake/state").json()
        assert len([s for s in state["resources"]["stages"] if "Own funnel" in s["name"]]) == 3
        assert [g["client_id"] for g in state["token_grants"]] == ["agency-app"]  # one token, reused
        assert "agency-secret" not in answer.text
    finally:
        campaigns_fleet.peers.mautic_credentials.pop(owner.tenant_id, None)
        own.stop()


def test_funnel_analytics_join_mautic_stats_with_ad_spend(
    api: httpx.Client, campaigns_fleet: Fleet, owner: Account, mautic_api: httpx.Client
) -> None:
    campaign = create(api, owner)
    funnel = api.post(
        "/api/v1/funnels", json=funnel_body("Report funnel", campaign_id=campaign["id"]), headers=owner.auth
    ).json()
    path = f"/api/v1/funnels/{funnel['id']}/analytics"
    assert "sync the funnel" in assert_problem(api.get(path, headers=owner.auth), 409)["detail"]
    synced = sync(api, owner, funnel["id"]).json()
    stages = {s["name"]: s["mautic_stage_id"] for s in synced["stages"]}
    segment_id = synced["mautic"]["segment_id"]
    moves = [(lead, stages["Lead"]) for lead in (1, 2, 3, 4)] + [
        (1, stages["Qualified"]),
        (2, stages["Qualified"]),
        (1, stages["Customer"]),
    ]
    mautic_api.post(
        "/_fake/stats",
        json={
            "lead_stages_change_log": [
                {"lead_id": lead, "stage_id": stage, "event_name": "x", "action_name": "y"}
                for lead, stage in moves
            ],
            "email_stats": [
                {"lead_id": n, "list_id": segment_id if n < 5 else segment_id + 1000, "is_read": n % 2}
                for n in range(1, 7)
            ],
        },
    )
    campaigns_fleet.peers.performance[campaign["id"]] = {"totals": {"spend_minor": 12_000}}
    report = api.get(path, headers=owner.auth)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["stage_entries"] == {"Customer": 1, "Lead": 4, "Qualified": 2}
    assert body["cost_per_stage_entry_minor"] == {"Customer": 12_000, "Lead": 3_000, "Qualified": 6_000}
    assert body["spend_minor"] == 12_000
    assert body["emails"] == {"sent": 4, "opened": 2, "open_rate": 0.5}  # this funnel's segment only
