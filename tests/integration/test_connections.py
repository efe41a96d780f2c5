"""Connections against the live service: providers, write-only sealed credentials, updates,
tenancy, and the Mautic credentials campaign_management reads with its service token."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.conftest import Fleet
from tests.support.kit import Account, assert_problem, register_owner, service_headers
from tests.support.stack import Stack

SECRET = "s3cr3t-refresh-" + uuid.uuid4().hex


def connect(api: httpx.Client, account: Account, **fields: Any) -> dict[str, Any]:
    body = {
        "provider": "google_ads",
        "name": "Main account",
        "account_id": uuid.uuid4().hex[:10],
        "credentials": {"access_token": "fake-google-access-token", "refresh_token": SECRET},
        **fields,
    }
    answer = api.post("/api/v1/integrations/connections", json=body, headers=account.auth)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_providers_say_what_each_connection_needs(api: httpx.Client, owner: Account) -> None:
    answer = api.get("/api/v1/integrations/providers", headers=owner.auth)
    assert answer.status_code == 200
    providers = {p["name"]: p for p in answer.json()["items"]}
    assert set(providers) == {"google_ads", "meta_ads", "linkedin_ads", "mautic", "stripe"}
    assert providers["google_ads"]["trailing_days"] == 14 and providers["meta_ads"]["trailing_days"] == 28
    assert "https://www.googleapis.com/auth/adwords" in providers["google_ads"]["scopes"]
    assert [f["name"] for f in providers["mautic"]["options"]] == ["base_url"]
    assert providers["stripe"]["connectable"] is False


async def test_credentials_are_write_only_and_sealed(
    integration_fleet: Fleet, owner: Account, owner_engine: AsyncEngine
) -> None:
    async with httpx.AsyncClient(base_url=integration_fleet.url) as client:
        answer = await client.post(
            "/api/v1/integrations/connections",
            json={
                "provider": "google_ads",
                "name": "Sealed",
                "account_id": uuid.uuid4().hex[:10],
                "credentials": {"access_token": "fake-google-access-token", "refresh_token": SECRET},
            },
            headers=owner.auth,
        )
        created = answer.json()
        listed = (await client.get("/api/v1/integrations/connections", headers=owner.auth)).text
    assert answer.status_code == 201 and SECRET not in answer.text and "credentials" not in created
    assert SECRET not in listed
    async with owner_engine.connect() as conn:
        sealed = (
            await conn.execute(
                text("select sealed from integrations.connections where id = :id"), {"id": created["id"]}
            )
        ).scalar_one()
    assert SECRET.encode() not in sealed and b"refresh_token" not in sealed


def test_bad_connections_are_422_naming_the_field(api: httpx.Client, owner: Account) -> None:
    cases = [
        ({"provider": "myspace"}, "unknown-provider"),
        ({"provider": "stripe"}, "unknown-provider"),
        ({"credentials": {"refresh_token": "x"}}, "invalid-connection"),
        ({"credentials": {"access_token": "x", "password": "y"}}, "invalid-connection"),
        ({"provider": "mautic", "credentials": {"username": "u", "password": "p"}}, "invalid-connection"),
    ]
    for fields, code in cases:
        body = {"provider": "google_ads", "name": "x", "account_id": "123", "credentials": {}, **fields}
        answer = api.post("/api/v1/integrations/connections", json=body, headers=owner.auth)
        assert_problem(answer, 422, code)


def test_an_account_connects_once_per_tenant(api: httpx.Client, owner: Account) -> None:
    first = connect(api, owner)
    again = api.post(
        "/api/v1/integrations/connections",
        json={
            "provider": "google_ads",
            "name": "Again",
            "account_id": first["account_id"],
            "credentials": {"access_token": "a"},
        },
        headers=owner.auth,
    )
    body = assert_problem(again, 409, "already-connected")
    assert body["connection_id"] == first["id"]


def test_update_options_interval_and_status(api: httpx.Client, owner: Account) -> None:
    created = connect(api, owner, sync_interval_minutes=60)
    assert created["next_sync_at"] is not None
    path = f"/api/v1/integrations/connections/{created['id']}"
    changed = api.patch(
        path,
        json={
            "name": "Renamed",
            "options": {"login_customer_id": "9999999999"},
            "sync_interval_minutes": None,
        },
        headers=owner.auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["options"], body["sync_interval_minutes"], body["next_sync_at"]) == (
        "Renamed",
        {"login_customer_id": "9999999999"},
        None,
        None,
    )
    disabled = api.patch(path, json={"status": "disabled"}, headers=owner.auth).json()
    assert disabled["status"] == "disabled"
    refused = api.post(f"{path}/sync", headers=owner.auth)
    assert_problem(refused, 409, "connection-not-active")
    assert api.delete(path, headers=owner.auth).status_code == 204
    assert_problem(api.get(path, headers=owner.auth), 404)


def test_another_tenants_connection_and_sync_are_404_on_every_route(
    api: httpx.Client, owner: Account, user_service: str
) -> None:
    created = connect(api, owner)
    sync = api.post(f"/api/v1/integrations/connections/{created['id']}/sync", headers=owner.auth).json()
    ids = {"connection_id": created["id"], "sync_id": sync["id"]}
    stranger = register_owner(user_service)
    document = api.get("/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if "{" in path and "{provider}" not in path  # provider routes name no tenant object
        for method in item
    ]
    assert len(routes) >= 7, routes
    for method, template in routes:
        assert set(re.findall(r"{(\w+)}", template)) <= set(ids), f"teach this test to make a {template}"
        answer = api.request(
            method, template.format(**ids), json={} if method != "GET" else None, headers=stranger.auth
        )
        assert_problem(answer, 404)
    assert api.get(f"/api/v1/integrations/connections/{created['id']}", headers=owner.auth).status_code == 200
    assert api.get(f"/api/v1/integrations/syncs/{sync['id']}", headers=owner.auth).status_code == 200


def test_mautic_credentials_reach_only_a_service_token(
    api: httpx.Client, owner: Account, user_service: str, stack: Stack
) -> None:
    assert_problem(api.get("/api/v1/integrations/mautic/credentials", headers=owner.auth), 403)
    as_service = service_headers(user_service, stack, "campaign_management", owner.tenant_id)
    assert_problem(api.get("/api/v1/integrations/mautic/credentials", headers=as_service), 404)
    connect(
        api,
        owner,
        provider="mautic",
        account_id="mautic-main",
        credentials={"username": "api", "password": "mautic-pass"},
        options={"base_url": "https://mautic.example.com"},
    )
    answer = api.get("/api/v1/integrations/mautic/credentials", headers=as_service)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"connection_id": None} == {
        "connection_id": None,
        "base_url": "https://mautic.example.com",
        "username": "api",
        "password": "mautic-pass",
        "client_id": None,
        "client_secret": None,
    }
