"""Dashboards: widgets declared as data, evaluated live; optimistic concurrency; every route
with an id is a 404 for another tenant (read from the live OpenAPI)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.analytics.test_ingestion import daily, ingest
from tests.support.kit import Account, assert_problem, register_owner

WIDGETS = [
    {"type": "kpi", "title": "Spend", "metric": "spend_minor"},
    {"type": "timeseries", "metric": "clicks", "granularity": "day", "period_days": 3},
    {"type": "breakdown", "metric": "clicks", "by": "channel"},
    {"type": "top_n", "metric": "spend_minor", "by": "campaign", "n": 1},
]


def create(api: httpx.Client, account: Account, **body: Any) -> httpx.Response:
    return api.post(
        "/api/v1/analytics/dashboards",
        json={"name": "Board", "widgets": WIDGETS, **body},
        headers=account.auth,
    )


def test_widgets_are_evaluated_live(api: httpx.Client, user_service: str) -> None:
    owner = register_owner(user_service)
    made = create(api, owner)
    assert made.status_code == 201, made.text
    board = made.json()
    big, small = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(
        api,
        owner,
        [
            daily(big, "2026-11-20", spend_minor=900, clicks=9),
            {**daily(small, "2026-11-21", spend_minor=100, clicks=1), "channel": "meta_ads"},
        ],
    )
    data = api.get(
        f"/api/v1/analytics/dashboards/{board['id']}/data",
        params={"from": "2026-11-19", "to": "2026-11-21"},
        headers=owner.auth,
    ).json()
    kpi, series, by_channel, top = (w["data"] for w in data["widgets"])
    assert (kpi["value"], kpi["currency"]) == (1000, "EUR")
    assert [p["value"] for p in series["points"]] == [0.0, 9.0, 1.0]
    assert {r["channel"]: r["clicks"] for r in by_channel["rows"]} == {"google_ads": 9, "meta_ads": 1}
    assert [r["campaign_id"] for r in top["rows"]] == [big]


def test_a_stale_dashboard_edit_is_412(api: httpx.Client, owner: Account) -> None:
    made = create(api, owner)
    path = f"/api/v1/analytics/dashboards/{made.json()['id']}"
    etag = made.headers["etag"]
    renamed = api.patch(path, json={"name": "Renamed"}, headers={**owner.auth, "If-Match": etag})
    assert renamed.status_code == 200 and renamed.headers["etag"] == '"2"'
    assert_problem(api.patch(path, json={"name": "Again"}, headers={**owner.auth, "If-Match": etag}), 412)
    assert_problem(api.patch(path, json={"widgets": None}, headers=owner.auth), 422)
    bad = {"type": "timeseries", "metric": "clicks", "granularity": "hour", "period_days": 90}
    assert_problem(create(api, owner, widgets=[bad]), 422)


def test_another_tenants_objects_are_404_on_every_route_with_an_id(
    api: httpx.Client, owner: Account, user_service: str
) -> None:
    board = create(api, owner).json()
    report = api.post(
        "/api/v1/analytics/reports",
        json={"type": "kpi_summary", "filters": {"from": "2026-11-01", "to": "2026-11-02"}},
        headers=owner.auth,
    ).json()
    alert = api.post(
        "/api/v1/analytics/alerts",
        json={"name": "a", "kind": "threshold", "metric": "ctr", "threshold": 1},
        headers=owner.auth,
    ).json()
    cid = str(uuid.uuid4())
    ingest(api, owner, [daily(cid, "2026-11-01", clicks=1)])
    ids = {"dashboard_id": board["id"], "report_id": report["id"], "rule_id": alert["id"], "campaign_id": cid}
    bodies = {"PATCH": {"name": "mine"}}
    stranger = register_owner(user_service)
    document = api.get("/openapi.json").json()
    routes = [(m.upper(), p) for p, item in document["paths"].items() if "{" in p for m in item]
    assert len(routes) >= 9, routes
    for method, template in routes:
        assert set(re.findall(r"{(\w+)}", template)) <= set(ids), f"teach this test to make a {template}"
        answer = api.request(method, template.format(**ids), json=bodies.get(method), headers=stranger.auth)
        assert_problem(answer, 404)
    assert (
        api.get(f"/api/v1/analytics/dashboards/{board['id']}", headers=owner.auth).json()["name"] == "Board"
    )
    assert api.get(f"/api/v1/analytics/campaigns/{cid}/performance", headers=owner.auth).status_code == 200
