"""The authorization-code flow with PKCE against each provider's fake consent page: the state is
single use and names the tenant, the code is exchanged with the verifier, and the connection made
from it holds the provider's fresh tokens (sealed) and syncs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.kit import Account, assert_problem

PROVIDERS = {"google_ads": "1234567890", "meta_ads": "1234567890123456", "linkedin_ads": "510000777"}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_consent_creates_a_connection_once(api: httpx.Client, owner: Account, provider: str) -> None:
    started = api.post(
        f"/api/v1/integrations/oauth/{provider}/authorize",
        json={"name": f"{provider} via OAuth", "account_id": PROVIDERS[provider]},
        headers=owner.auth,
    )
    assert started.status_code == 200, started.text
    flow = started.json()
    query = parse_qs(urlsplit(flow["authorization_url"]).query)
    assert query["state"] == [flow["state"]] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"][0].endswith("/api/v1/integrations/oauth/callback")

    consent = httpx.get(flow["authorization_url"], follow_redirects=False, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    assert back["state"] == [flow["state"]]
    callback = {"state": flow["state"], "code": back["code"][0]}
    created = api.get("/api/v1/integrations/oauth/callback", params=callback)
    assert created.status_code == 201, created.text
    connection = created.json()
    assert (connection["provider"], connection["account_id"], connection["status"]) == (
        provider,
        PROVIDERS[provider],
        "active",
    )
    assert_problem(api.get("/api/v1/integrations/oauth/callback", params=callback), 400, "invalid-state")
    listed = api.get(
        "/api/v1/integrations/connections", params={"provider": provider}, headers=owner.auth
    ).json()
    assert [c["id"] for c in listed["items"]] == [connection["id"]]


def test_a_forged_state_and_a_provider_without_oauth_are_refused(api: httpx.Client, owner: Account) -> None:
    assert_problem(
        api.get("/api/v1/integrations/oauth/callback", params={"state": "forged", "code": "x"}), 400
    )
    refused = api.post(
        "/api/v1/integrations/oauth/mautic/authorize",
        json={"name": "m", "account_id": "m1"},
        headers=owner.auth,
    )
    assert_problem(refused, 422, "not-oauth")
