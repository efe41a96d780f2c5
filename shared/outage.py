"""Logging an outage once, not once per retry, and backing off while it lasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random


class Outage:
    """Tracks whether a dependency is down; logs at the start and at the end of each outage."""

    def __init__(self, logger: logging.Logger, what: str, max_backoff: float = 2.0) -> None:
        self._logger = logger
        self._what = what
        self._max_backoff = max_backoff
        self._failures = 0

    @property
    def active(self) -> bool:
        return self._failures > 0

    def failed(self, error: BaseException) -> float:
        """Record one failure; returns how long to wait before the next try."""
        if self._failures == 0:
            self._logger.warning("%s unavailable, retrying: %s", self._what, type(error).__name__)
        self._failures += 1
        return min(self._max_backoff, 0.05 * 2 ** min(self._failures, 10)) * random.uniform(0.5, 1.0)

    def recovered(self) -> None:
        if self._failures:
            self._logger.warning("%s available again after %d failed tries", self._what, self._failures)
        self._failures = 0


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
