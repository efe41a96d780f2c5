"""Signed tokens for the links a message carries (open pixel, click redirect, one-click
unsubscribe, the SMS provider's status callback). Public routes read them without a session: the
signature proves we made the link, and the token names the tenant and delivery it is about, so no
lookup across tenants is needed. A click token also binds the target URL: no open redirect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

PURPOSES = ("open", "click", "unsubscribe", "status")


class BadLink(ValueError):
    pass


@dataclass(frozen=True)
class LinkClaims:
    purpose: str
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    extra: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:16]

    def sign(self, claims: LinkClaims) -> str:
        if claims.purpose not in PURPOSES:
            raise ValueError(f"unknown link purpose {claims.purpose!r}")
        body = b"|".join(
            (claims.purpose.encode(), claims.tenant_id.bytes, claims.delivery_id.bytes, claims.extra.encode())
        )
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def read(self, token: str, purpose: str) -> LinkClaims:
        try:
            body_text, mac_text = token.split(".", 1)
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (ValueError, UnicodeError):
            raise BadLink("malformed link") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise BadLink("this link was not made here")
        found, _, rest = body.partition(b"|")
        if found != purpose.encode() or len(rest) < 33:
            raise BadLink("this link is for something else")
        tenant, delivery, extra = rest[:16], rest[17:33], rest[34:]
        try:
            return LinkClaims(purpose, uuid.UUID(bytes=tenant), uuid.UUID(bytes=delivery), extra.decode())
        except UnicodeDecodeError:
            raise BadLink("malformed link") from None
