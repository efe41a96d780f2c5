"""Another tenant's objects are a 404 on every route with an id (read from the live OpenAPI), and
the live stream needs a token."""

from __future__ import annotations

import re

import httpx

from tests.notification.conftest import Service
from tests.notification.test_flows import send, settled
from tests.support.kit import Account, assert_problem, register_owner


def test_another_tenants_ids_are_404_on_every_route(
    api: httpx.Client, owner: Account, user_service: str, notification: Service
) -> None:
    sent = send(api, owner, {"category": "campaign", "user_id": owner.user_id, "subject": "S", "body": "B"})
    email = settled(api, owner, sent["notification_id"], "email", "sent")
    inbox_item = api.get("/api/v1/notifications/inbox", headers=owner.auth).json()["items"][0]
    template = api.put(
        "/api/v1/notifications/templates", json={"key": "mine", "parts": {"subject": "x"}}, headers=owner.auth
    ).json()
    browser = httpx.post(f"{notification.channels.push.url}/_fake/subscriptions", json={}).json()
    subscription = api.post(
        "/api/v1/notifications/push/subscriptions", json=browser, headers=owner.auth
    ).json()
    ids = {
        "notification_id": sent["notification_id"],
        "delivery_id": email["id"],
        "item_id": inbox_item["id"],
        "template_id": template["id"],
        "subscription_id": subscription["id"],
    }
    stranger = register_owner(user_service)
    document = api.get("/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if "{" in path and "{token}" not in path  # signed links name their tenant themselves
        for method in item
    ]
    assert len(routes) >= 7, routes
    for method, template_path in routes:
        assert set(re.findall(r"{(\w+)}", template_path)) <= set(ids), (
            f"teach this test to make a {template_path}"
        )
        answer = api.request(method, template_path.format(**ids), headers=stranger.auth)
        assert_problem(answer, 404)
    assert api.get(f"/api/v1/notifications/{sent['notification_id']}", headers=owner.auth).status_code == 200


def test_the_stream_needs_a_token(notification: Service) -> None:
    assert_problem(httpx.get(f"{notification.url}/api/v1/notifications/stream"), 401)
