"""The fake Meta Marketing API over real HTTP: access-token checks (parameter or header, 190
with subcodes), insights shapes (strings, several action types for one purchase), cursor paging
to the end, usage headers, injected rate limits (17/613/80000 with time to regain access),
campaign create/list-by-name/update/delete, and the OAuth code exchange / long-lived tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from fakes._server import FakeServer
from fakes.meta import make_app

ACCOUNT, BUSINESS = "111222333", "987654321"
TOKEN = {"access_token": "fake-meta-access-token"}
APP = {"client_id": "fake-meta-app-id", "client_secret": "fake-meta-app-secret"}
RANGE = json.dumps({"since": "2024-01-01", "until": "2024-01-31"})
SEED = {
    "accounts": [{"id": f"act_{ACCOUNT}", "name": "Shop", "currency": "USD", "business_id": BUSINESS}],
    "campaigns": [
        {
            "id": "120200000000000011",
            "account_id": ACCOUNT,
            "name": "Prospecting",
            "status": "ACTIVE",
            "objective": "OUTCOME_SALES",
            "daily_budget": 50,
        },
        {
            "id": "120200000000000012",
            "account_id": ACCOUNT,
            "name": "Retargeting",
            "status": "PAUSED",
            "objective": "OUTCOME_SALES",
        },
    ],
    "metrics": [
        {
            "campaign_id": "120200000000000011",
            "date": "2024-01-01",
            "impressions": 1200,
            "clicks": 40,
            "cost": 23.5,
            "conversions": 2,
            "conversion_value": 120.5,
        },
        {"campaign_id": "120200000000000011", "date": "2024-01-02", "impressions": 0, "clicks": 0, "cost": 0},
        {
            "campaign_id": "120200000000000012",
            "date": "2024-01-02",
            "impressions": 300,
            "clicks": 6,
            "cost": 4.1,
        },
    ],
}
FIELDS = "campaign_id,campaign_name,impressions,clicks,spend,actions,action_values"


@pytest.fixture
async def meta() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        FakeServer(make_app(token_ttl=3600, long_lived_ttl=5_184_000)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        assert (await client.post("/_fake/seed", json=SEED)).status_code == 200
        yield client


async def insights(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    query = {
        "level": "campaign",
        "time_increment": "1",
        "fields": FIELDS,
        "time_range": RANGE,
        **TOKEN,
        **params,
    }
    return await client.get(
        f"/v19.0/act_{ACCOUNT}/insights", params={k: v for k, v in query.items() if v is not None}
    )


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()["error"]
    assert body["fbtrace_id"]
    return body


async def test_access_token_checks(meta: httpx.AsyncClient) -> None:
    missing = await insights(meta, access_token=None)
    assert missing.status_code == 400 and error(missing)["code"] == 104
    bad = await insights(meta, access_token="nope")
    assert bad.status_code == 400
    assert error(bad)["code"] == 190 and error(bad)["type"] == "OAuthException"
    assert "invalid_token" in bad.headers["WWW-Authenticate"]
    header = await meta.get(f"/v19.0/act_{ACCOUNT}/insights", headers={"Authorization": "Bearer nope"})
    assert header.status_code == 401 and error(header)["code"] == 190
    good = await meta.get(
        f"/v19.0/act_{ACCOUNT}/insights",
        params={"time_range": RANGE},
        headers={"Authorization": "Bearer fake-meta-access-token"},
    )
    assert good.status_code == 200
    unknown = await meta.get("/v19.0/act_404/insights", params=TOKEN)
    assert error(unknown)["code"] == 100 and error(unknown)["error_subcode"] == 33


async def test_insights_shapes_are_strings_with_several_purchase_types(meta: httpx.AsyncClient) -> None:
    body = (await insights(meta)).json()
    first, second = body["data"]
    assert first == {
        "campaign_id": "120200000000000011",
        "campaign_name": "Prospecting",
        "impressions": "1200",
        "clicks": "40",
        "spend": "23.50",
        "actions": [
            {"action_type": "link_click", "value": "40"},
            {"action_type": "landing_page_view", "value": "34"},
            {"action_type": "page_engagement", "value": "40"},
            {"action_type": "post_engagement", "value": "40"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
            {"action_type": "omni_purchase", "value": "2"},
            {"action_type": "purchase", "value": "2"},
        ],
        "action_values": [
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "120.50"},
            {"action_type": "omni_purchase", "value": "120.50"},
            {"action_type": "purchase", "value": "120.50"},
        ],
        "date_start": "2024-01-01",
        "date_stop": "2024-01-01",
    }
    assert second["campaign_id"] == "120200000000000012" and second["date_start"] == "2024-01-02"
    assert "action_values" not in second
    assert "next" not in body["paging"]
    account = (
        await insights(meta, level=None, time_increment=None, fields="spend,impressions,ctr,cpc")
    ).json()
    assert account["data"] == [
        {
            "spend": "27.60",
            "impressions": "1500",
            "ctr": "3.066667",
            "cpc": "0.6",
            "date_start": "2024-01-01",
            "date_stop": "2024-01-31",
        }
    ]
    filtered = await insights(
        meta,
        filtering=json.dumps([{"field": "campaign.id", "operator": "IN", "value": ["120200000000000012"]}]),
    )
    assert [r["campaign_id"] for r in filtered.json()["data"]] == ["120200000000000012"]
    bad_field = await insights(meta, fields="impressions,bogus")
    assert error(bad_field)["code"] == 100 and "bogus" in error(bad_field)["message"]


async def test_cursor_paging_reaches_the_end(meta: httpx.AsyncClient) -> None:
    spec = {"accounts": [ACCOUNT], "campaigns": 5, "days": 7, "end_date": "2024-02-07", "seed": 3}
    await meta.post("/_fake/seed", json={"generate": spec})
    seen: list[tuple[str, str]] = []
    response = await insights(
        meta, limit=10, time_range=json.dumps({"since": "2024-02-01", "until": "2024-02-07"})
    )
    pages = 0
    while True:
        body = response.json()
        pages += 1
        seen.extend((row["campaign_id"], row["date_start"]) for row in body["data"])
        assert set(body["paging"]["cursors"]) == {"before", "after"}
        if pages == 2:
            assert "previous" in body["paging"]
        if "next" not in body["paging"]:
            break
        assert body["paging"]["next"].startswith("http://127.0.0.1")
        response = await meta.get(body["paging"]["next"])
    assert pages == 4 and len(seen) == 35 and len(set(seen)) == 35
    bad = await insights(meta, after="not-a-cursor")
    assert error(bad)["code"] == 100


async def test_usage_headers_and_injected_rate_limits(meta: httpx.AsyncClient) -> None:
    normal = await insights(meta)
    usage = json.loads(normal.headers["X-Business-Use-Case-Usage"])
    assert usage[BUSINESS][0]["type"] == "ads_insights"
    assert usage[BUSINESS][0]["estimated_time_to_regain_access"] == 0
    assert set(json.loads(normal.headers["X-App-Usage"])) == {"call_count", "total_cputime", "total_time"}
    await meta.post("/_fake/usage", json={"call_count": 80})
    assert (
        json.loads((await insights(meta)).headers["X-Business-Use-Case-Usage"])[BUSINESS][0]["call_count"]
        == 80
    )
    prefix = f"/v19.0/act_{ACCOUNT}/insights"
    await meta.post("/_fake/fail", json={"path_prefix": prefix, "count": 1, "retry_after": 300})
    limited = await insights(meta)
    assert limited.status_code == 400
    body = error(limited)
    assert (body["code"], body["error_subcode"], body["message"]) == (
        17,
        2446079,
        "User request limit reached",
    )
    assert body["is_transient"] is True
    throttled = json.loads(limited.headers["X-Business-Use-Case-Usage"])[BUSINESS][0]
    assert throttled["call_count"] == 100 and throttled["estimated_time_to_regain_access"] == 5
    assert (await insights(meta)).status_code == 200
    await meta.post("/_fake/fail", json={"path_prefix": prefix, "code": 613, "status": 429})
    too_many = await insights(meta)
    assert too_many.status_code == 429 and error(too_many)["code"] == 613
    await meta.post(
        "/_fake/fail",
        json={
            "path_prefix": "/v19.0/act_",
            "code": 80004,
            "method": "POST",
            "estimated_time_to_regain_access": 12,
        },
    )
    create = await meta.post(f"/v19.0/act_{ACCOUNT}/campaigns", data={**TOKEN, "name": "x"})
    assert error(create)["code"] == 80004
    assert (
        json.loads(create.headers["X-Business-Use-Case-Usage"])[BUSINESS][0][
            "estimated_time_to_regain_access"
        ]
        == 12
    )


async def test_campaign_create_list_by_name_update_and_delete(meta: httpx.AsyncClient) -> None:
    form = {
        **TOKEN,
        "name": "Spring sale",
        "objective": "OUTCOME_SALES",
        "status": "PAUSED",
        "special_ad_categories": "[]",
        "daily_budget": "2500",
    }
    created = await meta.post(f"/v19.0/act_{ACCOUNT}/campaigns", data=form)
    campaign_id = created.json()["id"]
    assert created.status_code == 200 and campaign_id.isdigit()
    as_json = await meta.post(
        f"/v19.0/act_{ACCOUNT}/campaigns",
        json={
            **TOKEN,
            "name": "Spring sale",
            "objective": "OUTCOME_TRAFFIC",
            "special_ad_categories": [],
        },
    )
    assert as_json.status_code == 200
    missing = await meta.post(
        f"/v19.0/act_{ACCOUNT}/campaigns", data={**TOKEN, "name": "x", "objective": "OUTCOME_SALES"}
    )
    assert "special_ad_categories" in error(missing)["message"]
    legacy = await meta.post(f"/v19.0/act_{ACCOUNT}/campaigns", data={**form, "objective": "CONVERSIONS"})
    assert error(legacy)["code"] == 100
    by_name = await meta.get(
        f"/v19.0/act_{ACCOUNT}/campaigns",
        params={
            **TOKEN,
            "fields": "id,name,status,daily_budget,objective",
            "filtering": json.dumps([{"field": "name", "operator": "EQUAL", "value": "Spring sale"}]),
        },
    )
    listed = by_name.json()["data"]
    assert len(listed) == 2
    assert listed[0] == {
        "id": campaign_id,
        "name": "Spring sale",
        "status": "PAUSED",
        "daily_budget": "2500",
        "objective": "OUTCOME_SALES",
    }
    updated = await meta.post(
        f"/v19.0/{campaign_id}", data={**TOKEN, "status": "ACTIVE", "daily_budget": "4000"}
    )
    assert updated.json() == {"success": True}
    node = (await meta.get(f"/v19.0/{campaign_id}", params={**TOKEN, "fields": "status,daily_budget"})).json()
    assert node == {"status": "ACTIVE", "daily_budget": "4000"}
    assert (await meta.delete(f"/v19.0/{campaign_id}", params=TOKEN)).json() == {"success": True}
    default = await meta.get(f"/v19.0/act_{ACCOUNT}/campaigns", params=TOKEN)
    assert campaign_id not in {c["id"] for c in default.json()["data"]}
    deleted = await meta.get(
        f"/v19.0/act_{ACCOUNT}/campaigns", params={**TOKEN, "effective_status": '["DELETED"]'}
    )
    assert [c["id"] for c in deleted.json()["data"]] == [campaign_id]
    unknown = await meta.post("/v19.0/42", data={**TOKEN, "status": "PAUSED"})
    assert error(unknown)["error_subcode"] == 33


async def test_code_exchange_long_lived_tokens_and_expiry(meta: httpx.AsyncClient) -> None:
    redirect = "http://app.test/oauth/meta/callback"
    consent = await meta.get(
        "/v19.0/dialog/oauth",
        params={
            "client_id": APP["client_id"],
            "redirect_uri": redirect,
            "state": "s1",
            "scope": "ads_read,ads_management",
        },
    )
    assert consent.status_code == 302
    query = parse_qs(urlparse(consent.headers["Location"]).query)
    assert query["state"] == ["s1"]
    exchange = {**APP, "redirect_uri": redirect, "code": query["code"][0]}
    short = await meta.get("/v19.0/oauth/access_token", params=exchange)
    body = short.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    reused = await meta.get("/v19.0/oauth/access_token", params=exchange)
    assert error(reused)["error_subcode"] == 36009
    long = await meta.get(
        "/v19.0/oauth/access_token",
        params={**APP, "grant_type": "fb_exchange_token", "fb_exchange_token": body["access_token"]},
    )
    long_token = long.json()["access_token"]
    assert long.json()["expires_in"] == 5_184_000
    await meta.post("/_fake/clock", json={"advance": 3601})
    expired = await insights(meta, access_token=body["access_token"])
    assert error(expired)["code"] == 190 and error(expired)["error_subcode"] == 463
    assert (await insights(meta, access_token=long_token)).status_code == 200
    await meta.post("/_fake/oauth/fail_refresh", json={"count": 1})
    refused = await meta.get(
        "/v19.0/oauth/access_token",
        params={**APP, "grant_type": "fb_exchange_token", "fb_exchange_token": long_token},
    )
    assert error(refused)["code"] == 190 and error(refused)["error_subcode"] == 460
    secret = await meta.get("/v19.0/oauth/access_token", params={**exchange, "client_secret": "nope"})
    assert error(secret)["code"] == 1
    state = (await meta.get("/_fake/state", params={"include_metrics": "false"})).json()
    assert [g["grant_type"] for g in state["oauth"]["grants"]] == ["authorization_code", "fb_exchange_token"]
