"""Webhook signature checks for Stripe, Meta and Mautic, on the raw request body.

Anyone can POST to a public webhook URL, so an event is trusted only when its HMAC matches a
secret we share with the sender. The MAC is computed over the bytes exactly as received (a
re-serialised JSON body would differ by a space and never match), and compared in constant time
so response timing reveals nothing about the expected digest. A refusal is a `BadSignature` whose
short reason is safe to log and return: it never holds a secret or an expected digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

STRIPE_TOLERANCE_SECONDS = 300.0
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class BadSignature(Exception):
    """A webhook that must be refused; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _same(expected: bytes, given: str | bytes) -> bool:
    """Constant time, and total: a header value that is not ASCII simply does not match."""
    raw = given.encode("utf-8", "replace") if isinstance(given, str) else given
    return hmac.compare_digest(expected, raw)


def _usable(secrets: Sequence[str]) -> list[str]:
    """Configured secrets, less blanks: a blank secret would let anyone sign."""
    usable = [secret for secret in secrets if secret.strip()]
    if not usable:
        raise BadSignature("no webhook secret configured")
    return usable


# --- Stripe ---------------------------------------------------------------------------------------


def _stripe_header(header: str | None) -> tuple[int, list[str]]:
    """``t=<unix>,v1=<hex>,v1=<hex>,v0=<hex>`` -> (t, the v1 signatures); other schemes ignored."""
    if header is None or not header.strip():
        raise BadSignature("missing Stripe-Signature header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        scheme, equals, value = item.strip().partition("=")
        if not equals or not scheme:
            raise BadSignature("malformed Stripe-Signature header")
        if scheme == "t":
            timestamps.append(value)
        elif scheme == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not _UNIX_TIME.fullmatch(timestamps[0]):
        raise BadSignature("malformed Stripe-Signature header")
    if not signatures:
        raise BadSignature("no v1 signature in Stripe-Signature header")
    return int(timestamps[0]), signatures


def verify_stripe(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance: float = STRIPE_TOLERANCE_SECONDS,
) -> None:
    """Accept a Stripe event when any v1 signature matches any configured endpoint secret (a list,
    so a secret can be rolled while Stripe signs with both) and its timestamp lies within
    `tolerance` of `now` either way: old events are replays, far-future ones forged or clock-broken.
    """
    usable = _usable(secrets)
    timestamp, signatures = _stripe_header(header)
    if abs(now - timestamp) > tolerance:
        raise BadSignature("Stripe-Signature timestamp outside the tolerance")
    signed = f"{timestamp}.".encode("ascii") + body
    expected = [_mac(secret, signed).hex().encode("ascii") for secret in usable]
    # every pair is compared (no early exit), so timing does not tell which secret matched
    matches = [_same(digest, given) for digest in expected for given in signatures]
    if not any(matches):
        raise BadSignature("Stripe signature mismatch")


# --- Meta (Facebook / Instagram) ------------------------------------------------------------------


def verify_meta(body: bytes, header: str | None, app_secret: str) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>``."""
    (secret,) = _usable([app_secret])
    if header is None or not header.strip():
        raise BadSignature("missing X-Hub-Signature-256 header")
    algorithm, equals, given = header.strip().partition("=")
    if not equals or algorithm != "sha256" or not given:
        raise BadSignature("malformed X-Hub-Signature-256 header")
    if not _same(_mac(secret, body).hex().encode("ascii"), given.lower()):
        raise BadSignature("Meta signature mismatch")


def verify_subscription(
    mode: str | None, token: str | None, challenge: str | None, expected_token: str
) -> str:
    """Meta's GET handshake when a webhook is subscribed: echo ``hub.challenge`` back only when
    ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is ours, so nobody else can point Meta's
    deliveries at an endpoint through us."""
    (expected,) = _usable([expected_token])
    if mode != "subscribe":
        raise BadSignature("hub.mode is not subscribe")
    if token is None or not _same(expected.encode("utf-8"), token):
        raise BadSignature("hub.verify_token mismatch")
    if not challenge:
        raise BadSignature("missing hub.challenge")
    return challenge


# --- Mautic ---------------------------------------------------------------------------------------


def verify_mautic(body: bytes, header: str | None, secret: str) -> None:
    """``Webhook-Signature: base64(HMAC-SHA256(secret, body))``, as Mautic's webhook sender signs."""
    (usable,) = _usable([secret])
    if header is None or not header.strip():
        raise BadSignature("missing Webhook-Signature header")
    given = _base64(header.strip())
    if given is None:
        raise BadSignature("malformed Webhook-Signature header")
    if not _same(_mac(usable, body), given):
        raise BadSignature("Mautic signature mismatch")


def _base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
