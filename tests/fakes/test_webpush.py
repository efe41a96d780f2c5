"""The fake Web Push service: a real push sent with `pywebpush` (RFC 8291 encryption by `http_ece`,
VAPID by `py_vapid`) is accepted, its VAPID JWT verified and its payload decrypted by the fake's own
RFC 8291 implementation; bad VAPID, headers and subscriptions get the push service's answers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import http_ece
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from fakes._server import FakeServer
from fakes.webpush import b64url, b64url_decode, decrypt_aes128gcm, make_app, public_bytes

SUB = "mailto:ops@bizosaas.example"


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    async with FakeServer(make_app()) as server:
        yield server


@pytest.fixture
async def http(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
        yield client


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def vapid() -> Vapid:
    v = Vapid()
    v.generate_keys()
    return v


async def subscribe(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await http.post("/_fake/subscriptions", json=body)
    assert r.status_code == 201
    return r.json()


def vapid_header(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any]) -> str:
    token = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "JWT"})
    return f"vapid t={token}, k={b64url(public_bytes(key))}"


async def test_subscription_looks_like_a_browser_push_subscription(
    http: httpx.AsyncClient, fake: FakeServer
) -> None:
    sub = await subscribe(http)
    assert set(sub) == {"endpoint", "expirationTime", "keys"} and sub["expirationTime"] is None
    assert sub["endpoint"].startswith(f"{fake.url}/push/")
    p256dh, auth = b64url_decode(sub["keys"]["p256dh"]), b64url_decode(sub["keys"]["auth"])
    assert len(p256dh) == 65 and p256dh[0] == 4 and len(auth) == 16
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)  # a real P-256 point
    assert "=" not in sub["keys"]["p256dh"] + sub["keys"]["auth"]


async def test_pywebpush_push_is_verified_and_decrypted(
    http: httpx.AsyncClient, session: aiohttp.ClientSession, vapid: Vapid, fake: FakeServer
) -> None:
    sub = await subscribe(http)
    payload = {"title": "Campaign sent", "body": "Spring sale reached 1,204 contacts ✓", "url": "/c/42"}
    resp = await webpush_async(
        sub,
        json.dumps(payload),
        vapid_private_key=vapid,
        vapid_claims={"sub": SUB},
        ttl=3600,
        headers={"Urgency": "high", "Topic": "campaign-42"},
        aiohttp_session=session,
    )
    assert resp.status == 201
    assert resp.headers["Location"].startswith(f"{fake.url}/m/") and resp.headers["TTL"] == "3600"

    sub_id = sub["endpoint"].rsplit("/", 1)[1]
    (message,) = (await http.get(f"/_fake/subscriptions/{sub_id}/messages")).json()
    assert message["decrypt_error"] is None and json.loads(message["plaintext"]) == payload
    assert message["content_encoding"] == "aes128gcm" and message["ttl"] == 3600
    assert (message["urgency"], message["topic"]) == ("high", "campaign-42")
    assert message["vapid"]["sub"] == SUB and message["vapid"]["aud"] == fake.url
    state = (await http.get("/_fake/state")).json()
    assert state["messages"] == [message]


async def test_multi_record_and_binary_payloads_decrypt(http: httpx.AsyncClient, fake: FakeServer) -> None:
    """Encrypted here with http_ece at a small record size, so the fake must walk several records."""
    sub = await subscribe(http)
    ua_public = b64url_decode(sub["keys"]["p256dh"])
    auth = b64url_decode(sub["keys"]["auth"])
    sender = ec.generate_private_key(ec.SECP256R1())
    data = os.urandom(300)
    body = http_ece.encrypt(
        data, private_key=sender, dh=ua_public, auth_secret=auth, version="aes128gcm", rs=64
    )
    app_key = ec.generate_private_key(ec.SECP256R1())
    claims = {"aud": fake.url, "exp": int(time.time()) + 600, "sub": "https://bizosaas.example/contact"}
    r = await http.post(
        sub["endpoint"],
        content=body,
        headers={"TTL": "0", "Content-Encoding": "aes128gcm", "Authorization": vapid_header(app_key, claims)},
    )
    assert r.status_code == 201
    message = (await http.get("/_fake/state")).json()["messages"][0]
    assert b64url_decode(message["plaintext_b64"]) == data and message["plaintext"] is None

    # A body encrypted for another key pair is accepted (a push service can't tell) but won't decrypt.
    other = ec.generate_private_key(ec.SECP256R1())
    wrong = http_ece.encrypt(
        b"x", private_key=sender, dh=public_bytes(other), auth_secret=auth, version="aes128gcm"
    )
    assert decrypt_aes128gcm(wrong, other, auth) == b"x"  # while its owner can
    r = await http.post(
        sub["endpoint"],
        content=wrong,
        headers={"TTL": "0", "Content-Encoding": "aes128gcm", "Authorization": vapid_header(app_key, claims)},
    )
    assert r.status_code == 201
    message = (await http.get("/_fake/state")).json()["messages"][1]
    assert message["plaintext_b64"] is None and "tag mismatch" in message["decrypt_error"]


async def test_vapid_is_enforced(http: httpx.AsyncClient, fake: FakeServer) -> None:
    sub = await subscribe(http)
    key = ec.generate_private_key(ec.SECP256R1())
    good = {"aud": fake.url, "exp": int(time.time()) + 3600, "sub": SUB}

    async def send(authorization: str | None, **extra: str) -> httpx.Response:
        headers = {"TTL": "60", **extra}
        if authorization is not None:
            headers["Authorization"] = authorization
        return await http.post(sub["endpoint"], headers=headers)

    assert (await send(vapid_header(key, good))).status_code == 201
    cases = {
        "missing": None,
        "legacy WebPush scheme": "WebPush " + jwt.encode(good, key, algorithm="ES256"),
        "wrong aud": vapid_header(key, {**good, "aud": "https://fcm.googleapis.com"}),
        "exp > 24h": vapid_header(key, {**good, "exp": int(time.time()) + 25 * 3600}),
        "expired": vapid_header(key, {**good, "exp": int(time.time()) - 10}),
        "bad sub": vapid_header(key, {**good, "sub": "ops@bizosaas.example"}),
        "no sub": vapid_header(key, {"aud": good["aud"], "exp": good["exp"]}),
        "k of another key": vapid_header(key, good).split(", k=")[0]
        + ", k="
        + b64url(public_bytes(ec.generate_private_key(ec.SECP256R1()))),
    }
    for name, authorization in cases.items():
        r = await send(authorization)
        assert r.status_code == 401, name
        assert r.json()["code"] == 401 and r.json()["errno"] == 109, name

    # A subscription made with an applicationServerKey only takes pushes signed by that key.
    locked = await subscribe(http, application_server_key=b64url(public_bytes(key)))
    other = ec.generate_private_key(ec.SECP256R1())
    r = await http.post(locked["endpoint"], headers={"TTL": "60", "Authorization": vapid_header(other, good)})
    assert r.status_code == 403
    r = await http.post(locked["endpoint"], headers={"TTL": "60", "Authorization": vapid_header(key, good)})
    assert r.status_code == 201


async def test_headers_size_and_subscription_lifecycle(
    http: httpx.AsyncClient, session: aiohttp.ClientSession, vapid: Vapid, fake: FakeServer
) -> None:
    sub = await subscribe(http)
    key = ec.generate_private_key(ec.SECP256R1())
    auth = vapid_header(key, {"aud": fake.url, "exp": int(time.time()) + 3600, "sub": SUB})
    r = await http.post(sub["endpoint"], headers={"Authorization": auth})
    assert r.status_code == 400 and "TTL" in r.json()["message"]
    r = await http.post(sub["endpoint"], headers={"Authorization": auth, "TTL": "5", "Urgency": "urgent"})
    assert r.status_code == 400
    r = await http.post(
        sub["endpoint"],
        content=b"x" * 64,
        headers={"Authorization": auth, "TTL": "5", "Content-Encoding": "aesgcm"},
    )
    assert r.status_code == 415
    r = await http.post(
        sub["endpoint"],
        content=b"x" * 5000,
        headers={"Authorization": auth, "TTL": "5", "Content-Encoding": "aes128gcm"},
    )
    assert r.status_code == 413

    sub_id = sub["endpoint"].rsplit("/", 1)[1]
    assert (await http.post(f"/_fake/subscriptions/{sub_id}/expire")).status_code == 200
    with pytest.raises(WebPushException) as gone:
        await webpush_async(
            sub, "hi", vapid_private_key=vapid, vapid_claims={"sub": SUB}, aiohttp_session=session
        )
    assert gone.value.response is not None and gone.value.response.status == 410
    assert (await http.delete(f"/_fake/subscriptions/{sub_id}")).status_code == 204
    r = await http.post(sub["endpoint"], headers={"Authorization": auth, "TTL": "5"})
    assert r.status_code == 404

    fresh = await subscribe(http)
    await http.post("/_fake/fail", json={"path_prefix": "/push/", "status": 429, "count": 1})
    r = await http.post(fresh["endpoint"], headers={"Authorization": auth, "TTL": "5"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert (
        await http.post(fresh["endpoint"], headers={"Authorization": auth, "TTL": "5"})
    ).status_code == 201
    await http.post("/_fake/reset")
    assert (await http.get("/_fake/state")).json() == {"subscriptions": [], "messages": [], "fail_rules": []}
