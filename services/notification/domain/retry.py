"""Retrying a delivery, and the life of its status.

A send is tried at most MAX_TRIES times over about half an hour: long enough to ride out a provider
outage or a greylisting mail server, short enough that "your account is locked" is still news. The
waits double from 15 s and are jittered so that a provider coming back is not hit by every queued
message in the same second. Channel clients report a failure as one `DeliveryError`, so this policy
never needs to know a provider.
"""

from __future__ import annotations

import random
import re
from enum import StrEnum
from typing import Literal

MAX_TRIES = 8
BASE_DELAY = 15.0
"""Seconds to wait after the first failed try; each later wait doubles (15, 30 ... 960 s)."""
MAX_RETRY_AFTER = 3600.0
"""A provider's Retry-After is honoured up to an hour: a longer one would outlive the message's point."""
MAX_ERROR_CHARS = 500

Outcome = Literal["sent", "retry", "failed", "bounced"]
"""What one try came to: accepted by the provider, try again later, given up, or address refused."""
ErrorStatus = Literal["failed", "bounced"]

_SECRETS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), r"\1 [redacted]"),
    (
        re.compile(r"(?i)\b(\w*(?:key|token|secret|password|passwd|auth|signature)\w*)=[^&\s\"']+"),
        r"\1=[redacted]",
    ),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "://[redacted]@"),
)


def retry_delay(attempt: int, rng: random.Random | None = None, *, retry_after: float | None = None) -> float:
    """Seconds to wait after the `attempt`-th failed try (1 .. MAX_TRIES - 1).

    Nominal waits double from 15 s (15, 30, 60, 120, 240, 480, 960: 1905 s, about 32 minutes in all).
    Half of each wait is fixed and half is jittered by a random factor in [0.5, 1.5], so a wait lies
    within 75-125 % of its nominal value: retries of many messages spread out, the mean total stays
    the nominal 32 minutes, and any total lies between 24 and 40 minutes. (Textbook "equal jitter",
    half + uniform(0, half), would halve the mean and could end the retries in 16 minutes.) A provider's
    `retry_after` is honoured when it asks for longer, up to MAX_RETRY_AFTER.
    """
    if not 1 <= attempt < MAX_TRIES:
        raise ValueError(f"attempt must be between 1 and {MAX_TRIES - 1}, not {attempt}")
    half = BASE_DELAY * 2 ** (attempt - 1) / 2
    uniform = rng.uniform if rng is not None else random.uniform
    delay = half + half * uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def should_retry(attempt: int, permanent: bool) -> bool:
    """Whether to try again after the `attempt`-th try failed: never for a permanent failure (a refused
    address stays refused), never past MAX_TRIES."""
    return not permanent and attempt < MAX_TRIES


def redact(message: str) -> str:
    """A provider's error text without credentials (tokens, keys, user:password in URLs), shortened:
    it is stored with the attempt and shown to the tenant."""
    for pattern, replacement in _SECRETS:
        message = pattern.sub(replacement, message)
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"


class DeliveryError(Exception):
    """A send that did not go through; every channel client raises this one error.

    `permanent`: trying again cannot help (a refused address, a rejected message, a bad key), so the
    caller gives up; `status == "bounced"` (always permanent) also tells it to stop writing to that
    address. Otherwise the caller retries, no sooner than `retry_after` seconds if the provider said
    so. The message is redacted of credentials, as it is stored and shown.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: ErrorStatus = "failed",
        retry_after: float | None = None,
    ) -> None:
        if status not in ("failed", "bounced"):
            raise ValueError(f"a delivery error is 'failed' or 'bounced', not {status!r}")
        self.message = redact(message)
        super().__init__(self.message)
        self.permanent = permanent or status == "bounced"
        self.status: ErrorStatus = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.message!r}, permanent={self.permanent}, status={self.status!r}, "
            f"retry_after={self.retry_after!r})"
        )


def outcome_of(error: DeliveryError, attempt: int) -> Outcome:
    """What the `attempt`-th try that raised `error` comes to."""
    if error.status == "bounced":
        return "bounced"
    return "retry" if should_retry(attempt, error.permanent) else "failed"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    FAILED = "failed"
    BOUNCED = "bounced"
    DEAD = "dead"  # the tries ran out; only an operator's re-drive queues it again


_S = DeliveryStatus
TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    _S.QUEUED: frozenset({_S.SENDING, _S.FAILED}),
    # back to queued when a try failed and another is scheduled; bounced when refused on the spot
    _S.SENDING: frozenset({_S.SENT, _S.QUEUED, _S.FAILED, _S.BOUNCED}),
    # the provider's callbacks; an open or a click proves delivery even without a delivery receipt
    _S.SENT: frozenset({_S.DELIVERED, _S.FAILED, _S.BOUNCED, _S.OPENED, _S.CLICKED}),
    _S.DELIVERED: frozenset({_S.OPENED, _S.CLICKED}),
    _S.OPENED: frozenset({_S.CLICKED}),
    _S.CLICKED: frozenset(),
    _S.FAILED: frozenset(),
    _S.BOUNCED: frozenset(),
    _S.DEAD: frozenset(),
}
"""Status moves only forward: provider callbacks arrive late, twice, and out of order, and a late
"sent" must not undo "delivered". A refused move is ignored, not an error."""

FINAL = frozenset(status for status, moves in TRANSITIONS.items() if not moves)


def can_move(from_status: str, to_status: str) -> bool:
    """Whether a delivery may go from one status to the other (same status: no, it is a repeat)."""
    try:
        source, target = DeliveryStatus(from_status), DeliveryStatus(to_status)
    except ValueError:
        return False
    return target in TRANSITIONS[source]
