"""Authentication flows of user_management, end to end over HTTP against the real process.

Registration, password and OAuth2 logins, lockout, refresh rotation with reuse detection, logout,
sessions, invitations, service accounts, and that no secret ever reaches the event stream or the
service log. Events are read from the real Redis stream the outbox relay publishes to.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from tests.support.kit import assert_problem
from tests.support.stack import Stack
from tests.user_management.helpers import (
    EVENTS_STREAM,
    Registered,
    bearer,
    claims_of,
    login,
    mint_invitation,
    register_tenant,
    security_log,
    stream_events,
    strong_password,
    unique_email,
    wait_for_event,
)

# Every password and token the tests of this module handle; the leak test scans for all of them.
HANDLED_SECRETS: set[str] = set()


def remember(*values: str) -> None:
    """Record secrets so the leak test can prove none of them was logged or published."""
    HANDLED_SECRETS.update(v for v in values if v)


def remember_answer(body: dict[str, Any]) -> None:
    remember(body.get("access_token", ""), body.get("refresh_token", ""))


async def register(api: httpx.AsyncClient, **kwargs: Any) -> Registered:
    """register_tenant that also records the owner's password and tokens."""
    owner = await register_tenant(api, **kwargs)
    remember(owner.password)
    remember_answer(owner.body)
    return owner


async def sign_in(api: httpx.AsyncClient, email: str, password: str, **headers: str) -> dict[str, Any]:
    """A JSON login that must succeed; its tokens are recorded."""
    response = await login(api, email, password, headers=headers or None)
    assert response.status_code == 200, response.text
    remember_answer(response.json())
    return response.json()


