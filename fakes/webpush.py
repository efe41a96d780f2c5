"""Fake Web Push service (the browser vendor's push endpoint) plus the browser behind it.

Wire format per RFC 8030 (push message delivery), RFC 8291 (aes128gcm message encryption) and
RFC 8292 (VAPID): `POST /push/{subscription_id}` with `TTL` (required), optional `Urgency` and
`Topic`, `Content-Encoding: aes128gcm` for a non-empty body (at most 4096 bytes), and
`Authorization: vapid t=<JWT>, k=<application server public key>`; the JWT must be ES256-signed by
`k`, with `aud` = this service's origin, `exp` no more than 24 h ahead and `sub` a `mailto:` or
`https:` URI. Answers `201 Created` with `Location: <origin>/m/{message_id}` and the effective `TTL`;
errors are JSON {"code", "errno", "error", "message"} like Mozilla's autopush: 400 bad headers,
401 bad/missing VAPID, 403 key differs from the subscription's applicationServerKey, 404 unknown
subscription, 410 expired/unsubscribed, 413 too large, 415 another content coding.

Unlike a real push service, the fake also plays the browser: it holds each subscription's private
key and auth secret, decrypts what it receives and keeps the plaintext for tests to read.

Controls (no auth): `GET /_fake/state`, `POST /_fake/reset`, `POST /_fake/fail`,
`POST /_fake/subscriptions` {"application_server_key"?} -> PushSubscription.toJSON(),
`POST /_fake/subscriptions/{id}/expire` (then 410), `DELETE /_fake/subscriptions/{id}` (then 404),
`GET /_fake/subscriptions/{id}/messages`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fakes._server import FailRule, failure_control, json_object, public_origin, run_cli, take_failure

DEFAULT_PORT = 8097
MAX_PAYLOAD = 4096
MAX_TTL = 28 * 24 * 3600
URGENCIES = ("very-low", "low", "normal", "high")
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


class DecryptError(ValueError):
    pass


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291 section 3.4 key derivation over an RFC 8188 aes128gcm body (any record size)."""
    if len(body) < 21:
        raise DecryptError("body shorter than the aes128gcm header")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if rs < 18:
        raise DecryptError(f"record size {rs} below 18")
    as_public = body[21 : 21 + idlen]
    if idlen != 65 or as_public[:1] != b"\x04":
        raise DecryptError("keyid must be the application server's uncompressed P-256 public key")
    try:
        as_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    except ValueError as exc:
        raise DecryptError(f"keyid is not a P-256 point: {exc}") from None
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_key)
    prk_key = _hmac(auth_secret, ecdh_secret)
    ikm = _hmac(prk_key, b"WebPush: info\x00" + public_bytes(ua_private) + as_public + b"\x01")
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    base_nonce = int.from_bytes(_hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12], "big")
    data = body[21 + idlen :]
    records = [data[i : i + rs] for i in range(0, len(data), rs)]
    if not records:
        raise DecryptError("no records")
    aes, out = AESGCM(cek), bytearray()
    for seq, record in enumerate(records):
        try:
            plain = aes.decrypt((base_nonce ^ seq).to_bytes(12, "big"), record, None)
        except InvalidTag:
            raise DecryptError(f"record {seq}: authentication tag mismatch") from None
        last = seq == len(records) - 1
        stripped = plain.rstrip(b"\x00")
        if not stripped or stripped[-1:] != (b"\x02" if last else b"\x01"):
            raise DecryptError(f"record {seq}: bad padding delimiter")
        out += stripped[:-1]
    return bytes(out)


@dataclass
class Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None = None
    status: str = "active"  # active | expired
    created: float = field(default_factory=time.time)

    def to_json(self, origin: str) -> dict[str, Any]:
        """What the browser's PushSubscription.toJSON() returns."""
        return {
            "endpoint": f"{origin}/push/{self.id}",
            "expirationTime": None,
            "keys": {"p256dh": b64url(public_bytes(self.private_key)), "auth": b64url(self.auth)},
        }


