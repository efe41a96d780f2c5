"""Provider failover for one channel: a primary sender and its backups, tried in order.

A transient failure (the provider is down, throttling, or timed out) says nothing about the message,
so the next provider gets it, once each. A permanent one (a refused address, a rejected message)
would be refused by any provider, so it stops at once: trying elsewhere would only spread the
bounce. The caller learns which provider took the message, to record it with the delivery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from services.notification.domain.retry import DeliveryError

T = TypeVar("T")
R = TypeVar("R")


class Failover(Generic[T]):
    """An ordered, non-empty list of senders of one kind (e.g. two `SmtpSender`s)."""

    def __init__(self, senders: Sequence[T]) -> None:
        if not senders:
            raise ValueError("a failover needs at least one sender")
        self.senders: tuple[T, ...] = tuple(senders)

    def __len__(self) -> int:
        return len(self.senders)

    async def run(self, call: Callable[[T], Awaitable[R]]) -> tuple[R, int]:
        """`call(sender)` on each sender in turn until one succeeds; returns its result and the
        sender's index. A permanent `DeliveryError` is raised as it is; when every sender failed
        transiently, a transient error naming them all is raised, its `retry_after` the soonest
        time any of them might take the message (None if one gave no hint: it may work now)."""
        errors: list[DeliveryError] = []
        for index, sender in enumerate(self.senders):
            try:
                return await call(sender), index
            except DeliveryError as exc:
                if exc.permanent:
                    raise
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        hints = [e.retry_after for e in errors]
        retry_after = None if any(h is None for h in hints) else min(h for h in hints if h is not None)
        summary = "; ".join(f"#{i}: {e}" for i, e in enumerate(errors))
        raise DeliveryError(
            f"all {len(errors)} providers failed: {summary}", permanent=False, retry_after=retry_after
        ) from errors[-1]
