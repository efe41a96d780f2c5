"""Campaigns as records, over HTTP against the real process: create, read, filter, sort, keyset
pages, optimistic concurrency, validation, roles, and another tenant's campaign as a 404."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis

from tests.campaign_management.factory import START, campaign_body, create
from tests.support.bus import wait_for
from tests.support.kit import PASSWORD, Account, assert_problem, bearer


def test_a_campaign_is_created_as_a_draft_and_announced(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    response = api.post("/api/v1/campaigns", json=campaign_body(name="Launch week"), headers=owner.auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/campaigns/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert (body["status"], body["version"], body["total_budget_minor"]) == ("draft", 1, 100_000)
    assert body["allowed_actions"] == ["launch", "archive"]
    assert body["owner_user_id"] == owner.user_id
    assert {c["channel"]: c["budget_minor"] for c in body["channels"]} == {
        "google_ads": 60_000,
        "email": 40_000,
    }
    assert body["targeting"]["age_min"] == 25 and body["utm"]["medium"] == "cpc"
    [event] = wait_for(
        bus, "campaign_management", "campaign.created", lambda e: e["data"]["campaign_id"] == body["id"]
    )
    assert event["tenant_id"] == owner.tenant_id
    assert event["data"]["total_budget_minor"] == 100_000 and event["data"]["currency"] == "EUR"
    assert api.get(f"/api/v1/campaigns/{body['id']}", headers=owner.auth).json() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "euro"}, "currency"),
        ({"objective": "fame"}, "objective"),
        ({"channels": [{"channel": "tiktok", "budget_minor": 1}]}, "channels"),
        ({"channels": [{"channel": "email", "budget_minor": -5}]}, "channels"),
        ({"end_at": (START - timedelta(days=1)).isoformat()}, None),
        ({"start_at": "2026-12-01T00:00:00"}, "start_at"),
        ({"name": ""}, "name"),
        ({"budget": 5}, "budget"),
        ({"targeting": {"age_min": 60, "age_max": 30}}, None),
    ],
    ids=["currency", "objective", "channel", "negative", "dates", "naive-time", "name", "unknown", "ages"],
)
def test_invalid_campaigns_are_422_and_nothing_is_stored(
    api: httpx.Client, owner: Account, change: dict[str, Any], field: str | None
) -> None:
    body = assert_problem(
        api.post("/api/v1/campaigns", json=campaign_body(**change), headers=owner.auth), 422
    )
    if field:
        assert field in {str(part) for error in body["errors"] for part in error["loc"]}, body
    assert api.get("/api/v1/campaigns", headers=owner.auth).json()["items"] == []


def test_filters_sorting_and_keyset_pages(api: httpx.Client, owner: Account) -> None:
    names = [f"c{i:02d}" for i in range(7)]
    made = [
        create(api, owner, name=name, tags=["even" if i % 2 == 0 else "odd"]) for i, name in enumerate(names)
    ]
    create(api, owner, name="meta only", channels=[{"channel": "meta_ads", "budget_minor": 5}], tags=[])

    def all_pages(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {**params, "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = api.get("/api/v1/campaigns", params=query, headers=owner.auth)
            assert page.status_code == 200, page.text
            seen += [item["name"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return seen

    assert all_pages(sort="name") == [*names, "meta only"]
    assert all_pages(sort="-name") == ["meta only", *reversed(names)]
    assert all_pages() == ["meta only", *reversed(names)]  # newest first
    assert all_pages(tag="even", sort="name") == names[0::2]
    assert all_pages(channel="meta_ads") == ["meta only"]
    assert all_pages(channel="email", q="c0", sort="name") == names
    launched = made[0]["id"]
    assert api.post(f"/api/v1/campaigns/{launched}/archive", headers=owner.auth).status_code == 200
    assert all_pages(status="archived") == ["c00"]
    assert "c00" not in all_pages(status=["draft"])
    assert all_pages(status=["draft", "archived"], sort="name") == [*names, "meta only"]
    cursor = api.get("/api/v1/campaigns", params={"sort": "name", "limit": 2}, headers=owner.auth).json()[
        "next_cursor"
    ]
    mismatched = api.get(
        "/api/v1/campaigns", params={"sort": "-created_at", "cursor": cursor}, headers=owner.auth
    )
    assert assert_problem(mismatched, 400)["type"].endswith("invalid-cursor")


def test_a_nul_in_a_text_filter_is_a_422(api: httpx.Client, owner: Account) -> None:
    for params in ({"tag": "a\x00b"}, {"q": "\x00"}):
        problem = assert_problem(api.get("/api/v1/campaigns", params=params, headers=owner.auth), 422)
        assert "NUL" in problem["detail"]


def test_an_update_may_clear_only_what_can_be_empty(api: httpx.Client, owner: Account) -> None:
    campaign = create(api, owner)
    path = f"/api/v1/campaigns/{campaign['id']}"
    problem = assert_problem(api.patch(path, json={"channels": None, "name": None}, headers=owner.auth), 422)
    assert "channels, name cannot be null" in problem["detail"]
    cleared = api.patch(path, json={"end_at": None, "tags": ["kept"]}, headers=owner.auth).json()
    assert (cleared["end_at"], cleared["tags"], cleared["name"]) == (None, ["kept"], campaign["name"])


def test_a_stale_write_is_refused_with_412(api: httpx.Client, owner: Account) -> None:
    campaign = create(api, owner)
    path = f"/api/v1/campaigns/{campaign['id']}"
    etag = api.get(path, headers=owner.auth).headers["etag"]
    first = api.patch(path, json={"name": "First editor"}, headers={**owner.auth, "If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    stale = api.patch(path, json={"name": "Second editor"}, headers={**owner.auth, "If-Match": etag})
    assert assert_problem(stale, 412)["current_version"] == 2
    assert api.get(path, headers=owner.auth).json()["name"] == "First editor"
    unconditional = api.patch(path, json={"tags": ["x"]}, headers=owner.auth)
    assert unconditional.status_code == 200 and unconditional.json()["version"] == 3
    assert_problem(api.patch(path, json={"name": "x"}, headers={**owner.auth, "If-Match": "garbage"}), 400)


def test_a_running_campaign_keeps_its_budgets_and_dates(
    api: httpx.Client, owner: Account, bus: redis.Redis
) -> None:
    campaign = create(api, owner, channels=[{"channel": "email", "budget_minor": 100}], start_at=None)
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert api.post(f"{path}/launch", headers=owner.auth).json()["status"] == "active"
    refused = api.patch(
        path, json={"channels": [{"channel": "email", "budget_minor": 900}]}, headers=owner.auth
    )
    assert assert_problem(refused, 409)["current_status"] == "active"
    renamed = api.patch(path, json={"name": "Renamed while running"}, headers=owner.auth)
    assert renamed.status_code == 200
    assert_problem(api.delete(path, headers=owner.auth), 409)


def test_only_drafts_are_deleted(api: httpx.Client, owner: Account) -> None:
    campaign = create(api, owner)
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert api.delete(path, headers=owner.auth).status_code == 204
    assert_problem(api.get(path, headers=owner.auth), 404)


def _member(api: httpx.Client, user_service: str, owner: Account, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@acme.io"
    with httpx.Client(base_url=user_service, timeout=30) as users:
        made = users.post(
            "/api/v1/users",
            json={"email": email, "full_name": "Mem Ber", "role": role, "password": PASSWORD},
            headers=owner.auth,
        )
        assert made.status_code == 201, made.text
        token = users.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
    return bearer(token)


def test_viewers_read_and_managers_write(api: httpx.Client, owner: Account, user_service: str) -> None:
    campaign = create(api, owner)
    viewer = _member(api, user_service, owner, "viewer")
    assert api.get(f"/api/v1/campaigns/{campaign['id']}", headers=viewer).status_code == 200
    assert_problem(api.post("/api/v1/campaigns", json=campaign_body(), headers=viewer), 403)
    assert_problem(api.post(f"/api/v1/campaigns/{campaign['id']}/archive", headers=viewer), 403)
    manager = _member(api, user_service, owner, "manager")
    assert api.post("/api/v1/campaigns", json=campaign_body(), headers=manager).status_code == 201
    assert_problem(api.get("/api/v1/campaigns"), 401)