async def refresh(api: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await api.post("/api/v1/auth/refresh", json={"refresh_token": token})
    if response.status_code == 200:
        remember_answer(response.json())
    return response


def kinds(log: list[dict[str, Any]]) -> list[str]:
    return [entry["kind"] for entry in log]


@pytest.fixture
async def events(fleet_redis: Redis) -> Redis:
    """The Redis the service publishes to (read only: never flushed)."""
    return fleet_redis


# --- registration ----------------------------------------------------------------------------


async def test_register_returns_owner_tenant_and_signed_tokens(api: httpx.AsyncClient) -> None:
    """The register answer is the client's whole bootstrap: user, tenant and a usable token pair."""
    owner = await register(api, full_name="Ada Owner")
    body = owner.body

    assert body["user"]["role"] == "owner"
    assert body["user"]["status"] == "active"
    assert body["user"]["email"] == owner.email
    assert body["user"]["full_name"] == "Ada Owner"
    assert body["user"]["tenant_id"] == body["tenant"]["id"]
    assert body["tenant"]["plan"] == "basic"
    assert body["token_type"] == "bearer"
    assert body["refresh_token"].startswith("rt_")
    assert body["refresh_token"] != body["access_token"]
    assert "password" not in str(body).lower()

    header = jwt.get_unverified_header(owner.access_token)
    claims = claims_of(owner.access_token)
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert {"iss", "aud", "sub", "tid", "role", "plan", "jti", "iat", "exp", "typ"} <= claims.keys()
    assert claims["typ"] == "access"
    assert claims["sub"] == owner.user_id
    assert claims["tid"] == owner.tenant_id
    assert claims["role"] == "owner"
    assert claims["plan"] == "basic"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert 60 <= body["expires_in"] <= 3600

    jwks = (await api.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    verified = jwt.decode(
        owner.access_token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=claims["aud"],
        issuer=claims["iss"],
    )
    assert verified["sub"] == owner.user_id

    me = await api.get("/api/v1/users/me", headers=owner.headers)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == owner.user_id


async def test_register_emits_tenant_created_and_user_registered(
    api: httpx.AsyncClient, events: Redis
) -> None:
    """Billing and notification learn about a new tenant and owner only through these events."""
    tenant_name = f"Northwind {uuid.uuid4().hex[:6]}"
    owner = await register(api, tenant_name=tenant_name, full_name="Nora North")

    created = await wait_for_event(
        events, "tenant.created", lambda e: e["data"]["tenant_id"] == owner.tenant_id
    )
    assert created["tenant_id"] == owner.tenant_id
    assert created["producer"] == "user_management"
    assert created["version"] == 1
    assert created["data"] == {
        "tenant_id": owner.tenant_id,
        "name": tenant_name,
        "plan": "basic",
        "owner_user_id": owner.user_id,
    }

    registered = await wait_for_event(
        events, "user.registered", lambda e: e["data"]["user_id"] == owner.user_id
    )
    assert registered["tenant_id"] == owner.tenant_id
    assert registered["data"] == {
        "user_id": owner.user_id,
        "email": owner.email,
        "full_name": "Nora North",
        "role": "owner",
        "tenant_name": tenant_name,
    }
    assert {"id", "occurred_at", "correlation_id", "causation_id"} <= registered.keys()
    assert registered["id"] != created["id"]


async def test_email_is_case_insensitive_and_unique_across_tenants(
    api: httpx.AsyncClient, events: Redis
) -> None:
    """One address is one account on the whole platform, whatever its case; a refused
    registration leaves nothing behind (no tenant.created for a tenant that was never made)."""
    local = f"Xavier.{uuid.uuid4().hex[:10]}"
    first = await register(api, email=f"{local}@Acme.io")
    assert first.body["user"]["email"] == f"{local.lower()}@acme.io"

    rejected_tenant = f"Copycat {uuid.uuid4().hex[:6]}"
    password = strong_password()
    remember(password)
    again = await api.post(
        "/api/v1/auth/register",
        json={
            "tenant_name": rejected_tenant,
            "email": f"{local.lower()}@acme.io",
            "password": password,
            "full_name": "Someone Else",
        },
    )
    assert_problem(again, 409)
    assert "password" not in again.text.lower()

    upper = await login(api, f"{local.upper()}@ACME.IO", first.password)
    assert upper.status_code == 200, upper.text
    remember_answer(upper.json())
    assert upper.json()["user"]["id"] == first.user_id

    # The relay publishes in commit order: once a later tenant is out, the refused one would be too.
    barrier = await register(api)
    await wait_for_event(events, "tenant.created", lambda e: e["data"]["tenant_id"] == barrier.tenant_id)
    names = [e["data"]["name"] for e in await stream_events(events) if e["type"] == "tenant.created"]
    assert rejected_tenant not in names


async def test_concurrent_registrations_of_one_email_create_one_account(api: httpx.AsyncClient) -> None:
    """The uniqueness holds under a race too: the losers get 409, not a 500 or a second account."""
    email = unique_email("racer")
    password = strong_password()
    remember(password)
    answers = await asyncio.gather(
        *(
            api.post(
                "/api/v1/auth/register",
                json={
                    "tenant_name": f"Race {n}",
                    "email": email if n % 2 else email.upper(),
                    "password": password,
                    "full_name": "Rae Racer",
                },
            )
            for n in range(4)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], statuses
    for answer in answers:
        if answer.status_code == 201:
            remember_answer(answer.json())
        else:
            assert_problem(answer, 409)


# --- login -----------------------------------------------------------------------------------


async def test_login_by_json_and_by_oauth2_form(api: httpx.AsyncClient) -> None:
    """Both sign-in doors (the JSON API and Swagger's OAuth2 password form) give working tokens."""
    owner = await register(api)

    by_json = await sign_in(api, owner.email, owner.password)
    assert by_json["token_type"] == "bearer"
    assert by_json["user"]["id"] == owner.user_id
    assert by_json["user"]["last_login_at"] is not None
    assert claims_of(by_json["access_token"])["sub"] == owner.user_id

    form = await api.post(
        "/api/v1/auth/token",
        data={"username": owner.email, "password": owner.password, "grant_type": "password"},
    )
    assert form.status_code == 200, form.text
    remember_answer(form.json())
    by_form = form.json()
    assert by_form["token_type"] == "bearer"
    assert by_form["refresh_token"].startswith("rt_")
    assert claims_of(by_form["access_token"])["sub"] == owner.user_id

    for answer in (by_json, form.json()):
        assert "password" not in str(answer).lower()
        me = await api.get("/api/v1/users/me", headers=bearer(answer["access_token"]))
        assert me.status_code == 200, me.text
    # Each sign-in is its own session with its own tokens.
    assert by_json["refresh_token"] != by_form["refresh_token"]
    assert claims_of(by_json["access_token"])["sid"] != claims_of(by_form["access_token"])["sid"]


async def test_wrong_password_and_unknown_email_answer_the_same_401(api: httpx.AsyncClient) -> None:
    """The answer must not reveal whether an account exists."""
    owner = await register(api)
    wrong = strong_password()
    remember(wrong)

    bad_password = assert_problem(await login(api, owner.email, wrong), 401)
    unknown = assert_problem(await login(api, unique_email("nobody"), wrong), 401)
    by_form = await api.post("/api/v1/auth/token", data={"username": owner.email, "password": wrong})
    bad_form = assert_problem(by_form, 401)

    assert bad_password["detail"] == unknown["detail"] == bad_form["detail"]
    assert bad_password["type"] == unknown["type"]
    assert "access_token" not in bad_password


# --- lockout ---------------------------------------------------------------------------------


async def test_five_failures_lock_the_account(api: httpx.AsyncClient, events: Redis) -> None:
    """Brute force stops at the 5th wrong password: even the right one is refused until the lock
    ends, the owner is told by event, and the security log shows what happened."""
    owner = await register(api)
    # Signed in before the lock: access tokens stay valid, so the user can still read their log.
    reader = await sign_in(api, owner.email, owner.password)
    wrong = strong_password()
    remember(wrong)

    for _ in range(4):
        assert_problem(await login(api, owner.email, wrong), 401)
    fifth = await login(api, owner.email, wrong)
    locked = assert_problem(fifth, 423)
    assert locked["type"].endswith("account-locked")
    locked_until = datetime.fromisoformat(locked["locked_until"])
    now = datetime.now(UTC)
    assert now + timedelta(minutes=5) < locked_until <= now + timedelta(hours=1)

    correct = await login(api, owner.email, owner.password)
    assert_problem(correct, 423)
    assert "access_token" not in correct.json()
    assert datetime.fromisoformat(correct.json()["locked_until"]) == locked_until
    form = await api.post("/api/v1/auth/token", data={"username": owner.email, "password": owner.password})
    assert_problem(form, 423)

    event = await wait_for_event(
        events, "user.login_failed_locked", lambda e: e["data"]["user_id"] == owner.user_id
    )
    assert event["tenant_id"] == owner.tenant_id
    assert event["data"]["email"] == owner.email
    assert datetime.fromisoformat(event["data"]["locked_until"]) == locked_until

    log = await security_log(api, reader["access_token"])
    failures = [e for e in log if e["kind"] == "login_failed"]
    assert sum(e["detail"].get("reason") == "bad_password" for e in failures) == 5
    assert sum(e["detail"].get("reason") == "locked" for e in failures) == 2
    lockouts = [e for e in log if e["kind"] == "lockout"]
    assert len(lockouts) == 1
    assert datetime.fromisoformat(lockouts[0]["detail"]["locked_until"]) == locked_until
    assert all(e["ip"] == "127.0.0.1" for e in failures)


async def test_concurrent_failures_are_all_counted(api: httpx.AsyncClient) -> None:
    """Parallel guesses must not slip past the lockout through lost updates of the counter."""
    owner = await register(api)
    wrong = strong_password()
    remember(wrong)
    answers = await asyncio.gather(*(login(api, owner.email, wrong) for _ in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401, 401, 401, 401, 423], statuses
    assert_problem(await login(api, owner.email, owner.password), 423)


async def test_successful_login_resets_the_failure_count(api: httpx.AsyncClient) -> None:
    """Failures count consecutively: a good login in between means 8 typos never lock."""
    owner = await register(api)
    wrong = strong_password()
    remember(wrong)

    for _ in range(4):
        assert_problem(await login(api, owner.email, wrong), 401)
    await sign_in(api, owner.email, owner.password)
    for _ in range(4):
        assert_problem(await login(api, owner.email, wrong), 401)
    await sign_in(api, owner.email, owner.password)


# --- refresh, logout, sessions ---------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_family(api: httpx.AsyncClient) -> None:
    """A refresh token is single use; presenting a spent one means it leaked, so the whole
    session (including the token it was rotated into) dies."""
    owner = await register(api)
    sid = claims_of(owner.access_token)["sid"]

    rotated = await refresh(api, owner.refresh_token)
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != owner.refresh_token
    assert pair["access_token"] != owner.access_token
    new_claims = claims_of(pair["access_token"])
    assert new_claims["sub"] == owner.user_id
    assert new_claims["sid"] == sid
    assert new_claims["jti"] != claims_of(owner.access_token)["jti"]
    me = await api.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200, me.text

    reuse = assert_problem(await refresh(api, owner.refresh_token), 401)
    assert "reuse" in reuse["detail"]
    assert_problem(await refresh(api, pair["refresh_token"]), 401)

    log = await security_log(api, pair["access_token"])
    assert "refresh" in kinds(log)
    assert "refresh_reuse_detected" in kinds(log)
    assert all(e["detail"]["session_id"] == sid for e in log if e["kind"].startswith("refresh"))
    sessions = (await api.get("/api/v1/users/me/sessions", headers=bearer(pair["access_token"]))).json()
    assert sid not in [s["id"] for s in sessions]


async def test_unknown_refresh_tokens_are_refused(api: httpx.AsyncClient) -> None:
    """Garbage and well-formed-but-unknown tokens get 401, never a 500."""
    owner = await register(api)
    forged = f"rt_{owner.tenant_id.replace('-', '')}_{uuid.uuid4().hex}"
    assert_problem(await refresh(api, forged), 401)
    assert_problem(await refresh(api, "not-a-refresh-token"), 401)
    # The forged token was not "reuse" of anything: the real session still refreshes.
    assert (await refresh(api, owner.refresh_token)).status_code == 200


async def test_concurrent_refreshes_with_one_token_yield_one_pair(api: httpx.AsyncClient) -> None:
    """Racing requests with one refresh token: exactly one wins (the single-use UPDATE lets one
    through), and the losers count as reuse, so the whole family is revoked: even the winner's
    new refresh token is refused afterwards (README: the safe side of a lost race)."""
    owner = await register(api)
    answers = await asyncio.gather(*(refresh(api, owner.refresh_token) for _ in range(5)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 401, 401, 401, 401], statuses
    for answer in answers:
        if answer.status_code != 200:
            assert "reused" in assert_problem(answer, 401)["detail"]
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    assert_problem(await refresh(api, winner["refresh_token"]), 401)
    log = await security_log(api, owner.access_token)
    assert "refresh_reuse_detected" in kinds(log)
    assert all(
        s["current"] is False
        for s in (await api.get("/api/v1/users/me/sessions", headers=owner.headers)).json()
    )


async def test_logout_revokes_the_session(api: httpx.AsyncClient) -> None:
    """After logout the refresh token is dead, the session is gone from the list, and the log says so."""
    owner = await register(api)
    sid = claims_of(owner.access_token)["sid"]

    out = await api.post("/api/v1/auth/logout", json={"refresh_token": owner.refresh_token})
    assert out.status_code == 204, out.text
    assert_problem(await refresh(api, owner.refresh_token), 401)
    again = await api.post("/api/v1/auth/logout", json={"refresh_token": owner.refresh_token})
    assert again.status_code == 204, again.text

    log = await security_log(api, owner.access_token)
    logouts = [e for e in log if e["kind"] == "logout"]
    assert len(logouts) == 1
    assert logouts[0]["detail"]["session_id"] == sid
    sessions = (await api.get("/api/v1/users/me/sessions", headers=owner.headers)).json()
    assert sid not in [s["id"] for s in sessions]


async def test_sessions_are_listed_and_revocable(api: httpx.AsyncClient) -> None:
    """Each sign-in is a session the user can see (where from, which client) and end."""
    owner = await register(api)
    laptop = await sign_in(api, owner.email, owner.password, **{"User-Agent": "Firefox/128.0 (laptop)"})
    phone = await sign_in(
        api,
        owner.email,
        owner.password,
        **{"User-Agent": "BizOSaaS-iOS/2.3", "X-Forwarded-For": "198.51.100.23"},
    )
    laptop_sid = claims_of(laptop["access_token"])["sid"]
    phone_sid = claims_of(phone["access_token"])["sid"]

    listed = await api.get("/api/v1/users/me/sessions", headers=bearer(phone["access_token"]))
    assert listed.status_code == 200, listed.text
    by_id = {s["id"]: s for s in listed.json()}
    assert {laptop_sid, phone_sid, claims_of(owner.access_token)["sid"]} == by_id.keys()
    assert by_id[laptop_sid]["user_agent"] == "Firefox/128.0 (laptop)"
    assert by_id[laptop_sid]["ip"] == "127.0.0.1"
    assert by_id[phone_sid]["user_agent"] == "BizOSaaS-iOS/2.3"
    assert by_id[phone_sid]["ip"] == "198.51.100.23"  # the trusted local proxy's X-Forwarded-For
    assert [s["id"] for s in listed.json() if s["current"]] == [phone_sid]

    revoked = await api.delete(
        f"/api/v1/users/me/sessions/{laptop_sid}", headers=bearer(phone["access_token"])
    )
    assert revoked.status_code == 204, revoked.text
    assert_problem(await refresh(api, laptop["refresh_token"]), 401)
    after = await api.get("/api/v1/users/me/sessions", headers=bearer(phone["access_token"]))
    assert laptop_sid not in [s["id"] for s in after.json()]
    assert_problem(
        await api.delete(f"/api/v1/users/me/sessions/{laptop_sid}", headers=bearer(phone["access_token"])),
        404,
    )
    assert "session_revoked" in kinds(await security_log(api, phone["access_token"]))
    # The phone session was untouched.
    assert (await refresh(api, phone["refresh_token"])).status_code == 200


async def test_cannot_revoke_another_users_session(api: httpx.AsyncClient) -> None:
    """A session id of someone else, in another tenant or the same one, is simply not found."""
    owner = await register(api)
    stranger = await register(api)
    stranger_sid = claims_of(stranger.access_token)["sid"]

    colleague_email, colleague_password = unique_email("colleague"), strong_password()
    remember(colleague_password)
    created = await api.post(
        "/api/v1/users",
        json={
            "email": colleague_email,
            "full_name": "Carl Colleague",
            "role": "analyst",
            "password": colleague_password,
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "active"
    colleague = await sign_in(api, colleague_email, colleague_password)
    colleague_sid = claims_of(colleague["access_token"])["sid"]

    for sid in (stranger_sid, colleague_sid, str(uuid.uuid4())):
        assert_problem(await api.delete(f"/api/v1/users/me/sessions/{sid}", headers=owner.headers), 404)
    assert (await refresh(api, stranger.refresh_token)).status_code == 200
    assert (await refresh(api, colleague["refresh_token"])).status_code == 200


# --- invitations -----------------------------------------------------------------------------


async def test_invitation_flow(api: httpx.AsyncClient, events: Redis, stack: Stack) -> None:
    """A user added without a password is invited by email and becomes active only by accepting."""
    owner = await register(api)
    email = unique_email("invitee", "globex.io")
    created = await api.post(
        "/api/v1/users",
        json={"email": email, "full_name": "Ivy Invitee", "role": "analyst"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    invited = created.json()
    assert invited["status"] == "invited"
    assert invited["role"] == "analyst"
    assert invited["tenant_id"] == owner.tenant_id
    assert invited["last_login_at"] is None

    event = await wait_for_event(events, "user.invited", lambda e: e["data"]["user_id"] == invited["id"])
    assert event["tenant_id"] == owner.tenant_id
    assert event["data"]["invited_by"] == owner.user_id
    assert event["data"]["email"] == email
    assert event["data"]["role"] == "analyst"
    assert event["data"]["expires_at"]
    assert "inv_" not in str(event) and "token" not in str(event["data"])  # no secret in an event

    # notification mints the link on request with its service token; a newer link voids the older.
    first = await mint_invitation(api, stack, owner.tenant_id, invited["id"])
    token = await mint_invitation(api, stack, owner.tenant_id, invited["id"])
    remember(first, token)
    assert first != token
    voided = await api.post(
        "/api/v1/auth/accept-invite", json={"token": first, "password": strong_password()}
    )
    assert_problem(voided, 400)

    password = strong_password()
    remember(password)
    never_accepted = assert_problem(await login(api, email, password), 401)
    unknown = assert_problem(await login(api, unique_email("nobody"), password), 401)
    assert never_accepted["detail"] == unknown["detail"]

    # A refused password does not spend the invitation.
    weak = await api.post("/api/v1/auth/accept-invite", json={"token": token, "password": "short"})
    assert_problem(weak, 422)

    accepted = await api.post("/api/v1/auth/accept-invite", json={"token": token, "password": password})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    remember_answer(body)
    assert body["user"]["id"] == invited["id"]
    assert body["user"]["status"] == "active"
    assert body["token_type"] == "bearer"
    assert "password" not in str(body).lower()
    claims = claims_of(body["access_token"])
    assert (claims["sub"], claims["tid"], claims["role"]) == (invited["id"], owner.tenant_id, "analyst")
    me = await api.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.json()["status"] == "active"
    assert (await refresh(api, body["refresh_token"])).status_code == 200

    replay = await api.post(
        "/api/v1/auth/accept-invite", json={"token": token, "password": strong_password()}
    )
    assert_problem(replay, 400)
    await sign_in(api, email, password)


async def test_invalid_invitation_tokens_are_refused(api: httpx.AsyncClient) -> None:
    """Made-up invitation tokens answer 400, never 500."""
    owner = await register(api)
    for token in (f"inv_{owner.tenant_id.replace('-', '')}_{uuid.uuid4().hex}", "inv_nothex_abcdefgh"):
        answer = await api.post(
            "/api/v1/auth/accept-invite", json={"token": token, "password": strong_password()}
        )
        assert_problem(answer, 400)


# --- service accounts ------------------------------------------------------------------------


async def test_service_account_client_credentials(api: httpx.AsyncClient, stack: Stack) -> None:
    """Services authenticate with client credentials and get only the scopes they were granted,
    on a token that belongs to no tenant and cannot act as a user."""
    secret = stack.env("notification")["NOTIFICATION_CLIENT_SECRET"]
    form = {"grant_type": "client_credentials", "client_id": "notification", "client_secret": secret}

    granted = await api.post("/api/v1/auth/service-token", data=form)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    remember(body["access_token"])
    assert body["token_type"] == "bearer"
    assert body["scope"] == "users:read users:invite"
    assert 30 <= body["expires_in"] <= 3600
    claims = claims_of(body["access_token"])
    assert claims["typ"] == "service"
    assert claims["sub"] == "notification"
    assert claims["scope"] == "users:read users:invite"
    assert "tid" not in claims
    assert "role" not in claims
    assert jwt.get_unverified_header(body["access_token"])["kid"]

    explicit = await api.post("/api/v1/auth/service-token", data={**form, "scope": "users:read"})
    assert explicit.status_code == 200, explicit.text
    remember(explicit.json()["access_token"])

    assert_problem(await api.post("/api/v1/auth/service-token", data={**form, "scope": "users:manage"}), 403)
    wrong = assert_problem(
        await api.post("/api/v1/auth/service-token", data={**form, "client_secret": secret[::-1] + "x"}), 401
    )
    unknown = assert_problem(
        await api.post("/api/v1/auth/service-token", data={**form, "client_id": "no-such-service"}), 401
    )
    assert wrong["detail"] == unknown["detail"]
    assert_problem(await api.post("/api/v1/auth/service-token", data={**form, "grant_type": "password"}), 400)

    owner = await register(api)
    for headers in ({}, {"X-Tenant-ID": owner.tenant_id}):
        me = await api.get("/api/v1/users/me", headers={**bearer(body["access_token"]), **headers})
        assert_problem(me, 403)


# --- secrets never leak ----------------------------------------------------------------------


async def test_no_secret_reaches_the_event_stream_or_the_log(
    api: httpx.AsyncClient, events: Redis, stack: Stack
) -> None:
    """Events and logs are read widely (other services, log shipping); passwords, tokens and
    password hashes must never appear there. Runs last in the module, after every other flow,
    and runs its own flows so it proves something when run alone too."""
    owner = await register(api)
    wrong = strong_password()
    remember(wrong)
    for _ in range(5):
        await login(api, owner.email, wrong)
    other = await register(api)
    signed_in = await sign_in(api, other.email, other.password)
    assert "password" not in str(signed_in).lower()
    rotated = await refresh(api, signed_in["refresh_token"])
    assert rotated.status_code == 200
    await api.post("/api/v1/auth/logout", json={"refresh_token": rotated.json()["refresh_token"]})
    remember(stack.env("notification")["NOTIFICATION_CLIENT_SECRET"])

    # The relay publishes in commit order: once this tenant is out, everything before it is too.
    barrier = await register(api)
    await wait_for_event(events, "tenant.created", lambda e: e["data"]["tenant_id"] == barrier.tenant_id)
    await wait_for_event(events, "user.login_failed_locked", lambda e: e["data"]["user_id"] == owner.user_id)

    secrets_used = sorted(HANDLED_SECRETS)
    assert len(secrets_used) > 10

    entries = await events.xrange(EVENTS_STREAM)
    assert entries
    for entry_id, fields in entries:
        text = " ".join(k.decode() + "=" + v.decode(errors="replace") for k, v in fields.items())
        assert "argon2" not in text.lower(), entry_id
        leaked = [s[:8] + "…" for s in secrets_used if s in text]
        assert not leaked, f"stream entry {entry_id!r} contains secrets {leaked}"

    log_path = stack.log_root / "user_management" / "user_management.log"
    log = log_path.read_text(errors="replace")
    assert log.strip(), "the service log is empty: nothing was checked"
    assert "argon2" not in log.lower()
    leaked = [s[:8] + "…" for s in secrets_used if s in log]
    assert not leaked, f"the service log contains secrets {leaked}"