class PushState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: list[dict[str, Any]] = []
        self.fail_rules: list[FailRule] = []

    def snapshot(self, origin: str) -> dict[str, Any]:
        return {
            "subscriptions": [
                {
                    "id": s.id,
                    "status": s.status,
                    "application_server_key": s.application_server_key,
                    **s.to_json(origin),
                }
                for s in self.subscriptions.values()
            ],
            "messages": self.messages,
            "fail_rules": [vars(r) for r in self.fail_rules],
        }


STATE = web.AppKey("webpush_state", PushState)
OPTIONS = web.AppKey("webpush_options", dict)


def state_of(request: web.Request) -> PushState:
    return request.app[STATE]


def origin(request: web.Request) -> str:
    return public_origin(request, request.app[OPTIONS].get("public_url"))


class PushError(Exception):
    REASONS = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        410: "Gone",
        413: "Payload Too Large",
        415: "Unsupported Media Type",
        429: "Too Many Requests",
    }

    def __init__(self, status: int, errno: int, message: str) -> None:
        super().__init__(message)
        self.status, self.errno, self.message = status, errno, message

    def response(self) -> web.Response:
        body = {
            "code": self.status,
            "errno": self.errno,
            "error": self.REASONS.get(self.status, "Internal Server Error"),
            "message": self.message,
        }
        headers = {"WWW-Authenticate": "vapid"} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


def verify_vapid(request: web.Request, subscription: Subscription) -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        raise PushError(401, 109, "Missing or non-VAPID Authorization header (expected 'vapid t=..., k=...')")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        params[name.strip().lower()] = value.strip()
    token, key_text = params.get("t"), params.get("k")
    if not token or not key_text:
        raise PushError(401, 109, "VAPID Authorization needs both t= and k=")
    try:
        raw_key = b64url_decode(key_text)
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    except ValueError:
        raise PushError(401, 109, "k= is not a base64url uncompressed P-256 public key") from None
    if len(raw_key) != 65:
        raise PushError(401, 109, "k= must be the 65-byte uncompressed point")
    aud = origin(request)
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["ES256"],
            audience=aud,
            options={"require": ["aud", "exp", "sub"]},
        )
    except jwt.InvalidAudienceError:
        raise PushError(401, 109, f"VAPID aud must be the push service origin {aud}") from None
    except jwt.PyJWTError as exc:
        raise PushError(401, 109, f"Invalid VAPID JWT: {exc}") from None
    if jwt.get_unverified_header(token).get("typ", "JWT").upper() != "JWT":
        raise PushError(401, 109, "VAPID JWT typ must be JWT")
    if int(claims["exp"]) > time.time() + 24 * 3600:
        raise PushError(401, 109, "VAPID exp must be no more than 24 hours in the future")
    sub = str(claims["sub"])
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise PushError(401, 109, "VAPID sub must be a mailto: or https: URI")
    if subscription.application_server_key is not None:
        expected = b64url_decode(subscription.application_server_key)
        if not hmac.compare_digest(expected, raw_key):
            raise PushError(403, 109, "VAPID key does not match the subscription's applicationServerKey")
    return {**claims, "k": key_text}


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rule = take_failure(state_of(request).fail_rules, request.path)
    if rule is not None:
        response = PushError(rule.status, 999, "injected failure").response()
        if rule.status in (429, 503):
            response.headers["Retry-After"] = "1"
        return response
    try:
        return await handler(request)
    except PushError as exc:
        return exc.response()


