"""The ad-platform connectors against the provider fakes over real HTTP on 127.0.0.1: seeded
metrics come back as the right daily rows (across pages), campaign creation is idempotent by
our key, pause / activate / budget reach the platform, 429 bursts are retried with the
provider's hints, a persistent 5xx opens the circuit of that account only, an expired token is
an "auth" problem, and the OAuth code exchange (PKCE) and refresh work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.integration.clients.base import CampaignDraft, Grant, ProviderError, stamped_key
from tests.integration.fakes_fixtures import PAGE_SIZE, PLATFORMS, Platform, pkce_pair

JAN_1, JAN_2, JAN_3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
DAY = {
    "date": "2026-01-02",
    "impressions": 1000,
    "clicks": 40,
    "cost": 12.34,
    "conversions": 2,
    "conversion_value": 99.5,
}


@pytest.fixture(params=sorted(PLATFORMS))
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with PLATFORMS[request.param]() as running:
        yield running


@pytest.fixture
async def google() -> AsyncIterator[Platform]:
    async with PLATFORMS["google_ads"]() as running:
        yield running


@pytest.fixture
async def meta() -> AsyncIterator[Platform]:
    async with PLATFORMS["meta"]() as running:
        yield running


@pytest.fixture
async def linkedin() -> AsyncIterator[Platform]:
    async with PLATFORMS["linkedin"]() as running:
        yield running


async def seed_day(platform: Platform, campaign_id: int = 7001) -> None:
    """One campaign with a day inside the window and days on both sides of it."""
    account = platform.accounts[0]
    rows = [
        {**DAY, "campaign_id": campaign_id, "account_id": account, "date": day}
        for day in ("2025-12-31", "2026-01-02", "2026-01-04")
    ]
    await platform.seed({"metrics": rows})


def draft(key: str = "launch-0001", budget_minor: int = 2500) -> CampaignDraft:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    return CampaignDraft(key, "Spring sale", budget_minor, "EUR", start, start + timedelta(days=30))


# --- metrics -----------------------------------------------------------------------------------


async def test_google_rows_for_a_window(google: Platform) -> None:
    await seed_day(google)
    rows = await google.connector.fetch_daily(google.grant(), JAN_1, JAN_3)
    assert rows == [
        {
            "external_campaign_id": "7001",
            "channel": "google_ads",
            "date": "2026-01-02",
            "currency": "EUR",
            "impressions": 1000,
            "clicks": 40,
            "cost_micros": 12_340_000,
            "conversions": 2.0,
            "conversions_value": 99.5,
        }
    ]


async def test_google_reaches_a_client_account_through_its_manager(google: Platform) -> None:
    await google.seed(
        {
            "accounts": [
                {"id": "9999999999", "manager": True},
                {"id": "3333333333", "currency": "EUR", "manager_id": "9999999999"},
            ],
            "metrics": [{**DAY, "campaign_id": 7002, "account_id": "3333333333"}],
        }
    )
    managed = google.grant("3333333333")
    with pytest.raises(ProviderError) as refused:
        await google.connector.fetch_daily(managed, JAN_1, JAN_3)
    assert refused.value.kind == "rejected"
    extras = {**google.extras, "login_customer_id": "999-999-9999"}
    rows = await google.connector.fetch_daily(Grant("3333333333", google.token, extras), JAN_1, JAN_3)
    assert [r["external_campaign_id"] for r in rows] == ["7002"]


async def test_meta_rows_keep_graph_strings_and_every_action_type(meta: Platform) -> None:
    await seed_day(meta)
    [row] = await meta.connector.fetch_daily(meta.grant(), JAN_1, JAN_3)
    purchases = ["offsite_conversion.fb_pixel_purchase", "omni_purchase", "purchase"]
    assert {k: v for k, v in row.items() if not k.startswith("action")} == {
        "external_campaign_id": "7001",
        "channel": "meta_ads",
        "date": "2026-01-02",
        "currency": "EUR",
        "impressions": "1000",
        "clicks": "40",
        "spend": "12.34",
    }
    assert {"action_type": "link_click", "value": "40"} in row["actions"]
    assert [a for a in row["actions"] if a["action_type"] in purchases] == [
        {"action_type": t, "value": "2"} for t in purchases
    ]
    assert row["action_values"] == [{"action_type": t, "value": "99.50"} for t in purchases]


async def test_linkedin_rows_carry_the_account_currency(linkedin: Platform) -> None:
    await seed_day(linkedin)
    rows = await linkedin.connector.fetch_daily(linkedin.grant(), JAN_1, JAN_3)
    assert rows == [
        {
            "external_campaign_id": "7001",
            "channel": "linkedin_ads",
            "date": "2026-01-02",
            "currency": "EUR",
            "impressions": 1000,
            "clicks": 40,
            "costInLocalCurrency": "12.34",
            "externalWebsiteConversions": 2,
            "conversionValueInLocalCurrency": "99.5",
        }
    ]


async def test_every_page_is_read(platform: Platform) -> None:
    account = platform.accounts[0]
    spec = {"campaigns": 3, "days": 10, "accounts": [account], "end_date": "2026-01-10"}
    await platform.seed({"generate": spec})
    rows = await platform.connector.fetch_daily(platform.grant(), JAN_1, date(2026, 1, 10))
    assert len(rows) == 30
    assert len({(r["external_campaign_id"], r["date"]) for r in rows}) == 30
    assert {r["date"] for r in rows} == {f"2026-01-{d:02d}" for d in range(1, 11)}
    pages = 1 if platform.name == "google_ads" else -(-30 // PAGE_SIZE)  # searchStream: one answer
    assert await platform.calls(platform.metrics_call(account)) == pages


# --- campaigns ---------------------------------------------------------------------------------


async def test_create_is_idempotent_by_key(platform: Platform) -> None:
    account = platform.accounts[0]
    created = await platform.connector.create_campaign(platform.grant(), draft())
    assert created.status == "running" and created.key == "launch-0001"
    assert stamped_key(created.name) == "launch-0001" and created.name.startswith("Spring sale")
    assert await platform.connector.find_campaign(platform.grant(), "launch-0001") == created
    again = await platform.connector.create_campaign(platform.grant(), draft())
    assert again.external_id == created.external_id
    [stored] = await platform.campaigns(account)
    assert stored["id"] == created.external_id and stored["name"] == created.name
    assert stored["daily_budget"] == 25
    assert await platform.connector.find_campaign(platform.grant(), "launch-0002") is None
    assert await platform.connector.find_campaign(platform.grant(platform.accounts[1]), "launch-0001") is None


async def test_pause_activate_and_budget_reach_the_platform(platform: Platform) -> None:
    grant = platform.grant()
    created = await platform.connector.create_campaign(grant, draft())

    async def stored() -> dict[str, Any]:
        [campaign] = await platform.campaigns(platform.accounts[0])
        return campaign

    await platform.connector.set_running(grant, created.external_id, False)
    assert (await stored())["status"] == platform.paused
    found = await platform.connector.find_campaign(grant, "launch-0001")
    assert found is not None and found.status == "stopped"
    await platform.connector.set_running(grant, created.external_id, True)
    assert (await stored())["status"] == platform.running
    await platform.connector.set_budget(grant, created.external_id, 4050, "EUR")
    assert (await stored())["daily_budget"] == 40.5


async def test_a_budget_in_another_currency_is_rejected(platform: Platform) -> None:
    created = await platform.connector.create_campaign(platform.grant(), draft())
    with pytest.raises(ProviderError) as refused:
        await platform.connector.set_budget(platform.grant(), created.external_id, 4000, "USD")
    assert refused.value.kind == "rejected"


async def test_a_create_that_failed_with_5xx_is_not_resent(platform: Platform) -> None:
    """The provider may have acted on it; the next delivery finds the campaign by key instead."""
    account = platform.accounts[0]
    await platform.fail(path_prefix=platform.create_path(account), method="POST", status=500, count=1)
    with pytest.raises(ProviderError) as failed:
        await platform.connector.create_campaign(platform.grant(), draft())
    assert failed.value.kind == "unavailable"
    assert (await platform.state())["requests"][f"POST {platform.create_path(account)}"] == 1
    created = await platform.connector.create_campaign(platform.grant(), draft())
    assert [c["id"] for c in await platform.campaigns(account)] == [created.external_id]


# --- failures ----------------------------------------------------------------------------------


def burst(platform: Platform, account: str, seconds: int) -> dict[str, Any]:
    """A 429-style refusal of the metrics call in each provider's shape, asking to wait `seconds`."""
    prefix = platform.metrics_call(account).split(" ", 1)[1]
    if platform.name == "meta":  # code 80000 (ads insights throttle), wait in minutes in the usage header
        return {
            "path_prefix": prefix,
            "status": 400,
            "code": 80000,
            "estimated_time_to_regain_access": seconds // 60,
        }
    if platform.name == "google_ads":  # RESOURCE_EXHAUSTED with quotaErrorDetails.retryDelay
        return {"path_prefix": prefix, "status": 429, "retry_delay": f"{seconds}s"}
    return {"path_prefix": prefix, "status": 429, "retry_after": seconds}  # Retry-After


