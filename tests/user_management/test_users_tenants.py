"""Users and tenants of user_management over real HTTP: tenant isolation, RBAC, the last owner,
deactivation, role changes, tenant settings, plan changes from billing events, input validation.

Everything runs against the real uvicorn process, the session's PostgreSQL and Redis; events are
read from the real `events.user_management` stream and payments published to `events.integration`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.events.envelope import Event
from shared.events.outbox import Outbox
from tests.support.kit import assert_problem, eventually_async
from tests.user_management.helpers import (
    Registered,
    bearer,
    claims_of,
    login,
    register_tenant,
    security_log,
    stream_events,
    strong_password,
    unique_email,
    wait_for_event,
)

USERS = "/api/v1/users"
TENANT = "/api/v1/tenants/current"
PROBLEM_JSON = "application/problem+json"
INTEGRATION_STREAM = "events.integration"
INTEGRATION = Outbox("integrations", "integration")
MAX_SETTINGS_BYTES = 16_384


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
async def bus(fleet_redis: Redis) -> Redis:
    """The Redis the service uses, left as it is (its consumer group lives there)."""
    return fleet_redis


@dataclass
class Member:
    """A user created by POST /api/v1/users with a password (active at once), and signed in."""

    id: str
    email: str
    password: str
    role: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


async def add_member(
    api: httpx.AsyncClient, actor: dict[str, str], role: str, *, full_name: str = "Mia Member"
) -> Member:
    """Create an active member in the actor's tenant and log them in."""
    email, password = unique_email(role), strong_password()
    response = await api.post(
        USERS,
        json={"email": email, "full_name": full_name, "role": role, "password": password},
        headers=actor,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "active" and created["role"] == role
    signed_in = await login(api, email, password)
    assert signed_in.status_code == 200, signed_in.text
    return Member(created["id"], email, password, role, signed_in.json())


async def list_all(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every user the caller can list, following next_offset page by page."""
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = await api.get(USERS, params={**params, "limit": 100, "offset": offset}, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        offset = page["next_offset"]
    return items


async def get_user(api: httpx.AsyncClient, headers: dict[str, str], user_id: str) -> dict[str, Any]:
    response = await api.get(f"{USERS}/{user_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def current_tenant(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(TENANT, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def assert_invalid(response: httpx.Response, field: str | None = None) -> dict[str, Any]:
    """A 422 problem whose `errors` say which fields were wrong (`field` among them, if given)."""
    body = assert_problem(response, 422)
    assert isinstance(body.get("errors"), list) and body["errors"], body
    for error in body["errors"]:
        assert {"loc", "msg", "type"} <= set(error)
    if field is not None:
        assert field in [e["loc"][-1] for e in body["errors"]], body["errors"]
    return body


async def events_of(redis: Redis, event_type: str, tenant_id: str) -> list[dict[str, Any]]:
    """The events of one type and tenant now in events.user_management, oldest first."""
    return [e for e in await stream_events(redis) if e["type"] == event_type and e["tenant_id"] == tenant_id]


async def publish_payment(redis: Redis, event: Event) -> None:
    """Publish as the integration service would (the stream entry carries the JSON envelope)."""
    try:  # Recreate the group should another test module have flushed Redis (it starts at 0).
        await redis.xgroup_create(INTEGRATION_STREAM, "user_management", id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
    await redis.xadd(INTEGRATION_STREAM, {"event": event.to_json()})


def payment(event_type: str, tenant_id: str, plan: str = "pro") -> Event:
    data = {"invoice_id": f"in_{uuid.uuid4().hex[:10]}", "amount_minor": 4900, "currency": "USD"}
    if event_type == "payment.succeeded":
        data["plan"] = plan
    return INTEGRATION.build(event_type, data, tenant_id)


async def plan_is(api: httpx.AsyncClient, owner: Registered, plan: str) -> bool:
    return (await current_tenant(api, owner.headers))["plan"] == plan


# --- users inside the caller's tenant ----------------------------------------------------------


async def test_list_users_is_paginated_and_filtered_by_role(api: httpx.AsyncClient) -> None:
    """limit/offset pages cover every user exactly once; ?role= lists only that role."""
    owner = await register_tenant(api)
    analysts = [await add_member(api, owner.headers, "analyst") for _ in range(3)]
    viewer = await add_member(api, owner.headers, "viewer")
    expected = {owner.user_id, viewer.id, *(a.id for a in analysts)}

    seen: list[str] = []
    offsets: list[int | None] = []
    offset: int | None = 0
    while offset is not None:
        response = await api.get(USERS, params={"limit": 2, "offset": offset}, headers=owner.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen.extend(u["id"] for u in page["items"])
        offset = page["next_offset"]
        offsets.append(offset)
    assert offsets == [2, 4, None]
    assert len(seen) == len(set(seen)) == 5 and set(seen) == expected

    everyone = await list_all(api, owner.headers)
    assert {u["tenant_id"] for u in everyone} == {owner.tenant_id}

    only_analysts = await list_all(api, viewer.headers, role="analyst")
    assert {u["id"] for u in only_analysts} == {a.id for a in analysts}
    assert {u["role"] for u in only_analysts} == {"analyst"}

    first = (await api.get(USERS, params={"role": "analyst", "limit": 2}, headers=owner.headers)).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    last = (
        await api.get(USERS, params={"role": "analyst", "limit": 2, "offset": 2}, headers=owner.headers)
    ).json()
    assert len(last["items"]) == 1 and last["next_offset"] is None

    assert_invalid(await api.get(USERS, params={"role": "superuser"}, headers=owner.headers))
    assert_invalid(await api.get(USERS, params={"limit": 0}, headers=owner.headers))
    assert_invalid(await api.get(USERS, params={"limit": 101}, headers=owner.headers))


async def test_get_patch_and_delete_a_user_of_the_own_tenant(api: httpx.AsyncClient) -> None:
    """An owner reads, renames, re-roles and deactivates a member of their tenant."""
    owner = await register_tenant(api)
    member = await add_member(api, owner.headers, "viewer", full_name="Val Viewer")

    fetched = await get_user(api, owner.headers, member.id)
    assert fetched["email"] == member.email and fetched["full_name"] == "Val Viewer"
    assert fetched["tenant_id"] == owner.tenant_id and fetched["role"] == "viewer"

    renamed = await api.patch(
        f"{USERS}/{member.id}", json={"full_name": "  Val Renamed  "}, headers=owner.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["full_name"] == "Val Renamed"
    promoted = await api.patch(f"{USERS}/{member.id}", json={"role": "manager"}, headers=owner.headers)
    assert promoted.status_code == 200, promoted.text
    assert (await get_user(api, owner.headers, member.id))["role"] == "manager"

    deleted = await api.delete(f"{USERS}/{member.id}", headers=owner.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    after = await get_user(api, owner.headers, member.id)
    assert after["status"] == "deactivated" and after["full_name"] == "Val Renamed"
    assert (await api.delete(f"{USERS}/{member.id}", headers=owner.headers)).status_code == 204

    missing = uuid.uuid4()
    assert_problem(await api.get(f"{USERS}/{missing}", headers=owner.headers), 404)
    assert_problem(await api.patch(f"{USERS}/{missing}", json={"full_name": "X"}, headers=owner.headers), 404)
    assert_problem(await api.delete(f"{USERS}/{missing}", headers=owner.headers), 404)
    assert_invalid(await api.get(f"{USERS}/not-a-uuid", headers=owner.headers))


async def test_tenant_id_in_the_body_is_ignored(api: httpx.AsyncClient) -> None:
    """POST and PATCH with another tenant's id leave the user in the caller's tenant."""
    ours, theirs = await register_tenant(api), await register_tenant(api)
    email = unique_email("smuggled")
    created = await api.post(
        USERS,
        json={
            "email": email,
            "full_name": "Sam Smuggled",
            "role": "analyst",
            "password": strong_password(),
            "tenant_id": theirs.tenant_id,
        },
        headers=ours.headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["tenant_id"] == ours.tenant_id

    patched = await api.patch(
        f"{USERS}/{user['id']}",
        json={"full_name": "Sam Moved?", "tenant_id": theirs.tenant_id},
        headers=ours.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tenant_id"] == ours.tenant_id and patched.json()["full_name"] == "Sam Moved?"

    assert user["id"] in {u["id"] for u in await list_all(api, ours.headers)}
    assert user["id"] not in {u["id"] for u in await list_all(api, theirs.headers)}
    assert_problem(await api.get(f"{USERS}/{user['id']}", headers=theirs.headers), 404)


# --- tenant isolation --------------------------------------------------------------------------


async def test_other_tenants_users_are_invisible_and_untouchable(api: httpx.AsyncClient) -> None:
    """Every id route answers 404 for another tenant's user, which stays exactly as it was."""
    attacker, victim = await register_tenant(api), await register_tenant(api)
    target = await add_member(api, victim.headers, "analyst", full_name="Tina Target")
    before = await get_user(api, victim.headers, target.id)

    for user_id in (target.id, victim.user_id):
        assert_problem(await api.get(f"{USERS}/{user_id}", headers=attacker.headers), 404)
        for body in ({"full_name": "Pwned"}, {"role": "viewer"}, {"role": "owner"}):
            assert_problem(await api.patch(f"{USERS}/{user_id}", json=body, headers=attacker.headers), 404)
        assert_problem(await api.delete(f"{USERS}/{user_id}", headers=attacker.headers), 404)

    assert await get_user(api, victim.headers, target.id) == before
    victim_owner = await get_user(api, victim.headers, victim.user_id)
    assert victim_owner["role"] == "owner" and victim_owner["status"] == "active"
    assert (await login(api, target.email, target.password)).status_code == 200
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": target.tokens["refresh_token"]})
    assert refreshed.status_code == 200, "the victim's sessions must not have been revoked"

    listed = await list_all(api, attacker.headers)
    assert {u["tenant_id"] for u in listed} == {attacker.tenant_id}
    assert not {target.id, victim.user_id} & {u["id"] for u in listed}
    owners = await list_all(api, attacker.headers, role="owner")
    assert [u["id"] for u in owners] == [attacker.user_id]


# --- RBAC --------------------------------------------------------------------------------------


async def test_only_admins_and_owners_manage_users_and_only_owners_grant_admin(
    api: httpx.AsyncClient,
) -> None:
    """viewer/manager: 403 on every write; admin: analysts yes, admin/owner no; owner grants admin."""
    owner = await register_tenant(api)
    viewer = await add_member(api, owner.headers, "viewer")
    manager = await add_member(api, owner.headers, "manager")
    admin = await add_member(api, owner.headers, "admin")
    analyst = await add_member(api, owner.headers, "analyst")

    def new_user(role: str) -> dict[str, str]:
        return {
            "email": unique_email(role),
            "full_name": "New Person",
            "role": role,
            "password": strong_password(),
        }

    count = len(await list_all(api, owner.headers))
    for weak in (viewer, manager):
        body = assert_problem(await api.post(USERS, json=new_user("viewer"), headers=weak.headers), 403)
        assert "users:manage" in body["detail"]
        assert_problem(
            await api.patch(f"{USERS}/{analyst.id}", json={"role": "viewer"}, headers=weak.headers), 403
        )
        assert_problem(await api.delete(f"{USERS}/{analyst.id}", headers=weak.headers), 403)
    for role in ("admin", "owner"):
        assert_problem(await api.post(USERS, json=new_user(role), headers=admin.headers), 403)
    assert_problem(
        await api.patch(f"{USERS}/{analyst.id}", json={"role": "admin"}, headers=admin.headers), 403
    )
    assert len(await list_all(api, owner.headers)) == count
    assert (await get_user(api, owner.headers, analyst.id))["role"] == "analyst"

    made = await api.post(USERS, json=new_user("analyst"), headers=admin.headers)
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "analyst" and made.json()["tenant_id"] == owner.tenant_id
    assert (
        await api.patch(f"{USERS}/{analyst.id}", json={"role": "manager"}, headers=admin.headers)
    ).status_code == 200

    granted = await api.patch(f"{USERS}/{analyst.id}", json={"role": "admin"}, headers=owner.headers)
    assert granted.status_code == 200 and granted.json()["role"] == "admin"
    new_admin = await api.post(USERS, json=new_user("admin"), headers=owner.headers)
    assert new_admin.status_code == 201 and new_admin.json()["role"] == "admin"


async def test_an_admin_cannot_demote_or_deactivate_another_admin(api: httpx.AsyncClient) -> None:
    """Admins do not decide over each other: only an owner changes or removes an admin."""
    owner = await register_tenant(api)
    first, second = (
        await add_member(api, owner.headers, "admin"),
        await add_member(api, owner.headers, "admin"),
    )

    for change in ({"role": "viewer"}, {"role": "manager"}, {"full_name": "Renamed"}):
        body = assert_problem(
            await api.patch(f"{USERS}/{second.id}", json=change, headers=first.headers), 403
        )
        assert "only an owner" in body["detail"]
    assert_problem(await api.delete(f"{USERS}/{second.id}", headers=first.headers), 403)
    still = await get_user(api, owner.headers, second.id)
    assert (still["role"], still["status"], still["full_name"]) == ("admin", "active", "Mia Member")

    demoted = await api.patch(f"{USERS}/{second.id}", json={"role": "manager"}, headers=owner.headers)
    assert demoted.status_code == 200 and demoted.json()["role"] == "manager"
    # Now ranked below the first admin, the former admin is theirs to manage again.
    assert (await api.delete(f"{USERS}/{second.id}", headers=first.headers)).status_code == 204


async def test_admin_cannot_change_or_deactivate_an_owner(api: httpx.AsyncClient) -> None:
    """The owner outranks an admin: role change, rename and deactivation are 403, nothing changes."""
    owner = await register_tenant(api, full_name="Olga Owner")
    admin = await add_member(api, owner.headers, "admin")
    before = await get_user(api, owner.headers, owner.user_id)

    for role in ("admin", "viewer"):
        assert_problem(
            await api.patch(f"{USERS}/{owner.user_id}", json={"role": role}, headers=admin.headers), 403
        )
    assert_problem(
        await api.patch(f"{USERS}/{owner.user_id}", json={"full_name": "Demoted"}, headers=admin.headers), 403
    )
    assert_problem(await api.delete(f"{USERS}/{owner.user_id}", headers=admin.headers), 403)

    assert await get_user(api, owner.headers, owner.user_id) == before
    me = await api.get(f"{USERS}/me", headers=owner.headers)
    assert me.status_code == 200 and me.json()["role"] == "owner"


# --- the last owner ----------------------------------------------------------------------------


async def test_the_last_owner_can_be_neither_demoted_nor_removed(api: httpx.AsyncClient) -> None:
    """409 for the only owner; with a second owner, demoting one works and the other is then last."""
    first = await register_tenant(api)
    assert_problem(
        await api.patch(f"{USERS}/{first.user_id}", json={"role": "admin"}, headers=first.headers), 409
    )
    assert_problem(await api.delete(f"{USERS}/{first.user_id}", headers=first.headers), 409)
    still = await get_user(api, first.headers, first.user_id)
    assert still["role"] == "owner" and still["status"] == "active"

    second = await add_member(api, first.headers, "owner")
    demoted = await api.patch(f"{USERS}/{first.user_id}", json={"role": "admin"}, headers=first.headers)
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "admin"

    assert_problem(
        await api.patch(f"{USERS}/{second.id}", json={"role": "viewer"}, headers=second.headers), 409
    )
    assert_problem(await api.delete(f"{USERS}/{second.id}", headers=second.headers), 409)
    owners = await list_all(api, second.headers, role="owner")
    assert [u["id"] for u in owners] == [second.id]


async def test_two_owners_demoting_each_other_at_once_leave_an_owner(api: httpx.AsyncClient) -> None:
    """Concurrent demotions (or removals) of the last two owners: exactly one owner remains."""
    for attempt in range(6):
        first = await register_tenant(api)
        second = await add_member(api, first.headers, "owner")
        observer = await add_member(api, first.headers, "viewer")
        if attempt % 2:
            calls = [
                api.delete(f"{USERS}/{second.id}", headers=first.headers),
                api.delete(f"{USERS}/{first.user_id}", headers=second.headers),
            ]
            allowed = ([204, 401], [204, 409])
        else:
            calls = [
                api.patch(f"{USERS}/{second.id}", json={"role": "admin"}, headers=first.headers),
                api.patch(f"{USERS}/{first.user_id}", json={"role": "admin"}, headers=second.headers),
            ]
            allowed = ([200, 403], [200, 409])
        answers = await asyncio.gather(*calls)
        assert sorted(r.status_code for r in answers) in allowed, [r.text for r in answers]
        owners = await list_all(api, observer.headers, role="owner")
        assert len([u for u in owners if u["status"] == "active"]) == 1, owners


# --- deactivation ------------------------------------------------------------------------------


async def test_deactivation_ends_every_session_and_is_announced(api: httpx.AsyncClient, bus: Redis) -> None:
    """After DELETE: refresh 401, login 401, the unexpired access token 401, user.deactivated sent."""
    owner = await register_tenant(api)
    member = await add_member(api, owner.headers, "analyst")
    second_device = await login(api, member.email, member.password)
    assert second_device.status_code == 200
    assert (await api.get(f"{USERS}/me", headers=member.headers)).status_code == 200

    response = await api.delete(f"{USERS}/{member.id}", headers=owner.headers)
    assert response.status_code == 204, response.text

    for tokens in (member.tokens, second_device.json()):
        refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert_problem(refreshed, 401)
        assert_problem(await api.get(f"{USERS}/me", headers=bearer(tokens["access_token"])), 401)
    assert_problem(await login(api, member.email, member.password), 401)
    assert claims_of(member.tokens["access_token"])["exp"] > time.time(), (
        "the token itself is still unexpired"
    )

    event = await wait_for_event(
        bus, "user.deactivated", lambda e: e["data"].get("user_id") == member.id, timeout=10
    )
    assert event["tenant_id"] == owner.tenant_id
    assert event["data"]["by"] == owner.user_id
    valid_until = datetime.fromisoformat(event["data"]["tokens_valid_until"])
    assert valid_until.tzinfo is not None
    newest_expiry = claims_of(second_device.json()["access_token"])["exp"]
    assert valid_until >= datetime.fromtimestamp(newest_expiry, UTC), "must cover every issued token"
    assert (await get_user(api, owner.headers, member.id))["status"] == "deactivated"


async def test_a_deactivated_users_token_reads_nothing_more(api: httpx.AsyncClient) -> None:
    """The still-unexpired access token of a deactivated user is refused on the user and tenant reads."""
    owner = await register_tenant(api)
    member = await add_member(api, owner.headers, "viewer")
    assert (await api.get(USERS, headers=member.headers)).status_code == 200
    assert (await api.delete(f"{USERS}/{member.id}", headers=owner.headers)).status_code == 204

    assert_problem(await api.get(USERS, headers=member.headers), 401)
    assert_problem(await api.get(f"{USERS}/{owner.user_id}", headers=member.headers), 401)
    assert_problem(await api.get(TENANT, headers=member.headers), 401)


async def test_a_demoted_admins_old_token_no_longer_manages_users(api: httpx.AsyncClient) -> None:
    """The role in the database, not the one in a still-valid token, decides user and tenant writes."""
    owner = await register_tenant(api)
    admin = await add_member(api, owner.headers, "admin")
    analyst = await add_member(api, owner.headers, "analyst")
    demoted = await api.patch(f"{USERS}/{admin.id}", json={"role": "viewer"}, headers=owner.headers)
    assert demoted.status_code == 200, demoted.text
    assert claims_of(admin.tokens["access_token"])["role"] == "admin"

    count = len(await list_all(api, owner.headers))
    new_user = {
        "email": unique_email("late"),
        "full_name": "Late Hire",
        "role": "analyst",
        "password": strong_password(),
    }
    assert_problem(await api.post(USERS, json=new_user, headers=admin.headers), 403)
    assert_problem(
        await api.patch(f"{USERS}/{analyst.id}", json={"role": "viewer"}, headers=admin.headers), 403
    )
    assert_problem(await api.delete(f"{USERS}/{analyst.id}", headers=admin.headers), 403)
    assert_problem(await api.patch(TENANT, json={"name": "Hijacked"}, headers=admin.headers), 403)

    assert len(await list_all(api, owner.headers)) == count
    after = await get_user(api, owner.headers, analyst.id)
    assert after["role"] == "analyst" and after["status"] == "active"
    assert (await current_tenant(api, owner.headers))["name"] != "Hijacked"


# --- role changes ------------------------------------------------------------------------------


async def test_role_change_is_announced_and_logged_for_the_target(api: httpx.AsyncClient, bus: Redis) -> None:
    """user.role_changed carries old/new role and the actor; the target's security log shows it."""
    owner = await register_tenant(api)
    member = await add_member(api, owner.headers, "analyst")

    unchanged = await api.patch(f"{USERS}/{member.id}", json={"role": "analyst"}, headers=owner.headers)
    assert unchanged.status_code == 200
    changed = await api.patch(f"{USERS}/{member.id}", json={"role": "manager"}, headers=owner.headers)
    assert changed.status_code == 200 and changed.json()["role"] == "manager"

    event = await wait_for_event(
        bus, "user.role_changed", lambda e: e["data"].get("user_id") == member.id, timeout=10
    )
    assert event["tenant_id"] == owner.tenant_id
    assert event["data"] == {
        "user_id": member.id,
        "old_role": "analyst",
        "new_role": "manager",
        "changed_by": owner.user_id,
    }
    # The outbox publishes in commit order: a no-op PATCH before it would already be in the stream.
    assert len(await events_of(bus, "user.role_changed", owner.tenant_id)) == 1

    fresh = await login(api, member.email, member.password)
    assert fresh.status_code == 200 and claims_of(fresh.json()["access_token"])["role"] == "manager"
    entries = [
        e for e in await security_log(api, fresh.json()["access_token"]) if e["kind"] == "role_changed"
    ]
    assert len(entries) == 1
    assert entries[0]["detail"] == {"old_role": "analyst", "new_role": "manager", "by": owner.user_id}
    assert not [e for e in await security_log(api, owner.access_token) if e["kind"] == "role_changed"]


# --- the tenant --------------------------------------------------------------------------------


async def test_tenant_is_readable_by_all_and_editable_by_admins(api: httpx.AsyncClient) -> None:
    """viewer reads; admin renames and sets settings; manager gets 403 and nothing changes."""
    owner = await register_tenant(api, tenant_name="Original Agency")
    viewer = await add_member(api, owner.headers, "viewer")
    manager = await add_member(api, owner.headers, "manager")
    admin = await add_member(api, owner.headers, "admin")

    seen = await current_tenant(api, viewer.headers)
    assert seen["id"] == owner.tenant_id and seen["name"] == "Original Agency"
    assert seen["plan"] == "basic" and seen["settings"] == {}

    settings = {"timezone": "Europe/Berlin", "brand": {"color": "#ff6600"}, "weekly_report": True}
    updated = await api.patch(
        TENANT, json={"name": "Renamed Agency", "settings": settings}, headers=admin.headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Renamed Agency" and updated.json()["settings"] == settings
    assert await current_tenant(api, viewer.headers) == updated.json()

    only_name = await api.patch(TENANT, json={"name": "Again Renamed"}, headers=owner.headers)
    assert only_name.status_code == 200 and only_name.json()["settings"] == settings

    assert_problem(await api.patch(TENANT, json={"name": "Manager Was Here"}, headers=manager.headers), 403)
    assert_problem(await api.patch(TENANT, json={"name": "Viewer Was Here"}, headers=viewer.headers), 403)
    final = await current_tenant(api, owner.headers)
    assert final["name"] == "Again Renamed" and final["settings"] == settings

    other = await register_tenant(api, tenant_name="Other Agency")
    assert (await current_tenant(api, other.headers))["name"] == "Other Agency"


async def test_tenant_settings_are_limited_and_the_plan_is_not_writable(api: httpx.AsyncClient) -> None:
    """Settings up to 16 KB as JSON are kept; larger ones and `plan` are refused (422), unchanged."""
    owner = await register_tenant(api)
    padding = len(json.dumps({"blob": ""}))
    at_limit = {"blob": "x" * (MAX_SETTINGS_BYTES - padding)}
    assert len(json.dumps(at_limit)) == MAX_SETTINGS_BYTES
    kept = await api.patch(TENANT, json={"settings": at_limit}, headers=owner.headers)
    assert kept.status_code == 200, kept.text

    over = {"blob": "x" * (MAX_SETTINGS_BYTES - padding + 1)}
    problem = assert_invalid(
        await api.patch(TENANT, json={"settings": over, "name": "Too Big"}, headers=owner.headers)
    )
    assert problem["errors"][0]["loc"] == ["body", "settings"]
    big = {f"k{i}": "v" * 100 for i in range(200)}
    assert_problem(await api.patch(TENANT, json={"settings": big}, headers=owner.headers), 422)

    for body in ({"plan": "enterprise"}, {"name": "Sneaky", "plan": "pro"}):
        problem = assert_invalid(await api.patch(TENANT, json=body, headers=owner.headers))
        assert any(e["loc"][-1] == "plan" for e in problem["errors"])
    assert_invalid(await api.patch(TENANT, json={"name": "Bad\x00Name"}, headers=owner.headers))
    assert_invalid(await api.patch(TENANT, json={"settings": ["not", "an", "object"]}, headers=owner.headers))

    tenant = await current_tenant(api, owner.headers)
    assert tenant["plan"] == "basic" and tenant["settings"] == at_limit
    assert tenant["name"] not in ("Too Big", "Sneaky")


# --- billing -----------------------------------------------------------------------------------


async def test_payments_change_the_plan_once_per_event(api: httpx.AsyncClient, bus: Redis) -> None:
    """payment.succeeded -> pro (with tenant.plan_changed); a redelivered event changes nothing and
    emits nothing; payment.failed -> basic; new tokens carry the current plan."""
    owner = await register_tenant(api)
    sentinel_owner = await register_tenant(api)
    assert claims_of(owner.access_token)["plan"] == "basic"

    paid = payment("payment.succeeded", owner.tenant_id)
    await publish_payment(bus, paid)
    await eventually_async(lambda: plan_is(api, owner, "pro"))
    changed = await wait_for_event(bus, "tenant.plan_changed", lambda e: e["tenant_id"] == owner.tenant_id)
    assert changed["data"]["old_plan"] == "basic" and changed["data"]["new_plan"] == "pro"
    assert changed["data"]["reason"] == "payment_succeeded"
    assert changed["data"]["invoice_id"] == paid.data["invoice_id"]

    signed_in = await login(api, owner.email, owner.password)
    assert claims_of(signed_in.json()["access_token"])["plan"] == "pro"
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert refreshed.status_code == 200 and claims_of(refreshed.json()["access_token"])["plan"] == "pro"

    failed = payment("payment.failed", owner.tenant_id)
    await publish_payment(bus, failed)
    await eventually_async(lambda: plan_is(api, owner, "basic"))
    back = await wait_for_event(
        bus,
        "tenant.plan_changed",
        lambda e: e["tenant_id"] == owner.tenant_id and e["data"]["new_plan"] == "basic",
    )
    assert back["data"]["old_plan"] == "pro" and back["data"]["reason"] == "payment_failed"

    # The same payment.succeeded (same event id) delivered again must not upgrade the tenant again.
    # A later event for another tenant marks when the consumer has got past the duplicate.
    await publish_payment(bus, paid)
    await publish_payment(bus, payment("payment.succeeded", sentinel_owner.tenant_id))
    await eventually_async(lambda: plan_is(api, sentinel_owner, "pro"))
    await wait_for_event(bus, "tenant.plan_changed", lambda e: e["tenant_id"] == sentinel_owner.tenant_id)
    assert await plan_is(api, owner, "basic")
    assert len(await events_of(bus, "tenant.plan_changed", owner.tenant_id)) == 2

    after = await login(api, owner.email, owner.password)
    assert claims_of(after.json()["access_token"])["plan"] == "basic"


async def test_a_payment_from_the_wrong_producer_or_stream_changes_no_plan(
    api: httpx.AsyncClient, bus: Redis
) -> None:
    """Only integration may announce a payment, on its own stream: a `payment.succeeded` claiming
    another producer, or appended to user_management's own stream, is dead-lettered (or ignored)
    and the plan stays; the genuine event afterwards proves the consumer was listening."""
    owner = await register_tenant(api)
    forged_producer = Event(
        type="payment.succeeded",
        tenant_id=owner.tenant_id,
        producer="user_management",
        data={"plan": "enterprise", "invoice_id": "in_forged", "amount_minor": 1, "currency": "EUR"},
    )
    await publish_payment(bus, forged_producer)
    wrong_stream = payment("payment.succeeded", owner.tenant_id, plan="enterprise")
    await bus.xadd("events.user_management", {"event": wrong_stream.to_json()})

    async def dead_lettered() -> bool:
        entries = await bus.xrange("events.dead")
        return any(
            fields.get(b"reason") == b"untrusted_producer"
            and str(forged_producer.id).encode() in fields[b"event"]
            for _, fields in entries
        )

    await eventually_async(dead_lettered)
    genuine = payment("payment.succeeded", owner.tenant_id, plan="pro")
    await publish_payment(bus, genuine)
    await eventually_async(lambda: plan_is(api, owner, "pro"))
    assert [e["data"]["new_plan"] for e in await events_of(bus, "tenant.plan_changed", owner.tenant_id)] == [
        "pro"
    ]


async def test_a_duplicate_payment_event_emits_no_second_plan_change(
    api: httpx.AsyncClient, bus: Redis
) -> None:
    """The same payment.succeeded published twice: plan pro, exactly one tenant.plan_changed."""
    owner = await register_tenant(api)
    sentinel_owner = await register_tenant(api)
    paid = payment("payment.succeeded", owner.tenant_id)
    await publish_payment(bus, paid)
    await publish_payment(bus, paid)
    await publish_payment(bus, payment("payment.succeeded", sentinel_owner.tenant_id, plan="enterprise"))
    await eventually_async(lambda: plan_is(api, sentinel_owner, "enterprise"))
    await wait_for_event(bus, "tenant.plan_changed", lambda e: e["tenant_id"] == sentinel_owner.tenant_id)
    assert await plan_is(api, owner, "pro")
    assert len(await events_of(bus, "tenant.plan_changed", owner.tenant_id)) == 1


# --- invalid input -----------------------------------------------------------------------------

LONG_NAME = "N" * 121


def _register_body(email: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "tenant_name": "Valid Agency",
        "email": email,
        "password": "Cr1sp-Autumn-Leaves",
        "full_name": "Val Id",
    }
    body.update(changes or {})
    return body


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"full_name": LONG_NAME}, id="overlong-full-name"),
        pytest.param({"tenant_name": "T" * 121}, id="overlong-tenant-name"),
        pytest.param({"email": "not-an-email"}, id="bad-email"),
        pytest.param({"full_name": "Bad\x00Name"}, id="nul-in-full-name"),
        pytest.param({"full_name": "Tab\tName"}, id="tab-in-full-name"),
        pytest.param({"full_name": "   "}, id="blank-full-name"),
        pytest.param({"role": "owner"}, id="unknown-field"),
        pytest.param({"password": "Sh0rt!pw"}, id="short-password"),
        pytest.param({"password": None}, id="password-null"),
        pytest.param({"password": "{local}-Pw9!xyz"}, id="password-contains-email"),
    ],
)
async def test_invalid_registration_creates_nothing(api: httpx.AsyncClient, changes: dict[str, Any]) -> None:
    """422 problem with `errors`; the same email then registers fine (no tenant or user was made)."""
    email = unique_email("reg")
    local = email.split("@")[0]
    changes = {
        k: v.replace("{local}", local.upper()) if isinstance(v, str) else v for k, v in changes.items()
    }
    body = _register_body(email, changes)
    assert_invalid(await api.post("/api/v1/auth/register", json=body), field=list(changes)[-1])
    if body["email"] == email:
        assert_problem(await login(api, email, "Cr1sp-Autumn-Leaves"), 401)
    registered = await api.post("/api/v1/auth/register", json=_register_body(email))
    assert registered.status_code == 201, registered.text


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"full_name": LONG_NAME}, id="overlong-full-name"),
        pytest.param({"email": "no-at-sign.acme.io"}, id="bad-email"),
        pytest.param({"email": "a@b@acme.io"}, id="two-at-signs"),
        pytest.param({"full_name": "Bad\x00Name"}, id="nul-in-full-name"),
        pytest.param({"full_name": "Tab\tName"}, id="tab-in-full-name"),
        pytest.param({"is_superuser": True}, id="unknown-field"),
        pytest.param({"role": "superuser"}, id="unknown-role"),
        pytest.param({"password": "Sh0rt!pw"}, id="short-password"),
        pytest.param({"password": "{local}-Pw9!xyz"}, id="password-contains-email"),
    ],
)
async def test_invalid_new_user_creates_nothing(api: httpx.AsyncClient, changes: dict[str, Any]) -> None:
    """422 problem with `errors`; the tenant's user count is unchanged and the email stays free."""
    owner = await register_tenant(api)
    before = await list_all(api, owner.headers)
    email = unique_email("new")
    body = {"email": email, "full_name": "New Person", "role": "analyst", "password": strong_password()}
    body.update(
        {
            k: v.replace("{local}", email.split("@")[0]) if isinstance(v, str) else v
            for k, v in changes.items()
        }
    )
    assert_invalid(await api.post(USERS, json=body, headers=owner.headers), field=list(changes)[-1])
    assert await list_all(api, owner.headers) == before
    valid = {"email": email, "full_name": "New Person", "role": "analyst", "password": strong_password()}
    created = await api.post(USERS, json=valid, headers=owner.headers)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"full_name": LONG_NAME}, id="overlong-full-name"),
        pytest.param({"full_name": "Bad\x00Name"}, id="nul-in-full-name"),
        pytest.param({"full_name": "Tab\tName"}, id="tab-in-full-name"),
        pytest.param({"full_name": "Zero\u200bWidth"}, id="zero-width-space"),
        pytest.param({"full_name": "Right\u202eLeft"}, id="bidi-override"),
        pytest.param({"role": "superuser"}, id="unknown-role"),
        pytest.param({"status": "active"}, id="unknown-field"),
        pytest.param({"full_name": "Fine Name", "email": "x@acme.io"}, id="email-not-writable"),
    ],
)
async def test_invalid_user_update_changes_nothing(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """422 problem with `errors`; the user is exactly as before."""
    owner = await register_tenant(api)
    member = await add_member(api, owner.headers, "viewer", full_name="Stable Name")
    before = await get_user(api, owner.headers, member.id)
    assert_invalid(
        await api.patch(f"{USERS}/{member.id}", json=body, headers=owner.headers), field=list(body)[-1]
    )
    assert await get_user(api, owner.headers, member.id) == before


async def test_malformed_json_is_a_validation_problem(api: httpx.AsyncClient) -> None:
    """A body that is not JSON at all is also answered as a 422 problem, and creates nothing."""
    owner = await register_tenant(api)
    before = await list_all(api, owner.headers)
    response = await api.post(
        USERS,
        content=b'{"email": "x@acme.io", ',
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert_invalid(response)
    assert await list_all(api, owner.headers) == before