async def push(request: web.Request) -> web.Response:
    st = state_of(request)
    sub = st.subscriptions.get(request.match_info["id"])
    if sub is None:
        raise PushError(404, 102, "No such subscription")
    if sub.status != "active":
        raise PushError(410, 103, "Subscription expired or unsubscribed")
    claims = verify_vapid(request, sub)
    ttl_text = request.headers.get("TTL")
    if ttl_text is None:
        raise PushError(400, 111, "Missing TTL header")
    if not ttl_text.isdigit():
        raise PushError(400, 111, "TTL must be a non-negative integer")
    ttl = min(int(ttl_text), request.app[OPTIONS]["max_ttl"])
    urgency = request.headers.get("Urgency", "normal")
    if urgency not in URGENCIES:
        raise PushError(400, 112, f"Urgency must be one of {', '.join(URGENCIES)}")
    topic = request.headers.get("Topic")
    if topic is not None and not TOPIC.match(topic):
        raise PushError(400, 113, "Topic must be at most 32 characters of the base64url alphabet")
    body = await request.read()
    encoding = request.headers.get("Content-Encoding")
    if len(body) > MAX_PAYLOAD:
        raise PushError(413, 104, f"Payload of {len(body)} bytes exceeds {MAX_PAYLOAD}")
    if body and encoding != "aes128gcm":
        raise PushError(415, 110, f"Content-Encoding must be aes128gcm, not {encoding!r}")
    message_id = secrets.token_urlsafe(16)
    record: dict[str, Any] = {
        "id": message_id,
        "subscription_id": sub.id,
        "received_at": time.time(),
        "ttl": ttl,
        "urgency": urgency,
        "topic": topic,
        "content_encoding": encoding,
        "vapid": claims,
        "size": len(body),
        "plaintext": None,
        "plaintext_b64": None,
        "decrypt_error": None,
    }
    if body:
        try:
            plain = decrypt_aes128gcm(body, sub.private_key, sub.auth)
        except DecryptError as exc:
            record["decrypt_error"] = str(exc)  # a real push service can't tell; the browser drops it
        else:
            record["plaintext_b64"] = b64url(plain)
            with contextlib.suppress(UnicodeDecodeError):
                record["plaintext"] = plain.decode()
    st.messages.append(record)
    return web.Response(
        status=201, headers={"Location": f"{origin(request)}/m/{message_id}", "TTL": str(ttl)}
    )


def _sub(request: web.Request) -> Subscription:
    sub = state_of(request).subscriptions.get(request.match_info["id"])
    if sub is None:
        raise web.HTTPNotFound(text="no such subscription")
    return sub


async def create_subscription(request: web.Request) -> web.Response:
    data = await json_object(request)
    key = data.get("application_server_key")
    if key is not None:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        except ValueError:
            raise web.HTTPBadRequest(text="application_server_key must be a base64url P-256 point") from None
    sub = Subscription(
        id=secrets.token_urlsafe(24),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth=secrets.token_bytes(16),
        application_server_key=key,
    )
    state_of(request).subscriptions[sub.id] = sub
    return web.json_response(sub.to_json(origin(request)), status=201)


async def expire_subscription(request: web.Request) -> web.Response:
    sub = _sub(request)
    sub.status = "expired"
    return web.json_response({"id": sub.id, "status": sub.status})


async def delete_subscription(request: web.Request) -> web.Response:
    state_of(request).subscriptions.pop(_sub(request).id)
    return web.Response(status=204)


async def subscription_messages(request: web.Request) -> web.Response:
    sid = request.match_info["id"]
    return web.json_response([m for m in state_of(request).messages if m["subscription_id"] == sid])


async def fake_state(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).snapshot(origin(request)))


async def fake_reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return web.json_response({"ok": True})


def make_app(*, public_url: str | None = None, max_ttl: int = MAX_TTL) -> web.Application:
    """`public_url` fixes the origin used for endpoints and the VAPID `aud` check (default: the request's
    own scheme and Host). `max_ttl` caps the TTL echoed back."""
    app = web.Application(middlewares=[middleware])
    app[STATE] = PushState()
    app[OPTIONS] = {"public_url": public_url, "max_ttl": max_ttl}
    app.router.add_post("/push/{id}", push)
    app.router.add_get("/_fake/state", fake_state)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/_fake/fail", failure_control(lambda r: state_of(r).fail_rules))
    app.router.add_post("/_fake/subscriptions", create_subscription)
    app.router.add_post("/_fake/subscriptions/{id}/expire", expire_subscription)
    app.router.add_delete("/_fake/subscriptions/{id}", delete_subscription)
    app.router.add_get("/_fake/subscriptions/{id}/messages", subscription_messages)
    return app


def main() -> None:
    run_cli("webpush", make_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
