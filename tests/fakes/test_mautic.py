"""The fake Mautic over real HTTP: Basic and OAuth2 auth (expiry, 401 shape), lists keyed by id with
string totals, PUT creating where PATCH 404s, batch calls and their 200-item limit, the hourly rate
limit and injected 429 storms with Retry-After, stats filtering, and the Mautic-Version header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from fakes._server import FakeServer
from fakes.mautic import BATCH_LIMIT_STATUS, MAUTIC_VERSION, make_app, mautic_state

BASIC = ("admin", "admin")
CLIENT = {"grant_type": "client_credentials", "client_id": "bizosaas", "client_secret": "bizosaas-secret"}


@asynccontextmanager
async def serve(**config: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        FakeServer(make_app(**config)) as server,
        httpx.AsyncClient(base_url=server.url, auth=BASIC) as client,
    ):
        yield client


@pytest.fixture
async def mautic() -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as client:
        yield client


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["code"] == response.status_code
    assert {"code", "message", "details", "type"} <= set(error)
    return error


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/oauth/v2/token", data={**CLIENT, **form}, auth=None)


# --- auth ------------------------------------------------------------------------------------------


async def test_basic_auth_and_the_version_header(mautic: httpx.AsyncClient) -> None:
    ok = await mautic.get("/api/stages")
    assert ok.status_code == 200
    assert ok.headers["Mautic-Version"] == MAUTIC_VERSION
    assert ok.headers["X-RateLimit-Limit"] == "100000"

    wrong = await mautic.get("/api/stages", auth=("admin", "nope"))
    assert wrong.status_code == 401
    assert only_error(wrong) == {
        "code": 401,
        "message": "Authorization denied, invalid credentials.",
        "details": [],
        "type": "access_denied",
    }
    assert wrong.headers["Mautic-Version"] == MAUTIC_VERSION

    missing = await mautic.get("/api/stages", auth=None)
    assert missing.status_code == 401 and only_error(missing)["message"] == "API authorization denied."
    # the firewall covers all of /api, unknown paths included
    assert (await mautic.get("/api/nothing-here", auth=None)).status_code == 401
    unknown = await mautic.get("/api/nothing-here")
    assert unknown.status_code == 404 and only_error(unknown)["code"] == 404


async def test_oauth2_client_credentials_and_expiry() -> None:
    async with serve(token_ttl=60) as mautic:
        granted = await token(mautic)
        assert granted.status_code == 200
        body = granted.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 60
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await mautic.get("/api/campaigns", headers=bearer, auth=None)).status_code == 200
        query = await mautic.get("/api/campaigns", params={"access_token": body["access_token"]}, auth=None)
        assert query.status_code == 200

        await mautic.post("/_fake/advance", json={"seconds": 61})
        expired = await mautic.get("/api/campaigns", headers=bearer, auth=None)
        assert expired.status_code == 401
        error = only_error(expired)
        assert error["message"] == "The access token provided has expired."
        assert error["type"] == "invalid_grant" and error["details"] == []
        assert "invalid_grant" in expired.headers["WWW-Authenticate"]

        bogus = await mautic.get("/api/campaigns", headers={"Authorization": "Bearer x"}, auth=None)
        assert only_error(bogus)["message"] == "The access token provided is invalid."

        state = (await mautic.get("/_fake/state")).json()
        assert [g["client_id"] for g in state["token_grants"]] == ["bizosaas"]


async def test_token_endpoint_errors_and_a_really_short_lifetime() -> None:
    async with serve(token_ttl=0.05) as mautic:
        bad_secret = await token(mautic, client_secret="wrong")
        assert bad_secret.status_code == 400  # oauth2-php: invalid_client is a 400
        assert only_error(bad_secret)["type"] == "invalid_client"
        assert only_error(await token(mautic, grant_type="password"))["type"] == "unauthorized_client"
        assert only_error(await token(mautic, grant_type=""))["type"] == "invalid_request"
        # client credentials in a Basic header work too
        basic = await mautic.post(
            "/oauth/v2/token", data={"grant_type": "client_credentials"}, auth=("bizosaas", "bizosaas-secret")
        )
        assert basic.status_code == 200

        bearer = {"Authorization": f"Bearer {(await token(mautic)).json()['access_token']}"}
        await asyncio.sleep(0.08)
        assert (await mautic.get("/api/stages", headers=bearer, auth=None)).status_code == 401


# --- resources -------------------------------------------------------------------------------------


async def test_lists_are_keyed_by_id_with_a_string_total(mautic: httpx.AsyncClient) -> None:
    for name, weight in [("Lead", 1), ("MQL", 5), ("Customer", 9)]:
        created = await mautic.post("/api/stages/new", json={"name": name, "weight": weight})
        assert created.status_code == 201
        stage = created.json()["stage"]
        assert isinstance(stage["id"], int) and stage["dateAdded"] and stage["isPublished"] is True

    first = (await mautic.get("/api/stages", params={"limit": 2})).json()
    assert first["total"] == "3"
    assert list(first["stages"]) == ["1", "2"] and first["stages"]["2"]["name"] == "MQL"
    rest = (await mautic.get("/api/stages", params={"start": 2, "limit": 2})).json()
    assert rest["total"] == "3" and list(rest["stages"]) == ["3"]
    ordered = (await mautic.get("/api/stages", params={"orderBy": "weight", "orderByDir": "DESC"})).json()
    assert [s["name"] for s in ordered["stages"].values()] == ["Customer", "MQL", "Lead"]
    found = (await mautic.get("/api/stages", params={"search": "cust"})).json()
    assert found["total"] == "1" and list(found["stages"]) == ["3"]

    # PHP's json_encode: an empty list is [], not {}
    assert (await mautic.get("/api/campaigns")).json() == {"total": "0", "campaigns": []}

    segment = (await mautic.post("/api/segments/new", json={"name": "Funnel audience"})).json()["list"]
    assert segment["id"] == 1 and segment["alias"] == "funnel-audience"  # ids count per resource
    assert list((await mautic.get("/api/segments")).json()["lists"]) == ["1"]

    got = await mautic.get("/api/stages/2")
    assert got.json()["stage"]["weight"] == 5
    missing = await mautic.get("/api/stages/99")
    assert missing.status_code == 404 and only_error(missing)["message"] == "Item was not found."

    deleted = await mautic.delete("/api/stages/2/delete")
    assert deleted.status_code == 200
    assert deleted.json()["stage"]["name"] == "MQL" and deleted.json()["stage"]["id"] is None
    assert (await mautic.get("/api/stages/2")).status_code == 404


async def test_validation_errors(mautic: httpx.AsyncClient) -> None:
    response = await mautic.post("/api/points/new", json={"type": "form.submit", "delta": 5})
    assert response.status_code == 400
    error = only_error(response)
    assert error["message"] == "name: A name is required."
    assert error["details"] == {"name": ["A name is required."]}
    # a failed create does not use up an id
    assert (await mautic.post("/api/points/new", json={"name": "Form", "delta": 5})).json()["point"][
        "id"
    ] == 1
    garbled = await mautic.post(
        "/api/points/new", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert garbled.status_code == 400 and only_error(garbled)["code"] == 400


async def test_put_creates_where_patch_404s(mautic: httpx.AsyncClient) -> None:
    patched = await mautic.patch("/api/stages/42/edit", json={"name": "Ghost"})
    assert patched.status_code == 404 and only_error(patched)["code"] == 404

    created = await mautic.put("/api/stages/42/edit", json={"name": "Back again", "description": "d"})
    assert created.status_code == 201
    new_id = created.json()["stage"]["id"]
    assert new_id == 1  # Mautic creates it under a new id, not the one in the URL

    merged = await mautic.patch(f"/api/stages/{new_id}/edit", json={"weight": 3})
    assert merged.status_code == 200
    stage = merged.json()["stage"]
    assert (stage["name"], stage["description"], stage["weight"]) == ("Back again", "d", 3)
    assert merged.json()["stage"]["dateModified"] is not None

    replaced = await mautic.put(f"/api/stages/{new_id}/edit", json={"name": "Replaced"})
    assert replaced.status_code == 200
    stage = replaced.json()["stage"]
    assert (stage["name"], stage["description"], stage["weight"]) == ("Replaced", None, 0)


async def test_campaign_events_and_segments_and_point_triggers(mautic: httpx.AsyncClient) -> None:
    segment_id = (await mautic.post("/api/segments/new", json={"name": "Audience"})).json()["list"]["id"]
    step = {"type": "email.send", "eventType": "action", "triggerMode": "interval", "properties": {}}
    events = [
        {
            **step,
            "id": "new_1",
            "name": "Welcome",
            "order": 1,
            "triggerInterval": 0,
            "triggerIntervalUnit": "d",
        },
        {**step, "id": "new_2", "name": "Follow", "order": 2, "parent": "new_1", "triggerInterval": 2},
    ]
    body = {"name": "Nurture", "events": events, "lists": [{"id": segment_id}]}
    campaign = (await mautic.post("/api/campaigns/new", json=body)).json()["campaign"]
    first, second = campaign["events"]
    assert isinstance(first["id"], int) and second["parent"] == {"id": first["id"]}
    assert campaign["lists"] == [{"id": segment_id, "name": "Audience", "alias": "audience"}]

    trigger = {
        "name": "Enter MQL",
        "points": 50,
        "isPublished": True,
        "events": [{"type": "lead.changestage", "name": "Move", "properties": {"stage": 7}}],
    }
    created = await mautic.post("/api/points/triggers/new", json=trigger)
    assert created.status_code == 201 and created.json()["trigger"]["events"][0]["id"] == 1
    await mautic.post("/api/points/new", json={"name": "Opened", "type": "email.open", "delta": 2})
    assert list((await mautic.get("/api/points/triggers")).json()["triggers"]) == ["1"]
    assert (await mautic.get("/api/points/1")).json()["point"]["type"] == "email.open"
    assert (await mautic.get("/api/points/triggers/1")).json()["trigger"]["points"] == 50


async def test_batch_calls_and_the_200_item_limit(mautic: httpx.AsyncClient) -> None:
    too_many = await mautic.post("/api/points/batch/new", json=[{"name": f"p{i}"} for i in range(201)])
    assert too_many.status_code == BATCH_LIMIT_STATUS
    assert "200" in only_error(too_many)["message"]
    assert (await mautic.get("/api/points")).json()["total"] == "0"

    full = await mautic.post(
        "/api/points/batch/new", json=[{"name": f"p{i}", "delta": i} for i in range(200)]
    )
    assert full.status_code == 201
    assert len(full.json()["points"]) == 200 and full.json()["statusCodes"] == [201] * 200

    mixed = await mautic.post("/api/stages/batch/new", json=[{"name": "A"}, {"weight": 1}, {"name": "C"}])
    body = mixed.json()
    assert mixed.status_code == 201 and body["statusCodes"] == [201, 400, 201]
    assert list(body["stages"]) == ["0", "2"]  # a hole makes PHP's array an object
    assert body["errors"]["1"]["details"] == {"name": ["A name is required."]}

    edits = [{"id": 1, "name": "A2"}, {"id": 77, "name": "nobody"}]
    edited = await mautic.patch("/api/stages/batch/edit", json=edits)
    assert edited.status_code == 200
    assert edited.json()["statusCodes"] == [200, 404] and edited.json()["stages"] == [
        edited.json()["stages"][0]
    ]
    too_many_edits = await mautic.patch("/api/stages/batch/edit", json=[{"id": 1}] * 201)
    assert too_many_edits.status_code == BATCH_LIMIT_STATUS


# --- limits and injected failures ------------------------------------------------------------------


async def test_hourly_rate_limit_per_credential() -> None:
    async with serve(hourly_limit=3) as mautic:
        for remaining in ("2", "1", "0"):
            response = await mautic.get("/api/stages")
            assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == remaining
        limited = await mautic.get("/api/stages")
        assert limited.status_code == 429
        assert "rate limit" in only_error(limited)["message"]
        assert 3590 <= int(limited.headers["Retry-After"]) <= 3600
        assert limited.headers["Mautic-Version"] == MAUTIC_VERSION

        bearer = {"Authorization": f"Bearer {(await token(mautic)).json()['access_token']}"}
        assert (await mautic.get("/api/stages", headers=bearer, auth=None)).status_code == 200

        await mautic.post("/_fake/advance", json={"seconds": 3600})
        assert (await mautic.get("/api/stages")).status_code == 200


async def test_injected_429_storm_with_retry_after(mautic: httpx.AsyncClient) -> None:
    rule = {"path_prefix": "/api/stages", "status": 429, "count": 2, "retry_after": 1}
    assert (await mautic.post("/_fake/fail", json=rule)).status_code == 200
    for _ in range(2):
        storm = await mautic.get("/api/stages")
        assert storm.status_code == 429 and storm.headers["Retry-After"] == "1"
        assert only_error(storm)["code"] == 429
    assert (await mautic.get("/api/segments")).status_code == 200  # other paths untouched
    assert (await mautic.get("/api/stages")).status_code == 200

    await mautic.post(
        "/_fake/fail", json={"path_prefix": "/oauth", "status": 503, "count": 1, "retry_after": 2}
    )
    await mautic.post("/_fake/fail", json={"path_prefix": "/api/points", "status": 500, "count": 1})
    unavailable = await token(mautic)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    broken = await mautic.get("/api/points")
    assert broken.status_code == 500 and "Retry-After" not in broken.headers


# --- stats -----------------------------------------------------------------------------------------


async def test_stats_tables_filtering_and_paging(mautic: httpx.AsyncClient) -> None:
    changes = [
        {
            "lead_id": 1,
            "stage_id": 2,
            "event_name": "Enter MQL",
            "action_name": "x",
            "date_added": "2025-01-01",
        },
        {
            "lead_id": 2,
            "stage_id": 2,
            "event_name": "Enter MQL",
            "action_name": "x",
            "date_added": "2025-01-03",
        },
        {
            "lead_id": 3,
            "stage_id": 3,
            "event_name": "Enter SQL",
            "action_name": "x",
            "date_added": "2025-01-02",
        },
    ]
    emails = [
        {"email_id": 5, "lead_id": 1, "email_address": "a@x.io", "is_read": True, "open_count": 2},
        {"email_id": 5, "lead_id": 2, "email_address": "b@x.io", "is_read": False, "open_count": 0},
    ]
    await mautic.post("/_fake/stats", json={"lead_stages_change_log": changes, "email_stats": emails})

    where = {"where[0][col]": "stage_id", "where[0][expr]": "eq", "where[0][val]": "2"}
    body = (await mautic.get("/api/stats/lead_stages_change_log", params=where)).json()
    assert body["total"] == "2"
    assert [row["lead_id"] for row in body["stats"]] == ["1", "2"]  # DBAL hands every value back as a string
    assert set(body["stats"][0]) == {"id", "lead_id", "stage_id", "event_name", "action_name", "date_added"}

    paged = {**where, "order[0][col]": "date_added", "order[0][dir]": "desc", "limit": "1", "start": "0"}
    body = (await mautic.get("/api/stats/lead_stages_change_log", params=paged)).json()
    assert body["total"] == "2" and [row["lead_id"] for row in body["stats"]] == ["2"]

    ranged = [("where[0][col]", "date_added"), ("where[0][expr]", "gt"), ("where[0][val]", "2025-01-01")]
    ranged += [("where[1][col]", "stage_id"), ("where[1][expr]", "in"), ("where[1][val][]", "3")]
    body = (await mautic.get("/api/stats/lead_stages_change_log", params=ranged)).json()
    assert [row["lead_id"] for row in body["stats"]] == ["3"]

    read = {"where[0][col]": "is_read", "where[0][expr]": "eq", "where[0][val]": "1"}
    body = (await mautic.get("/api/stats/email_stats", params=read)).json()
    assert body["total"] == "1" and body["stats"][0]["email_address"] == "a@x.io"
    assert body["stats"][0]["open_count"] == "2" and body["stats"][0]["date_read"] is None

    tables = (await mautic.get("/api/stats/no_such_table")).json()
    assert "email_stats" in tables["availableTables"]
    bad = await mautic.get("/api/stats/email_stats", params={"where[0][col]": "nope", "where[0][val]": "1"})
    assert bad.status_code == 200 and "errors" in bad.json()  # StatsApiController answers errors with 200


# --- control ---------------------------------------------------------------------------------------


async def test_state_counts_requests_and_reset_clears_everything(mautic: httpx.AsyncClient) -> None:
    await mautic.post("/api/stages/new", json={"name": "Lead"})
    await mautic.get("/api/stages/1")
    await mautic.get("/api/stages/2")
    await mautic.get("/api/stages/1", auth=None)
    state = (await mautic.get("/_fake/state")).json()
    assert state["requests"] == {"POST /api/stages/new": 1, "GET /api/stages/{id}": 3}
    assert [s["name"] for s in state["resources"]["stages"]] == ["Lead"]
    assert set(state["resources"]) == {"stages", "segments", "campaigns", "points", "triggers"}

    await mautic.post("/_fake/reset")
    state = (await mautic.get("/_fake/state")).json()
    assert state["requests"] == {} and state["resources"]["stages"] == [] and state["token_grants"] == []
    assert (await mautic.post("/api/stages/new", json={"name": "Again"})).json()["stage"]["id"] == 1


async def test_two_fakes_in_one_process_keep_their_own_state() -> None:
    one, two = make_app(), make_app(username="other", password="pw")
    async with FakeServer(one) as first, FakeServer(two) as second, httpx.AsyncClient() as client:
        await client.post(f"{first.url}/api/stages/new", json={"name": "Only here"}, auth=BASIC)
        assert (await client.get(f"{second.url}/api/stages", auth=("other", "pw"))).json()["total"] == "0"
        assert (await client.get(f"{second.url}/api/stages", auth=BASIC)).status_code == 401
    assert len(mautic_state(one).items["stages"]) == 1 and not mautic_state(two).items["stages"]
