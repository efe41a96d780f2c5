"""The fake Google Ads REST API over real HTTP: header checks (token, developer-token,
login-customer-id), searchStream shapes (int64 strings, micros, doubles, only requested fields),
GAQL filtering and errors, campaign/budget mutates (atomic, partialFailure, validateOnly),
injected RESOURCE_EXHAUSTED with retryDelay, OAuth refresh/expiry/invalid_grant and PKCE."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from fakes._server import FakeServer
from fakes.google_ads import make_app

MANAGER, CLIENT, DIRECT = "9999999999", "1234567890", "5555555555"
TOKEN = "fake-google-access-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "developer-token": "fake-developer-token"}
MANAGED = {**HEADERS, "login-customer-id": MANAGER}
CLIENT_FORM = {"client_id": "fake-google-client-id", "client_secret": "fake-google-client-secret"}
SEED = {
    "accounts": [
        {"id": MANAGER, "name": "Agency MCC", "manager": True},
        {"id": "123-456-7890", "name": "Shop", "currency": "EUR", "manager_id": MANAGER},
        {"id": DIRECT, "name": "Direct", "currency": "JPY"},
    ],
    "campaigns": [
        {"id": 101, "account_id": CLIENT, "name": "Brand", "status": "ACTIVE", "daily_budget": 25},
        {"id": 102, "account_id": CLIENT, "name": "Generic", "status": "PAUSED", "daily_budget": 10},
        {"id": 103, "account_id": CLIENT, "name": "Old", "status": "REMOVED"},
    ],
    "metrics": [
        {
            "campaign_id": 101,
            "date": "2024-01-01",
            "impressions": 1000,
            "clicks": 50,
            "cost": 12.34,
            "conversions": 2.5,
            "conversion_value": 99.9,
        },
        {
            "campaign_id": 101,
            "date": "2024-01-02",
            "impressions": 500,
            "clicks": 20,
            "cost": 5,
            "conversions": 1,
            "conversion_value": 40,
        },
        {
            "campaign_id": 102,
            "date": "2024-01-02",
            "impressions": 300,
            "clicks": 3,
            "cost": 0.99,
            "conversions": 0,
            "conversion_value": 0,
        },
    ],
}
DAILY = (
    "SELECT campaign.id, campaign.name, campaign.status, segments.date, metrics.impressions, "
    "metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM campaign "
    "WHERE segments.date BETWEEN '2024-01-01' AND '2024-01-31'"
)


@pytest.fixture
async def google() -> AsyncIterator[httpx.AsyncClient]:
    async with FakeServer(make_app(token_ttl=60)) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.post("/_fake/seed", json=SEED)).status_code == 200
        yield client


async def stream(
    client: httpx.AsyncClient, query: str, customer: str = CLIENT, headers: Any = None
) -> httpx.Response:
    return await client.post(
        f"/v17/customers/{customer}/googleAds:searchStream", json={"query": query}, headers=headers or MANAGED
    )


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [row for batch in response.json() for row in batch.get("results", [])]


def failure(response: httpx.Response) -> dict[str, Any]:
    details = response.json()["error"]["details"][0]
    assert details["@type"] == "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure"
    return details["errors"][0]


async def test_headers_are_checked_in_googles_error_shape(google: httpx.AsyncClient) -> None:
    query = "SELECT campaign.id FROM campaign"
    missing = await stream(google, query, headers={"developer-token": "fake-developer-token"})
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    bad = await stream(google, query, headers={**MANAGED, "Authorization": "Bearer nope"})
    assert failure(bad)["errorCode"] == {"authenticationError": "OAUTH_TOKEN_INVALID"}
    no_dev = await stream(
        google, query, headers={"Authorization": f"Bearer {TOKEN}", "login-customer-id": MANAGER}
    )
    assert no_dev.status_code == 401
    assert failure(no_dev)["errorCode"] == {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}
    wrong_dev = await stream(google, query, headers={**MANAGED, "developer-token": "other"})
    assert wrong_dev.status_code == 401
    no_login = await stream(google, query, headers=HEADERS)
    assert no_login.status_code == 403
    assert no_login.json()["error"]["status"] == "PERMISSION_DENIED"
    assert failure(no_login)["errorCode"] == {"authorizationError": "USER_PERMISSION_DENIED"}
    wrong_login = await stream(google, query, headers={**HEADERS, "login-customer-id": DIRECT})
    assert failure(wrong_login)["errorCode"] == {
        "authorizationError": "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION"
    }
    unknown = await stream(google, query, customer="1111111111", headers=HEADERS)
    assert unknown.status_code == 403
    assert len(rows(await stream(google, query))) == 3
    assert rows(await stream(google, "SELECT customer.id FROM customer", customer=DIRECT, headers=HEADERS))


async def test_search_stream_row_shapes(google: httpx.AsyncClient) -> None:
    response = await stream(google, DAILY)
    batches = response.json()
    assert isinstance(batches, list) and len(batches) == 1
    assert batches[0]["fieldMask"] == (
        "campaign.id,campaign.name,campaign.status,segments.date,metrics.impressions,metrics.clicks,"
        "metrics.costMicros,metrics.conversions,metrics.conversionsValue"
    )
    assert batches[0]["requestId"]
    first, second, third = rows(response)
    assert first == {
        "campaign": {
            "resourceName": f"customers/{CLIENT}/campaigns/101",
            "id": "101",
            "name": "Brand",
            "status": "ENABLED",
        },
        "segments": {"date": "2024-01-01"},
        "metrics": {
            "impressions": "1000",
            "clicks": "50",
            "costMicros": "12340000",
            "conversions": 2.5,
            "conversionsValue": 99.9,
        },
    }
    assert second["segments"]["date"] == "2024-01-02" and second["metrics"]["costMicros"] == "5000000"
    assert third["campaign"]["status"] == "PAUSED" and third["metrics"]["conversions"] == 0.0
    only_id = rows(await stream(google, "SELECT campaign.id FROM campaign WHERE campaign.id = 101"))
    assert only_id == [{"campaign": {"resourceName": f"customers/{CLIENT}/campaigns/101", "id": "101"}}]


async def test_gaql_filters_ordering_limit_and_aggregation(google: httpx.AsyncClient) -> None:
    totals = rows(
        await stream(
            google,
            "SELECT campaign.name, metrics.clicks, metrics.cost_micros FROM campaign "
            "WHERE segments.date >= '2024-01-01' AND segments.date <= '20240131' AND campaign.status != 'REMOVED' "
            "ORDER BY metrics.clicks DESC",
        )
    )
    assert [(r["campaign"]["name"], r["metrics"]["clicks"], r["metrics"]["costMicros"]) for r in totals] == [
        ("Brand", "70", "17340000"),
        ("Generic", "3", "990000"),
    ]
    by_id = rows(await stream(google, DAILY + " AND campaign.id IN (102, 103)"))
    assert {r["campaign"]["id"] for r in by_id} == {"102"}
    by_name = rows(
        await stream(google, DAILY + " AND campaign.name = 'Brand' ORDER BY segments.date DESC LIMIT 1")
    )
    assert [r["segments"]["date"] for r in by_name] == ["2024-01-02"]
    enabled = rows(await stream(google, "SELECT campaign.name FROM campaign WHERE campaign.status = ENABLED"))
    assert [r["campaign"]["name"] for r in enabled] == ["Brand"]
    liked = rows(await stream(google, "SELECT campaign.name FROM campaign WHERE campaign.name LIKE '%ner%'"))
    assert [r["campaign"]["name"] for r in liked] == ["Generic"]
    budgets = rows(
        await stream(
            google,
            "SELECT campaign.name, campaign_budget.amount_micros FROM campaign WHERE campaign.id = 101",
        )
    )
    assert budgets[0]["campaignBudget"]["amountMicros"] == "25000000"
    account = rows(await stream(google, "SELECT customer.currency_code, metrics.impressions FROM customer"))
    assert account[0]["customer"] == {"resourceName": f"customers/{CLIENT}", "currencyCode": "EUR"}
    assert account[0]["metrics"]["impressions"] == "1800"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT campaign.foo FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT campaign.id, segments.date FROM campaign", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        ("SELECT campaign.id FROM campaign WHERE campaign.status = 'LIVE'", "BAD_ENUM_CONSTANT"),
        ("SELECT ad_group.id FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT campaign.id FROM ad_group", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT campaign.id FROM customer", "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE"),
        ("campaign.id FROM campaign", "EXPECTED_SELECT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.name = 'x", "STRING_NOT_TERMINATED"),
        ("SELECT campaign.id FROM campaign LIMIT 0", "LIMIT_VALUE_TOO_LOW"),
    ],
)
async def test_gaql_errors(google: httpx.AsyncClient, query: str, code: str) -> None:
    response = await stream(google, query)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert failure(response)["errorCode"] == {"queryError": code}


async def test_metrics_on_a_manager_account_are_refused(google: httpx.AsyncClient) -> None:
    response = await stream(google, "SELECT metrics.clicks FROM customer", customer=MANAGER, headers=HEADERS)
    assert failure(response)["errorCode"] == {"queryError": "REQUESTED_METRICS_FOR_MANAGER"}


async def test_large_results_come_in_batches_of_ten_thousand(google: httpx.AsyncClient) -> None:
    generated = await google.post(
        "/_fake/seed",
        json={
            "generate": {
                "accounts": [DIRECT],
                "campaigns": 30,
                "days": 400,
                "end_date": "2024-12-31",
                "seed": 7,
            }
        },
    )
    assert generated.json()["generated"]["campaigns"] == 30
    query = "SELECT campaign.id, segments.date, metrics.cost_micros FROM campaign WHERE segments.date DURING LAST_30_DAYS"
    recent = await stream(
        google,
        query.replace("DURING LAST_30_DAYS", "BETWEEN '2023-01-01' AND '2024-12-31'"),
        customer=DIRECT,
        headers=HEADERS,
    )
    batches = recent.json()
    assert [len(b["results"]) for b in batches] == [10_000, 2_000]
    assert "queryResourceConsumption" in batches[-1] and "queryResourceConsumption" not in batches[0]
    assert all(int(r["metrics"]["costMicros"]) % 10_000 == 0 for b in batches for r in b["results"])
    again = await stream(
        google, query.replace("DURING LAST_30_DAYS", "= '2024-06-01'"), customer=DIRECT, headers=HEADERS
    )
    assert len(rows(again)) == 30
    empty = await stream(google, query, customer=DIRECT, headers=HEADERS)
    assert "results" not in empty.json()[0]


async def mutate(client: httpx.AsyncClient, what: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v17/customers/{CLIENT}/{what}:mutate", json=body, headers=MANAGED)


async def test_campaign_create_update_budget_and_list_by_name(google: httpx.AsyncClient) -> None:
    budget = await mutate(
        google, "campaignBudgets", {"operations": [{"create": {"name": "B", "amountMicros": "10000000"}}]}
    )
    budget_name = budget.json()["results"][0]["resourceName"]
    assert budget_name.startswith(f"customers/{CLIENT}/campaignBudgets/")
    created = await mutate(
        google,
        "campaigns",
        {
            "operations": [
                {
                    "create": {
                        "name": "Launch",
                        "status": "PAUSED",
                        "advertisingChannelType": "SEARCH",
                        "campaignBudget": budget_name,
                        "manualCpc": {},
                    }
                }
            ]
        },
    )
    resource = created.json()["results"][0]["resourceName"]
    listed = rows(
        await stream(
            google,
            "SELECT campaign.id, campaign.status, campaign.campaign_budget FROM campaign "
            "WHERE campaign.name = 'Launch'",
        )
    )
    assert listed[0]["campaign"]["status"] == "PAUSED"
    assert listed[0]["campaign"]["campaignBudget"] == budget_name
    enabled = await mutate(
        google,
        "campaigns",
        {
            "operations": [
                {"update": {"resourceName": resource, "status": "ENABLED"}, "updateMask": "status"}
            ],
            "responseContentType": "MUTABLE_RESOURCE",
        },
    )
    assert enabled.json()["results"][0]["campaign"]["status"] == "ENABLED"
    raised = await mutate(
        google,
        "campaignBudgets",
        {
            "operations": [
                {
                    "update": {"resourceName": budget_name, "amountMicros": "35000000"},
                    "updateMask": "amount_micros",
                }
            ]
        },
    )
    assert raised.status_code == 200
    amount = rows(
        await stream(
            google, "SELECT campaign_budget.amount_micros FROM campaign WHERE campaign.name = 'Launch'"
        )
    )
    assert amount[0]["campaignBudget"]["amountMicros"] == "35000000"
    odd = await mutate(
        google,
        "campaignBudgets",
        {
            "operations": [
                {
                    "update": {"resourceName": budget_name, "amountMicros": "35000001"},
                    "updateMask": "amountMicros",
                }
            ]
        },
    )
    assert failure(odd)["errorCode"] == {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"}
    in_use = await mutate(google, "campaignBudgets", {"operations": [{"remove": budget_name}]})
    assert failure(in_use)["errorCode"] == {"campaignBudgetError": "CAMPAIGN_BUDGET_IN_USE"}
    removed = await mutate(google, "campaigns", {"operations": [{"remove": resource}]})
    assert removed.json() == {"results": [{"resourceName": resource}]}
    again = await mutate(
        google,
        "campaigns",
        {"operations": [{"update": {"resourceName": resource, "status": "PAUSED"}, "updateMask": "status"}]},
    )
    assert failure(again)["errorCode"] == {"contextError": "OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE"}


async def test_mutates_are_atomic_unless_partial_failure(google: httpx.AsyncClient) -> None:
    budget = (
        f"customers/{CLIENT}/campaignBudgets/"
        + (await google.get("/_fake/state")).json()["campaigns"][0]["extra"]["budget_id"]
    )
    new = {"name": "Fresh", "advertisingChannelType": "SEARCH", "campaignBudget": budget}
    dup = {"name": "Brand", "advertisingChannelType": "SEARCH", "campaignBudget": budget}
    atomic = await mutate(google, "campaigns", {"operations": [{"create": new}, {"create": dup}]})
    assert atomic.status_code == 400
    error = failure(atomic)
    assert error["errorCode"] == {"campaignError": "DUPLICATE_CAMPAIGN_NAME"}
    assert error["location"] == {"fieldPathElements": [{"fieldName": "operations", "index": 1}]}
    assert not rows(await stream(google, "SELECT campaign.id FROM campaign WHERE campaign.name = 'Fresh'"))
    partial = await mutate(
        google, "campaigns", {"operations": [{"create": new}, {"create": dup}], "partialFailure": True}
    )
    body = partial.json()
    assert body["results"][0]["resourceName"] and body["results"][1] == {}
    assert body["partialFailureError"]["code"] == 3
    validate = await mutate(
        google, "campaigns", {"operations": [{"create": {**new, "name": "Dry"}}], "validateOnly": True}
    )
    assert validate.json() == {}
    assert not rows(await stream(google, "SELECT campaign.id FROM campaign WHERE campaign.name = 'Dry'"))
    bad_enum = await mutate(
        google, "campaigns", {"operations": [{"create": {**new, "name": "E", "status": "ON"}}]}
    )
    assert bad_enum.status_code == 400
    assert bad_enum.json()["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    no_mask = await mutate(
        google,
        "campaigns",
        {
            "operations": [
                {"update": {"resourceName": f"customers/{CLIENT}/campaigns/101", "status": "PAUSED"}}
            ]
        },
    )
    assert failure(no_mask)["errorCode"] == {"fieldMaskError": "FIELD_MASK_MISSING"}


async def test_injected_rate_limit_carries_retry_delay(google: httpx.AsyncClient) -> None:
    path = f"/v17/customers/{CLIENT}/googleAds:searchStream"
    await google.post("/_fake/fail", json={"path_prefix": path, "count": 1, "retry_after": 7})
    limited = await stream(google, "SELECT campaign.id FROM campaign")
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    error = failure(limited)
    assert error["errorCode"] == {"quotaError": "RESOURCE_EXHAUSTED"}
    assert error["details"]["quotaErrorDetails"]["retryDelay"] == "7s"
    assert (await stream(google, "SELECT campaign.id FROM campaign")).status_code == 200
    await google.post("/_fake/fail", json={"path_prefix": path, "status": 503})
    assert (await stream(google, "SELECT campaign.id FROM campaign")).json()["error"][
        "status"
    ] == "UNAVAILABLE"
    state = (await google.get("/_fake/state", params={"include_metrics": "false"})).json()
    assert state["requests"][f"POST {path}"] == 3


async def test_token_refresh_expiry_and_invalid_grant(google: httpx.AsyncClient) -> None:
    refreshed = await google.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "fake-google-refresh-token", **CLIENT_FORM},
    )
    body = refreshed.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 60
    headers = {**MANAGED, "Authorization": f"Bearer {body['access_token']}"}
    assert (await stream(google, "SELECT campaign.id FROM campaign", headers=headers)).status_code == 200
    await google.post("/_fake/clock", json={"advance": 61})
    expired = await stream(google, "SELECT campaign.id FROM campaign", headers=headers)
    assert expired.status_code == 401
    assert failure(expired)["errorCode"] == {"authenticationError": "OAUTH_TOKEN_EXPIRED"}
    await google.post("/_fake/oauth/fail_refresh", json={"count": 1})
    form = {"grant_type": "refresh_token", "refresh_token": "fake-google-refresh-token", **CLIENT_FORM}
    revoked = await google.post("/token", data=form)
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert (await google.post("/token", data=form)).status_code == 200
    wrong_secret = await google.post("/token", data={**form, "client_secret": "nope"})
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    unknown = await google.post("/token", data={**form, "refresh_token": "1//nope"})
    assert unknown.json()["error"] == "invalid_grant"
    oauth = (await google.get("/_fake/state")).json()["oauth"]
    assert oauth["refreshes"] == 2 and oauth["fail_refresh"] == 0


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def test_authorization_code_with_pkce(google: httpx.AsyncClient) -> None:
    verifier = "v" * 50
    redirect = "http://app.test/oauth/google/callback"
    consent = await google.get(
        "/o/oauth2/v2/auth",
        params={
            "client_id": "fake-google-client-id",
            "redirect_uri": redirect,
            "response_type": "code",
            "state": "xyz",
            "scope": "https://www.googleapis.com/auth/adwords",
            "access_type": "offline",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        },
    )
    assert consent.status_code == 302
    location = urlparse(consent.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/oauth/google/callback" and query["state"] == ["xyz"]
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": redirect,
        **CLIENT_FORM,
    }
    wrong = await google.post("/token", data={**form, "code_verifier": "w" * 50})
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    consent_again = await google.get(consent.request.url)
    form["code"] = parse_qs(urlparse(consent_again.headers["Location"]).query)["code"][0]
    mismatch = await google.post(
        "/token", data={**form, "redirect_uri": "http://evil.test/", "code_verifier": verifier}
    )
    assert mismatch.json()["error"] == "redirect_uri_mismatch"
    code = (
        await google.post(
            "/_fake/oauth/code", json={"redirect_uri": redirect, "code_challenge": s256(verifier)}
        )
    ).json()
    form["code"] = code["code"]
    tokens = await google.post("/token", data={**form, "code_verifier": verifier})
    assert {"access_token", "refresh_token", "expires_in"} <= set(tokens.json())
    reused = await google.post("/token", data={**form, "code_verifier": verifier})
    assert reused.json()["error"] == "invalid_grant"
    await google.post("/_fake/oauth/deny", json={"count": 1})
    denied = await google.get(consent.request.url)
    assert parse_qs(urlparse(denied.headers["Location"]).query)["error"] == ["access_denied"]


async def test_delay_makes_clients_time_out_and_reset_clears_everything(google: httpx.AsyncClient) -> None:
    await google.post("/_fake/delay", json={"seconds": 0.5, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        await google.post(
            f"/v17/customers/{CLIENT}/googleAds:searchStream",
            json={"query": "SELECT campaign.id FROM campaign"},
            headers=MANAGED,
            timeout=0.1,
        )
    assert (await stream(google, "SELECT campaign.id FROM campaign")).status_code == 200
    await google.post("/_fake/reset")
    state = (await google.get("/_fake/state")).json()
    assert state["accounts"] == [] and state["requests"] == {} and state["oauth"]["grants"] == []
    listed = await google.get("/v17/customers:listAccessibleCustomers", headers=HEADERS)
    assert listed.json() == {"resourceNames": []}
