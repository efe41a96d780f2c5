"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
pywebpush, which is synchronous: each send runs in a worker thread so the event loop never blocks.

Failures become `DeliveryError`s: 404 and 410 mean the browser dropped the subscription ("bounced":
the caller deletes it); 400, 401, 403 and 413 mean this request or our key is wrong and sending it
again cannot help ("failed"); 429, 5xx, timeouts and connection errors are transient.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from services.notification.domain.retry import DeliveryError
from shared.http import retry_after_seconds

GONE = frozenset({404, 410})
REJECTED = frozenset({400, 401, 403, 413})


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_vapid_private_key(key: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM, base64url PKCS#8/SEC1 DER, or the base64url raw 32-byte scalar
    (the forms VAPID tools print), so operators can paste whichever they have."""
    text = key.strip()
    loaded: object
    if text.startswith("-----BEGIN"):
        loaded = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = _b64url_decode("".join(text.split()))
        if len(raw) == 32:
            loaded = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            loaded = serialization.load_der_private_key(raw, password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be a P-256 (prime256v1) EC private key")
    return loaded


def public_key_b64url(private_key: str) -> str:
    """The applicationServerKey the browser subscribes with: the uncompressed public point, base64url
    without padding (what `pushManager.subscribe` expects)."""
    point = (
        load_vapid_private_key(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def generate_vapid_private_key() -> str:
    """A fresh VAPID key as unencrypted PKCS#8 PEM, for the dev stack's first start."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def classify_response(response: requests.Response) -> DeliveryError:
    """The `DeliveryError` for a push service's non-2xx answer."""
    status = response.status_code
    text = f"push service {status}: {response.text[:200]}"
    if status in GONE:
        return DeliveryError(text, permanent=True, status="bounced")
    if status in REJECTED:
        return DeliveryError(text, permanent=True)
    if status == 429 or status >= 500 or status == 408:
        return DeliveryError(
            text, permanent=False, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
        )
    return DeliveryError(text, permanent=True)


class WebPushSender:
    """Sends push messages signed with one VAPID key; `subject` (a mailto: or https: URI) tells push
    services whom to contact about our traffic."""

    def __init__(self, vapid_private_key_pem_or_b64: str, subject: str, timeout: float = 10.0) -> None:
        if not subject.startswith(("mailto:", "https:")):
            raise ValueError("the VAPID subject must be a mailto: or https: URI")
        self._vapid = Vapid02(private_key=load_vapid_private_key(vapid_private_key_pem_or_b64))
        self.subject = subject
        self.timeout = timeout

    def __repr__(self) -> str:  # the private key stays out of logs
        return f"WebPushSender(subject={self.subject!r})"

    @property
    def application_server_key(self) -> str:
        """The public key (base64url) browsers must subscribe with for our pushes to be accepted."""
        point = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(point).rstrip(b"=").decode()

    async def send(
        self, subscription: Mapping[str, Any], payload: Mapping[str, Any], ttl: int = 86400
    ) -> None:
        """Encrypt `payload` (as compact JSON) for the subscription and hand it to its push service,
        which keeps it up to `ttl` seconds while the browser is offline."""
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        await asyncio.to_thread(self._send_sync, dict(subscription), data, ttl)

    def _send_sync(self, subscription: dict[str, Any], data: str, ttl: int) -> None:
        try:
            webpush(
                subscription,
                data,
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self.subject},  # a fresh dict: pywebpush adds aud and exp to it
                ttl=ttl,
                timeout=self.timeout,
            )
        except WebPushException as exc:
            if exc.response is None:  # refused before sending: a malformed subscription
                raise DeliveryError(f"push: {exc.message}", permanent=True) from exc
            raise classify_response(exc.response) from exc
        except requests.Timeout as exc:
            raise DeliveryError(f"push: timed out after {self.timeout} s", permanent=False) from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"push: {type(exc).__name__}: {exc}", permanent=False) from exc
        except (KeyError, TypeError, ValueError) as exc:  # missing or undecodable keys.p256dh / auth
            raise DeliveryError(f"push: bad subscription: {exc!r}", permanent=True) from exc
