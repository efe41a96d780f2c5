"""Another tenant's objects are a 404 on every route that takes an id, read from the live OpenAPI
document (so a route added later is covered without touching this test), and nothing changes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import redis

from tests.campaign_management.factory import create
from tests.support.bus import publish
from tests.support.kit import Account, assert_problem, eventually, register_owner

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): {"name": "mine now"},
    ("POST", "/api/v1/campaigns/{campaign_id}/recommendations"): {
        "items": [{"kind": "bid_change", "channel": "email", "rationale": "x"}]
    },
    ("PATCH", "/api/v1/funnels/{funnel_id}"): {"name": "mine now"},
}


def id_routes(api: httpx.Client) -> list[tuple[str, str]]:
    document = api.get("/openapi.json").json()
    return sorted(
        (method.upper(), path) for path, item in document["paths"].items() if "{" in path for method in item
    )


def test_another_tenants_objects_are_404_on_every_route_with_an_id(
    api: httpx.Client, owner: Account, user_service: str, bus: redis.Redis
) -> None:
    campaign = create(api, owner)
    task_id = str(uuid.uuid4())
    publish(
        bus,
        "ai.recommendation.created",
        {
            "task_id": task_id,
            "campaign_id": campaign["id"],
            "items": [{"kind": "bid_change", "channel": "email", "rationale": "r"}],
        },
        owner.tenant_id,
    )
    path = f"/api/v1/campaigns/{campaign['id']}/recommendations"
    [recommendation] = eventually(lambda: api.get(path, headers=owner.auth).json())
    funnel = api.post(
        "/api/v1/funnels",
        json={
            "name": "F",
            "stages": [{"name": "Lead", "weight": 1, "entry_rule": {"type": "form_submitted"}}],
        },
        headers=owner.auth,
    ).json()
    ids = {
        "campaign_id": campaign["id"],
        "recommendation_id": recommendation["id"],
        "funnel_id": funnel["id"],
    }
    stranger = register_owner(user_service)
    routes = id_routes(api)
    assert len(routes) >= 20, routes
    for method, template in routes:
        names = re.findall(r"{(\w+)}", template)
        assert set(names) <= set(ids), f"a new kind of id in {template}: teach this test to make one"
        url = template.format(**ids)
        answer = api.request(method, url, json=BODIES.get((method, template)), headers=stranger.auth)
        assert_problem(answer, 404)
    assert api.get(f"/api/v1/campaigns/{campaign['id']}", headers=owner.auth).json() == campaign
    assert api.get(f"/api/v1/funnels/{funnel['id']}", headers=owner.auth).json()["name"] == "F"
    assert api.get(f"{path}/{recommendation['id']}", headers=owner.auth).json()["status"] == "open"
