"""A real JWKS HTTP server on 127.0.0.1, signing keys and token helpers for the auth tests.

The server runs in the test's own event loop (aiohttp AppRunner on port 0), serves whatever
document the test publishes and counts the requests, so refetch throttling is observable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "bizosaas"
AUDIENCE = "bizosaas-api"
JWKS_PATH = "/.well-known/jwks.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    """A private key with its `kid` and algorithm, as user_management would hold it."""

    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        if isinstance(self.private, rsa.RSAPrivateKey):
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        assert isinstance(jwk, dict)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": kid or self.kid})


def access_claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a user access token (manager of a fresh tenant); `None` values drop a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "tid": str(uuid.uuid4()),
        "role": "manager",
        "plan": "basic",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
        "typ": "access",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def service_claims(scope: str, **overrides: Any) -> dict[str, Any]:
    """Claims of a service-account token: no tenant, no role, granted `scope`."""
    base: dict[str, Any] = {"sub": "svc-reporting", "typ": "service", "scope": scope}
    return access_claims(**{"tid": None, "role": None, "plan": None, **base, **overrides})


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An `alg: none` style token: header and payload with an empty signature."""
    return f"{b64url_json(header)}.{b64url_json(claims)}."


def hs256_token(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """HS256 forged by hand (PyJWT refuses a PEM as HMAC secret)."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@dataclass
class JwksServer:
    """Serves `document` at JWKS_PATH; `status` other than 200 simulates an outage."""

    document: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    requests: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    def publish(self, *keys: SigningKey) -> None:
        self.document = {"keys": [key.public_jwk() for key in keys]}

    async def _serve(self, _: web.Request) -> web.Response:
        self.requests += 1
        if self.status != 200:
            return web.json_response({"error": "unavailable"}, status=self.status)
        return web.json_response(self.document)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(JWKS_PATH, self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{JWKS_PATH}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
