"""Account security beyond sign-in: password changes, lockout's end, the security log's pages,
invitation expiry, key rotation in the JWKS, and hashing kept out of database transactions."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.user_management.keys import public_jwk
from tests.support.kit import assert_problem
from tests.support.stack import Stack, running_services
from tests.user_management.helpers import (
    bearer,
    login,
    mint_invitation,
    register_tenant,
    security_log,
    service_token,
    strong_password,
    unique_email,
    wait_for_event,
)

ME = "/api/v1/users/me"


async def _sessions(api: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await api.get(f"{ME}/sessions", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


# --- password change ---------------------------------------------------------------------------


async def test_a_password_change_signs_out_every_other_session(
    api: httpx.AsyncClient, fleet_redis: Redis
) -> None:
    """A changed password means the old one may have leaked: other sessions end at once, the one
    making the change stays, the change is logged and announced, and only the new password works."""
    owner = await register_tenant(api)
    laptop = (await login(api, owner.email, owner.password)).json()
    phone = (await login(api, owner.email, owner.password)).json()
    new_password = strong_password()

    changed = await api.patch(
        ME,
        json={"current_password": owner.password, "new_password": new_password},
        headers=bearer(laptop["access_token"]),
    )
    assert changed.status_code == 200, changed.text

    for revoked in (owner.refresh_token, phone["refresh_token"]):
        assert_problem(await api.post("/api/v1/auth/refresh", json={"refresh_token": revoked}), 401)
    kept = await api.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert kept.status_code == 200, kept.text
    assert [s["current"] for s in await _sessions(api, kept.json()["access_token"])] == [True]

    assert_problem(await login(api, owner.email, owner.password), 401)
    assert (await login(api, owner.email, new_password)).status_code == 200
    entry = next(
        e for e in await security_log(api, kept.json()["access_token"]) if e["kind"] == "password_changed"
    )
    assert entry["detail"] == {"sessions_revoked": 2}
    event = await wait_for_event(
        fleet_redis, "user.password_changed", lambda e: e["data"]["user_id"] == owner.user_id
    )
    assert event["data"]["sessions_revoked"] == 2
    assert owner.password not in json.dumps(event) and new_password not in json.dumps(event)


async def test_wrong_current_passwords_count_toward_the_lockout(
    api: httpx.AsyncClient, fleet_redis: Redis
) -> None:
    """Guessing the current password through PATCH /users/me is no easier than through login."""
    owner = await register_tenant(api)
    attempt = {"current_password": "Wrong-Guess-123456", "new_password": strong_password()}
    for _ in range(4):
        body = assert_problem(await api.patch(ME, json=attempt, headers=owner.headers), 403, "wrong-password")
        assert "current_password" in body["detail"]
    locked = assert_problem(await api.patch(ME, json=attempt, headers=owner.headers), 423, "account-locked")
    assert locked["locked_until"]
    assert_problem(await login(api, owner.email, owner.password), 423)  # even the right password waits
    await wait_for_event(
        fleet_redis, "user.login_failed_locked", lambda e: e["data"]["user_id"] == owner.user_id
    )

    missing = await api.patch(ME, json={"new_password": strong_password()}, headers=owner.headers)
    assert_problem(missing, 422)


async def test_the_lock_ends_when_its_time_is_up(api: httpx.AsyncClient, owner_engine: AsyncEngine) -> None:
    """After `locked_until` the right password works again and the failure count starts afresh."""
    owner = await register_tenant(api)
    for _ in range(5):
        await login(api, owner.email, "Wrong-Guess-123456")
    assert_problem(await login(api, owner.email, owner.password), 423)
    async with owner_engine.begin() as conn:  # fifteen minutes pass
        await conn.execute(
            text("update users.users set locked_until = now() - interval '1 second' where id = :id"),
            {"id": owner.user_id},
        )
    assert (await login(api, owner.email, owner.password)).status_code == 200
    for _ in range(4):
        assert_problem(await login(api, owner.email, "Wrong-Guess-123456"), 401)  # counting from zero
    assert (await login(api, owner.email, owner.password)).status_code == 200


# --- the security log --------------------------------------------------------------------------


async def test_the_security_log_pages_with_an_opaque_cursor(api: httpx.AsyncClient) -> None:
    """Newest first, every entry exactly once across pages, and the last page says so."""
    owner = await register_tenant(api)
    for _ in range(6):
        assert (await login(api, owner.email, owner.password)).status_code == 200
    everything = await security_log(api, owner.access_token)
    assert len(everything) == 7  # registered + six logins
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.get(f"{ME}/security-log", params=params, headers=owner.headers)
        assert page.status_code == 200, page.text
        seen.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [e["id"] for e in seen] == [e["id"] for e in everything]
    assert seen[-1]["kind"] == "registered"
    stamps = [e["created_at"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    bad = await api.get(f"{ME}/security-log", params={"cursor": "not-a-cursor"}, headers=owner.headers)
    assert_problem(bad, 400)


# --- invitations -------------------------------------------------------------------------------


async def test_an_expired_invitation_can_neither_be_minted_nor_accepted(
    api: httpx.AsyncClient, stack: Stack, owner_engine: AsyncEngine
) -> None:
    owner = await register_tenant(api)
    invited = await api.post(
        "/api/v1/users",
        json={"email": unique_email("late"), "full_name": "Lou Late", "role": "viewer"},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["id"]
    token = await mint_invitation(api, stack, owner.tenant_id, user_id)
    async with owner_engine.begin() as conn:  # 72 hours pass
        await conn.execute(
            text("update users.users set invite_expires_at = now() - interval '1 second' where id = :id"),
            {"id": user_id},
        )
    accept = await api.post(
        "/api/v1/auth/accept-invite", json={"token": token, "password": strong_password()}
    )
    assert_problem(accept, 400, "invalid-invitation")
    service = await service_token(api, stack, "notification", "users:invite")
    expired = await api.post(
        f"/api/v1/users/{user_id}/invitation-link",
        headers={**bearer(service), "X-Tenant-ID": owner.tenant_id},
    )
    assert_problem(expired, 410)


async def test_only_a_service_with_users_invite_mints_links(api: httpx.AsyncClient, stack: Stack) -> None:
    """The link is a secret: no user may mint it (not even the owner), nor a service without the
    scope, nor any service for another tenant's user; an active user has no link to mint."""
    owner = await register_tenant(api)
    other = await register_tenant(api)
    created = await api.post(
        "/api/v1/users",
        json={"email": unique_email("inv"), "full_name": "Ina Vited", "role": "viewer"},
        headers=owner.headers,
    )
    user_id = created.json()["id"]
    path = f"/api/v1/users/{user_id}/invitation-link"
    assert_problem(await api.post(path, headers={**owner.headers, "X-Tenant-ID": owner.tenant_id}), 403)
    reader = await service_token(api, stack, "notification", "users:read")
    assert_problem(await api.post(path, headers={**bearer(reader), "X-Tenant-ID": owner.tenant_id}), 403)
    inviter = await service_token(api, stack, "notification", "users:invite")
    assert_problem(await api.post(path, headers={**bearer(inviter), "X-Tenant-ID": other.tenant_id}), 404)
    own_path = f"/api/v1/users/{owner.user_id}/invitation-link"
    assert_problem(await api.post(own_path, headers={**bearer(inviter), "X-Tenant-ID": owner.tenant_id}), 409)


