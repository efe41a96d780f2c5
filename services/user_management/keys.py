"""Signing keys, the JWKS document, and issuing access and service tokens (RS256, DESIGN §5).

The `kid` is the RFC 7638 thumbprint of the public key, so it is stable across restarts and
never needs configuring. Extra public keys (rotated-out signers) stay in the JWKS until removed.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_encode


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    import hashlib

    canonical = json.dumps(
        {k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    return base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    jwk.update({"kid": _thumbprint(jwk), "alg": "RS256", "use": "sig"})
    return jwk


@dataclass
class TokenIssuer:
    private_key: rsa.RSAPrivateKey
    kid: str
    jwks: dict[str, Any]
    issuer: str
    audience: str

    @classmethod
    def from_files(
        cls, private_key_file: Path, extra_public_files: list[Path], issuer: str, audience: str
    ) -> TokenIssuer:
        private_key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("JWT_PRIVATE_KEY_FILE must hold an RSA private key (RS256)")
        current = public_jwk(private_key.public_key())
        keys = [current]
        for path in extra_public_files:
            public = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(public, rsa.RSAPublicKey):
                raise ValueError(f"{path} must hold an RSA public key")
            jwk = public_jwk(public)
            if jwk["kid"] != current["kid"]:
                keys.append(jwk)
        return cls(private_key, current["kid"], {"keys": keys}, issuer, audience)

    def _sign(self, claims: dict[str, Any], ttl_seconds: int) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(
        self,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: str,
        plan: str,
        ttl_seconds: int,
        session_id: uuid.UUID | None = None,
    ) -> str:
        claims = {"sub": str(user_id), "tid": str(tenant_id), "role": role, "plan": plan, "typ": "access"}
        if session_id is not None:
            claims["sid"] = str(session_id)
        return self._sign(claims, ttl_seconds)

    def service_token(self, client_id: str, scopes: list[str], ttl_seconds: int) -> str:
        return self._sign({"sub": client_id, "scope": " ".join(scopes), "typ": "service"}, ttl_seconds)