async def test_a_429_burst_is_retried(platform: Platform) -> None:
    account = platform.accounts[0]
    await seed_day(platform)
    await platform.fail(**burst(platform, account, 0), count=2)
    rows = await platform.connector.fetch_daily(platform.grant(), JAN_1, JAN_3)
    assert [r["external_campaign_id"] for r in rows] == ["7001"]
    assert await platform.calls(platform.metrics_call(account)) == 3


async def test_a_wait_longer_than_the_cap_is_handed_to_the_caller(platform: Platform) -> None:
    account = platform.accounts[0]
    await platform.fail(**burst(platform, account, 300), count=1)
    with pytest.raises(ProviderError) as throttled:
        await platform.connector.fetch_daily(platform.grant(), JAN_1, JAN_3)
    assert throttled.value.kind == "rate_limited" and throttled.value.retry_after == 300
    assert await platform.calls(platform.metrics_call(account)) == 1


async def test_a_persistent_5xx_opens_the_circuit_of_that_account_only(platform: Platform) -> None:
    broken, healthy = platform.accounts
    await seed_day(platform)
    await platform.fail(path_prefix=platform.account_prefix(broken), status=500, count=-1)
    for _ in range(2):  # fail_max=2 calls, each retried 3 times
        with pytest.raises(ProviderError) as failed:
            await platform.connector.fetch_daily(platform.grant(broken), JAN_1, JAN_3)
        assert failed.value.kind == "unavailable"
    assert await platform.requests_for(broken) == 2 * 4
    with pytest.raises(ProviderError) as open_circuit:
        await platform.connector.fetch_daily(platform.grant(broken), JAN_1, JAN_3)
    assert open_circuit.value.kind == "unavailable" and (open_circuit.value.retry_after or 0) > 0
    assert await platform.requests_for(broken) == 2 * 4  # not called at all
    assert await platform.connector.fetch_daily(platform.grant(healthy), JAN_1, JAN_3) == []


