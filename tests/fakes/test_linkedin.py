"""The fake LinkedIn Marketing API over real HTTP: the LinkedIn-Version / Rest.li / token gateway
checks, Rest.li 2.0 query parsing, adAnalytics shapes (numbers vs decimal strings, pivotValues,
granularities) and start/count paging, adCampaigns search/create/partial update, injected 429
with Retry-After, and OAuth (code + PKCE, refresh keeping the refresh token, expiry, invalid_grant)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest

from fakes._server import FakeServer
from fakes.linkedin import make_app, parse_restli, urn_list

ACCOUNT = "510000001"
TOKEN = "fake-linkedin-access-token"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "LinkedIn-Version": "202405",
    "X-Restli-Protocol-Version": "2.0.0",
}
CLIENT = {"client_id": "fake-linkedin-client-id", "client_secret": "fake-linkedin-client-secret"}
SEED = {
    "accounts": [{"id": f"urn:li:sponsoredAccount:{ACCOUNT}", "name": "B2B", "currency": "EUR"}],
    "campaigns": [
        {"id": 123, "account_id": ACCOUNT, "name": "Webinar, Q1", "status": "ACTIVE", "daily_budget": 10},
        {"id": 124, "account_id": ACCOUNT, "name": "Ebook", "status": "PAUSED"},
    ],
    "metrics": [
        {
            "campaign_id": 123,
            "date": "2024-01-01",
            "impressions": 10,
            "clicks": 2,
            "cost": 12.34,
            "conversions": 1,
            "conversion_value": 50,
        },
        {"campaign_id": 123, "date": "2024-01-03", "impressions": 20, "clicks": 1, "cost": 3.3},
        {"campaign_id": 124, "date": "2024-02-01", "impressions": 5, "clicks": 0, "cost": 1},
    ],
}
JANUARY = "(start:(year:2024,month:1,day:1),end:(year:2024,month:1,day:31))"
FIELDS = "impressions,clicks,costInLocalCurrency,externalWebsiteConversions,conversionValueInLocalCurrency,dateRange,pivotValues"


@pytest.fixture
async def linkedin() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        FakeServer(make_app(token_ttl=600)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        assert (await client.post("/_fake/seed", json=SEED)).status_code == 200
        yield client


def analytics_url(
    date_range: str = JANUARY, granularity: str = "DAILY", facet: str = "", **extra: str
) -> str:
    facet = facet or "campaigns=" + urn_list("urn:li:sponsoredCampaign:", ["123", "124"])
    tail = "".join(f"&{k}={v}" for k, v in extra.items())
    return (
        f"/rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity={granularity}&dateRange={date_range}"
        f"&{facet}{tail}"
    )


def test_restli_values_parse() -> None:
    assert parse_restli("List(urn%3Ali%3AsponsoredCampaign%3A1,urn%3Ali%3AsponsoredCampaign%3A2)") == [
        "urn:li:sponsoredCampaign:1",
        "urn:li:sponsoredCampaign:2",
    ]
    assert parse_restli(JANUARY) == {
        "start": {"year": "2024", "month": "1", "day": "1"},
        "end": {"year": "2024", "month": "1", "day": "31"},
    }
    assert parse_restli(
        "(name:(values:List(Webinar%2C%20Q1)),status:(values:List(ACTIVE,PAUSED)),test:false)"
    ) == {
        "name": {"values": ["Webinar, Q1"]},
        "status": {"values": ["ACTIVE", "PAUSED"]},
        "test": "false",
    }
    assert parse_restli("List()") == [] and parse_restli("()") == {}
    for broken in ("List(a,b", "(a:1", "(a)"):
        with pytest.raises(ValueError):
            parse_restli(broken)


async def test_gateway_checks_version_protocol_and_token(linkedin: httpx.AsyncClient) -> None:
    no_version = await linkedin.get(
        analytics_url(), headers={k: v for k, v in HEADERS.items() if k != "LinkedIn-Version"}
    )
    assert no_version.status_code == 400
    assert no_version.json()["code"] == "VERSION_MISSING" and no_version.json()["status"] == 400
    old = await linkedin.get(analytics_url(), headers={**HEADERS, "LinkedIn-Version": "202001"})
    assert old.status_code == 426 and old.json()["code"] == "NONEXISTENT_VERSION"
    no_restli = await linkedin.get(
        analytics_url(), headers={k: v for k, v in HEADERS.items() if "Restli" not in k}
    )
    assert no_restli.status_code == 400
    no_token = await linkedin.get(
        analytics_url(), headers={k: v for k, v in HEADERS.items() if k != "Authorization"}
    )
    assert no_token.status_code == 401
    assert (no_token.json()["serviceErrorCode"], no_token.json()["code"]) == (65604, "EMPTY_ACCESS_TOKEN")
    bad = await linkedin.get(analytics_url(), headers={**HEADERS, "Authorization": "Bearer nope"})
    assert bad.json()["serviceErrorCode"] == 65600
    assert (await linkedin.get(analytics_url(), headers=HEADERS)).status_code == 200


async def test_analytics_daily_shapes(linkedin: httpx.AsyncClient) -> None:
    response = await linkedin.get(analytics_url(fields=FIELDS), headers=HEADERS)
    body = response.json()
    assert body["paging"] == {"start": 0, "count": 10, "links": []}
    assert body["elements"] == [
        {
            "impressions": 10,
            "clicks": 2,
            "costInLocalCurrency": "12.34",
            "externalWebsiteConversions": 1,
            "conversionValueInLocalCurrency": "50.0",
            "dateRange": {
                "start": {"year": 2024, "month": 1, "day": 1},
                "end": {"year": 2024, "month": 1, "day": 1},
            },
            "pivotValues": ["urn:li:sponsoredCampaign:123"],
        },
        {
            "impressions": 20,
            "clicks": 1,
            "costInLocalCurrency": "3.3",
            "externalWebsiteConversions": 0,
            "conversionValueInLocalCurrency": "0.0",
            "dateRange": {
                "start": {"year": 2024, "month": 1, "day": 3},
                "end": {"year": 2024, "month": 1, "day": 3},
            },
            "pivotValues": ["urn:li:sponsoredCampaign:123"],
        },
    ]
    default = (await linkedin.get(analytics_url(), headers=HEADERS)).json()["elements"]
    assert default[0] == {"impressions": 10, "clicks": 2}


async def test_analytics_granularity_facets_and_errors(linkedin: httpx.AsyncClient) -> None:
    quarter = "(start:(year:2024,month:1,day:1),end:(year:2024,month:3,day:31))"
    monthly = (
        await linkedin.get(
            analytics_url(quarter, "MONTHLY", fields="costInLocalCurrency,dateRange,pivotValues"),
            headers=HEADERS,
        )
    ).json()["elements"]
    assert [
        (e["dateRange"]["start"]["month"], e["pivotValues"][0][-3:], e["costInLocalCurrency"])
        for e in monthly
    ] == [
        (1, "123", "15.64"),
        (2, "124", "1.0"),
    ]
    assert monthly[0]["dateRange"]["end"] == {"year": 2024, "month": 1, "day": 31}
    account_facet = "accounts=" + urn_list("urn:li:sponsoredAccount:", [ACCOUNT])
    total = (
        await linkedin.get(
            analytics_url(quarter, "ALL", account_facet, fields="impressions"), headers=HEADERS
        )
    ).json()
    assert sorted(e["impressions"] for e in total["elements"]) == [5, 30]
    open_ended = (
        await linkedin.get(analytics_url("(start:(year:2024,month:1,day:2))", "ALL"), headers=HEADERS)
    ).json()
    assert sorted(e["impressions"] for e in open_ended["elements"]) == [5, 20]
    statistics = await linkedin.get(
        f"/rest/adAnalytics?q=statistics&pivots=List(ACCOUNT,CAMPAIGN)&timeGranularity=ALL&dateRange={JANUARY}"
        f"&{account_facet}&fields=pivotValues,impressions",
        headers=HEADERS,
    )
    assert statistics.json()["elements"] == [
        {
            "pivotValues": [f"urn:li:sponsoredAccount:{ACCOUNT}", "urn:li:sponsoredCampaign:123"],
            "impressions": 30,
        }
    ]
    unknown_field = await linkedin.get(analytics_url(fields="impressions,bogus"), headers=HEADERS)
    assert unknown_field.status_code == 400 and "bogus" in unknown_field.json()["message"]
    encoded = await linkedin.get(analytics_url(date_range=quote(JANUARY, safe="")), headers=HEADERS)
    assert encoded.status_code == 400
    no_facet = await linkedin.get(analytics_url(facet="x=1"), headers=HEADERS)
    assert no_facet.status_code == 400


async def test_analytics_start_count_paging(linkedin: httpx.AsyncClient) -> None:
    await linkedin.post(
        "/_fake/seed",
        json={
            "generate": {
                "accounts": [ACCOUNT],
                "campaigns": 2,
                "days": 5,
                "end_date": "2024-01-31",
                "seed": 1,
            }
        },
    )
    url = analytics_url(
        "(start:(year:2024,month:1,day:27),end:(year:2024,month:1,day:31))",
        facet="accounts=" + urn_list("urn:li:sponsoredAccount:", [ACCOUNT]),
        count="4",
        fields="pivotValues,dateRange",
    )
    seen = []
    page = (await linkedin.get(url, headers=HEADERS)).json()
    while True:
        seen.extend((e["pivotValues"][0], e["dateRange"]["start"]["day"]) for e in page["elements"])
        nxt = [link["href"] for link in page["paging"]["links"] if link["rel"] == "next"]
        if not nxt:
            break
        page = (await linkedin.get(nxt[0], headers=HEADERS)).json()
    assert len(seen) == 10 and len(set(seen)) == 10


async def test_campaign_create_search_and_partial_update(linkedin: httpx.AsyncClient) -> None:
    base = f"/rest/adAccounts/{ACCOUNT}/adCampaigns"
    created = await linkedin.post(
        base,
        headers=HEADERS,
        json={
            "account": f"urn:li:sponsoredAccount:{ACCOUNT}",
            "name": "Launch, EU",
            "type": "SPONSORED_UPDATES",
            "costType": "CPC",
            "status": "DRAFT",
            "dailyBudget": {"amount": "25.00", "currencyCode": "EUR"},
        },
    )
    assert created.status_code == 201 and created.content == b""
    campaign_id = created.headers["x-restli-id"]
    search = f"{base}?q=search&search=(name:(values:List({quote('Launch, EU', safe='')})))"
    found = (await linkedin.get(search, headers=HEADERS)).json()
    assert [(e["id"], e["status"], e["dailyBudget"]) for e in found["elements"]] == [
        (int(campaign_id), "DRAFT", {"amount": "25.00", "currencyCode": "EUR"})
    ]
    patch = {**HEADERS, "X-RestLi-Method": "PARTIAL_UPDATE"}
    activated = await linkedin.post(
        f"{base}/{campaign_id}", headers=patch, json={"patch": {"$set": {"status": "ACTIVE"}}}
    )
    assert activated.status_code == 204
    budget = {"patch": {"$set": {"dailyBudget": {"amount": "40.00", "currencyCode": "EUR"}}}}
    assert (await linkedin.post(f"{base}/{campaign_id}", headers=patch, json=budget)).status_code == 204
    fetched = (await linkedin.get(f"{base}/{campaign_id}", headers=HEADERS)).json()
    assert (fetched["status"], fetched["dailyBudget"]["amount"], fetched["version"]["versionTag"]) == (
        "ACTIVE",
        "40.00",
        "3",
    )
    active = (
        await linkedin.get(f"{base}?q=search&search=(status:(values:List(ACTIVE)))", headers=HEADERS)
    ).json()
    assert {e["name"] for e in active["elements"]} == {"Webinar, Q1", "Launch, EU"}
    no_method = await linkedin.post(f"{base}/{campaign_id}", headers=HEADERS, json=budget)
    assert no_method.status_code == 405
    wrong_currency = await linkedin.post(
        base,
        headers=HEADERS,
        json={
            "name": "X",
            "type": "SPONSORED_UPDATES",
            "costType": "CPM",
            "dailyBudget": {"amount": "5", "currencyCode": "USD"},
        },
    )
    assert wrong_currency.status_code == 400
    assert (
        wrong_currency.json()["errorDetails"]["inputErrors"][0]["input"]["inputPath"]["fieldPath"]
        == "dailyBudget/currencyCode"
    )
    missing = await linkedin.post(f"{base}/999", headers=patch, json=budget)
    assert missing.status_code == 404


async def test_campaign_search_pages(linkedin: httpx.AsyncClient) -> None:
    await linkedin.post("/_fake/seed", json={"generate": {"accounts": [ACCOUNT], "campaigns": 12, "days": 1}})
    base = f"/rest/adAccounts/{ACCOUNT}/adCampaigns?q=search"
    first = (await linkedin.get(base, headers=HEADERS)).json()
    assert len(first["elements"]) == 10 and first["paging"]["total"] == 14
    second = (await linkedin.get(first["paging"]["links"][0]["href"], headers=HEADERS)).json()
    assert len(second["elements"]) == 4
    by_token = (await linkedin.get(base + "&pageSize=8", headers=HEADERS)).json()
    token = by_token["metadata"]["nextPageToken"]
    rest = (await linkedin.get(base + f"&pageSize=8&pageToken={token}", headers=HEADERS)).json()
    assert len(by_token["elements"]) + len(rest["elements"]) == 14 and "nextPageToken" not in rest["metadata"]


async def test_throttling_sends_retry_after(linkedin: httpx.AsyncClient) -> None:
    await linkedin.post(
        "/_fake/fail", json={"path_prefix": "/rest/adAnalytics", "count": 2, "retry_after": 12}
    )
    for _ in range(2):
        limited = await linkedin.get(analytics_url(), headers=HEADERS)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "12"
        assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert (await linkedin.get(analytics_url(), headers=HEADERS)).status_code == 200
    state = (await linkedin.get("/_fake/state")).json()
    assert state["requests"]["GET /rest/adAnalytics"] == 3 and state["failures"] == []


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def token(client: httpx.AsyncClient, **form: Any) -> httpx.Response:
    return await client.post("/oauth/v2/accessToken", data={**CLIENT, **form})


async def test_oauth_code_refresh_expiry_and_invalid_grant(linkedin: httpx.AsyncClient) -> None:
    redirect, verifier = "http://app.test/oauth/linkedin/callback", "k" * 64
    consent = await linkedin.get(
        "/oauth/v2/authorization",
        params={
            "response_type": "code",
            "client_id": CLIENT["client_id"],
            "redirect_uri": redirect,
            "state": "st",
            "scope": "r_ads rw_ads r_ads_reporting",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        },
    )
    query = parse_qs(urlparse(consent.headers["Location"]).query)
    assert query["state"] == ["st"]
    granted = await token(
        linkedin,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=redirect,
        code_verifier=verifier,
    )
    body: dict[str, Any] = granted.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "scope"}
    assert body["expires_in"] == 600 and body["refresh_token_expires_in"] == 31_536_000
    headers = {**HEADERS, "Authorization": f"Bearer {body['access_token']}"}
    assert (await linkedin.get(analytics_url(), headers=headers)).status_code == 200
    await linkedin.post("/_fake/clock", json={"advance": 601})
    expired = await linkedin.get(analytics_url(), headers=headers)
    assert expired.status_code == 401 and expired.json()["code"] == "EXPIRED_ACCESS_TOKEN"
    refreshed = (
        await token(linkedin, grant_type="refresh_token", refresh_token=body["refresh_token"])
    ).json()
    assert refreshed["refresh_token"] == body["refresh_token"]
    assert refreshed["refresh_token_expires_in"] == 31_536_000 - 601
    assert (
        await linkedin.get(
            analytics_url(), headers={**HEADERS, "Authorization": f"Bearer {refreshed['access_token']}"}
        )
    ).status_code == 200
    await linkedin.post("/_fake/oauth/fail_refresh", json={"count": 1})
    refused = await token(linkedin, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    await linkedin.post("/_fake/oauth/revoke", json={"token": body["refresh_token"]})
    revoked = await token(linkedin, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert revoked.json()["error"] == "invalid_grant"
    bad_client = await token(linkedin, grant_type="refresh_token", refresh_token="x", client_secret="nope")
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    missing = await token(linkedin, grant_type="authorization_code", redirect_uri=redirect)
    assert missing.json()["error"] == "invalid_request"
    oauth = (await linkedin.get("/_fake/state")).json()["oauth"]
    assert oauth["refreshes"] == 1 and oauth["issued"] == 2
