"""The gateway's pure routing rules and the docs merge."""

from __future__ import annotations

import pytest

from services.api_gateway import routing
from services.api_gateway.docs import merge


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/v1/auth/login", "user_management"),
        ("/api/v1/users", "user_management"),
        ("/.well-known/jwks.json", "user_management"),
        ("/api/v1/campaigns/1/launch", "campaign_management"),
        ("/api/v1/funnels", "campaign_management"),
        ("/api/v1/analytics/kpis", "analytics"),
        ("/api/v1/webhooks/stripe", "integration"),
        ("/api/v1/notifications/inbox", "notification"),
        ("/api/v1/ai/tasks", "ai_agents"),
    ],
)
def test_prefixes_route_to_their_service(path: str, upstream: str) -> None:
    route = routing.match(path)
    assert route is not None and route.upstream == upstream


@pytest.mark.parametrize("path", ["/api/v1/usersx", "/api/v1/nope", "/health", "/api/v1"])
def test_a_prefix_matches_whole_segments_only(path: str) -> None:
    assert routing.match(path) is None


def test_public_routes() -> None:
    assert routing.is_public("POST", "/api/v1/auth/login")
    assert not routing.is_public("GET", "/api/v1/auth/login")
    assert routing.is_public("POST", "/api/v1/webhooks/stripe")
    assert routing.is_public("GET", "/.well-known/jwks.json")
    assert not routing.is_public("GET", "/api/v1/users/me")


def test_parse_rate() -> None:
    assert routing.parse_rate("20/60") == (20, 60)
    with pytest.raises(ValueError):
        routing.parse_rate("0/60")


def test_merge_prefixes_conflicting_schema_names_and_keeps_only_owned_paths() -> None:
    def doc(path: str, field: str) -> dict:
        return {
            "paths": {path: {"get": {"responses": {"200": {"$ref": "#/components/schemas/Item"}}}}},
            "components": {"schemas": {"Item": {"properties": {field: {}}}}},
        }

    merged = merge(
        {"paths": {}},
        {"analytics": doc("/api/v1/analytics/x", "a"), "notification": doc("/api/v1/notifications/x", "b")},
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Item"] == {"properties": {"a": {}}}
    assert schemas["NotificationItem"] == {"properties": {"b": {}}}
    ref = merged["paths"]["/api/v1/notifications/x"]["get"]["responses"]["200"]["$ref"]
    assert ref == "#/components/schemas/NotificationItem"
    stray = merge({"paths": {}}, {"analytics": doc("/api/v1/users/me", "a")})
    assert "/api/v1/users/me" not in stray["paths"]
