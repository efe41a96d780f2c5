"""Logging an outage once, not once per retry, and backing off while it lasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable


class Outage:
    """Tracks whether a dependency is down; logs at the start and at the end of each outage."""

    def __init__(self, logger: logging.Logger, what: str, max_backoff: float = 2.0) -> None:
        self.logger = logger
        self.what = what
        self._max_backoff = max_backoff
        self._failures = 0

    @property
    def active(self) -> bool:
        return self._failures > 0

    def failed(self, error: BaseException) -> float:
        """Record one failure; returns how long to wait before the next try."""
        if self._failures == 0:
            self.logger.warning("%s unavailable, retrying: %s", self.what, type(error).__name__)
        self._failures += 1
        return min(self._max_backoff, 0.05 * 2 ** min(self._failures, 10)) * random.uniform(0.5, 1.0)

    def recovered(self) -> None:
        if self._failures:
            self.logger.warning("%s available again after %d failed tries", self.what, self._failures)
        self._failures = 0


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_periodically(
    stop: asyncio.Event,
    interval: float,
    tick: Callable[[], Awaitable[object]],
    outage: Outage,
    is_outage: Callable[[BaseException], bool],
) -> None:
    """Call `tick` every `interval` seconds until `stop`. A dependency being down (`is_outage`) is
    logged once per outage; any other error is logged with its traceback; neither ends the loop."""
    while not stop.is_set():
        try:
            await tick()
            outage.recovered()
        except Exception as error:
            if is_outage(error):
                outage.failed(error)
            else:
                outage.logger.exception("%s: tick failed; trying again next tick", outage.what)
        await sleep_unless_stopped(stop, interval)