# --- keys --------------------------------------------------------------------------------------

# RFC 7638 §3.1: this RSA key's thumbprint is the one below, computed by the RFC's authors.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W"
    "-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI"
    "SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_kid_is_the_rfc7638_thumbprint() -> None:
    n = int.from_bytes(jwt.utils.base64url_decode(RFC7638_N), "big")
    key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert public_jwk(key)["kid"] == RFC7638_THUMBPRINT


def _write_public_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.write_bytes(pem)
    return path


def test_a_rotated_out_key_stays_in_the_jwks_and_its_tokens_verify(stack: Stack, tmp_path: Path) -> None:
    """After a rotation the previous public key is listed (JWT_ADDITIONAL_PUBLIC_KEY_FILES), so
    tokens it signed keep verifying until they expire; a key not listed does not."""
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    extra = json.dumps([str(_write_public_key(old, tmp_path / "old.pub"))])
    with (
        running_services(
            stack, "user_management", log_name="um-rotation", JWT_ADDITIONAL_PUBLIC_KEY_FILES=extra
        ) as urls,
        httpx.Client(base_url=urls["user_management"], timeout=30) as http,
    ):
        kids = [key["kid"] for key in http.get("/.well-known/jwks.json").json()["keys"]]
        old_kid = public_jwk(old.public_key())["kid"]
        assert len(kids) == 2 and old_kid in kids
        email = unique_email("rotation")
        registered = http.post(
            "/api/v1/auth/register",
            json={
                "tenant_name": "Rotation",
                "email": email,
                "password": strong_password(),
                "full_name": "Ro Tate",
            },
        ).json()
        claims = {
            **jwt.decode(registered["access_token"], options={"verify_signature": False}),
            "jti": uuid.uuid4().hex,
        }
        signed_by_old = jwt.encode(claims, old, algorithm="RS256", headers={"kid": old_kid})
        assert http.get(ME, headers=bearer(signed_by_old)).status_code == 200
        stranger_kid = public_jwk(stranger.public_key())["kid"]
        signed_by_stranger = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": stranger_kid})
        assert_problem(http.get(ME, headers=bearer(signed_by_stranger)), 401)


# --- hashing outside transactions --------------------------------------------------------------

SLOW_HASHING = {
    "ARGON2_TIME_COST": "8",
    "ARGON2_MEMORY_KIB": "65536",
    "ARGON2_PARALLELISM": "1",
    "DB_POOL_SIZE": "2",
}
LONG_IDLE_IN_TRANSACTION = text(
    "select count(*) from pg_stat_activity where usename = 'svc_users' "
    "and state = 'idle in transaction' and now() - state_change > interval '250 milliseconds'"
)


async def test_a_login_flood_holds_no_transaction_open_while_hashing(
    stack: Stack, owner_engine: AsyncEngine
) -> None:
    """Argon2 is slow on purpose (~0.4 s here). Were it run inside the login's transaction, every
    concurrent login would hold a pooled connection and a row lock, idle, for that long, and a
    flood would starve every other endpoint. We watch PostgreSQL during a flood of logins: no
    connection of the service sits idle in a transaction for longer than a statement's gap."""
    with running_services(stack, "user_management", log_name="um-slow-hashing", **SLOW_HASHING) as urls:
        async with httpx.AsyncClient(base_url=urls["user_management"], timeout=120) as api:
            owner = await register_tenant(api)
            samples: list[int] = []

            async def watch(done: asyncio.Event) -> None:
                while not done.is_set():
                    async with owner_engine.connect() as conn:
                        samples.append(int(await conn.scalar(LONG_IDLE_IN_TRANSACTION) or 0))
                    await asyncio.sleep(0.02)

            done = asyncio.Event()
            watcher = asyncio.create_task(watch(done))
            answers = await asyncio.gather(*(login(api, owner.email, owner.password) for _ in range(10)))
            me = await api.get(ME, headers=owner.headers)
            done.set()
            await watcher
            assert [a.status_code for a in answers] == [200] * 10
            assert me.status_code == 200
            assert len(samples) >= 10  # the flood lasted long enough to be watched
            assert max(samples) == 0, samples