async def test_an_expired_token_is_an_auth_problem_and_never_trips_the_circuit(platform: Platform) -> None:
    await platform.seed({"access_tokens": [{"token": "expired-token-value", "expires_in": -60}]})
    for _ in range(3):
        with pytest.raises(ProviderError) as refused:
            await platform.connector.fetch_daily(platform.grant(token="expired-token-value"), JAN_1, JAN_3)
        assert refused.value.kind == "auth"
        assert "expired-token-value" not in str(refused.value)
    assert await platform.requests_for(platform.accounts[0]) == 3  # an auth failure is not retried
    assert await platform.connector.fetch_daily(platform.grant(), JAN_1, JAN_3) == []


# --- OAuth -------------------------------------------------------------------------------------


async def consent(platform: Platform, challenge: str) -> str:
    """Follows the authorization URL to the fake's consent screen; returns the code."""
    url = platform.connector.authorization_url(platform.app, "state-123", challenge)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    location = urlparse(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == platform.app.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    return query["code"][0]


async def test_code_exchange_with_pkce_and_refresh(platform: Platform) -> None:
    verifier, challenge = pkce_pair()
    code = await consent(platform, challenge)
    tokens = await platform.connector.exchange_code(platform.app, code, verifier)
    assert tokens.expires_at is not None and tokens.expires_at > datetime.now(UTC)
    assert await platform.connector.fetch_daily(platform.grant(token=tokens.access_token), JAN_1, JAN_3) == []
    # Meta has no refresh token: its current (long-lived) access token is exchanged instead.
    held = tokens.refresh_token if platform.name != "meta" else tokens.access_token
    assert (tokens.refresh_token is None) == (platform.name == "meta")
    assert held is not None
    fresh = await platform.connector.refresh(platform.app, held)
    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token == tokens.refresh_token
    assert await platform.connector.fetch_daily(platform.grant(token=fresh.access_token), JAN_1, JAN_3) == []
    assert (await platform.state())["oauth"]["refreshes"] == (2 if platform.name == "meta" else 1)


async def test_a_wrong_code_verifier_is_refused(platform: Platform) -> None:
    _, challenge = pkce_pair()
    code = await consent(platform, challenge)
    with pytest.raises(ProviderError) as refused:
        await platform.connector.exchange_code(platform.app, code, pkce_pair()[0])
    assert refused.value.kind in ("auth", "rejected")
    assert platform.app.client_secret not in str(refused.value)


async def test_a_dead_refresh_grant_needs_consent_again(platform: Platform) -> None:
    with pytest.raises(ProviderError) as refused:
        await platform.connector.refresh(platform.app, "no-such-refresh-token")
    assert refused.value.kind == "auth"
    assert "no-such-refresh-token" not in str(refused.value)
