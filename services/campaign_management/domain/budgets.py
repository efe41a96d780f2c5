"""Budgets: integer minor units, one per channel, summing to the campaign's total."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared import errors

CHANNELS = ("google_ads", "meta_ads", "linkedin_ads", "email")
AD_CHANNELS = {"google_ads": "google_ads", "meta_ads": "meta_ads", "linkedin_ads": "linkedin_ads"}
"""Ad channels and the integration provider each needs a connection to."""


@dataclass(frozen=True)
class ChannelBudget:
    channel: str
    budget_minor: int


class LaunchRefused(errors.InvalidInput):
    """A campaign that may not launch as it is: every reason at once, so it can be fixed in one go."""

    code = "launch-refused"

    def __init__(self, problems: list[dict[str, object]]) -> None:
        super().__init__("; ".join(str(p["msg"]) for p in problems), errors=problems)


def launch_problems(
    channels: list[ChannelBudget],
    total_minor: int,
    start_at: datetime | None,
    end_at: datetime | None,
    now: datetime,
    connected_providers: Iterable[str],
) -> list[dict[str, object]]:
    """Why a campaign cannot launch (empty when it can): budgets set and adding up to the total,
    sensible dates, and a live connection for every ad channel."""
    problems: list[dict[str, object]] = []

    def problem(field: str, msg: str) -> None:
        problems.append({"loc": ["body", field], "msg": msg, "type": "launch_refused"})

    if not channels:
        problem("channels", "at least one channel is needed")
    if any(c.budget_minor <= 0 for c in channels):
        problem("channels", "every channel needs a budget above zero")
    if sum(c.budget_minor for c in channels) != total_minor:
        problem(
            "total_budget_minor",
            f"channel budgets add up to {sum(c.budget_minor for c in channels)}, not {total_minor}",
        )
    if end_at is not None and end_at <= now:
        problem("end_at", "the end lies in the past")
    if start_at is not None and end_at is not None and end_at <= start_at:
        problem("end_at", "the end must come after the start")
    connected = set(connected_providers)
    for channel in channels:
        provider = AD_CHANNELS.get(channel.channel)
        if provider and provider not in connected:
            problem(
                "channels",
                f"{channel.channel} has no active connection; connect it under /integrations first",
            )
    return problems


def apply_budget_items(current: Mapping[str, int], items: Iterable[Mapping[str, object]]) -> dict[str, int]:
    """New channel budgets after a recommendation's items (budget moves and paused channels).
    The total may not grow: a recommendation moves money, it never adds any."""
    budgets = dict(current)
    for item in items:
        channel = str(item.get("channel"))
        kind = item.get("kind")
        if kind == "budget_move" and item.get("to_budget_minor") is not None:
            if channel not in budgets:
                raise errors.Conflict(f"the campaign has no {channel} channel")
            budgets[channel] = int(item["to_budget_minor"])  # type: ignore[call-overload]
        elif kind == "pause_channel":
            if channel not in budgets:
                raise errors.Conflict(f"the campaign has no {channel} channel")
            budgets[channel] = 0
    if any(value < 0 for value in budgets.values()):
        raise errors.Conflict("a recommendation may not set a negative budget")
    if sum(budgets.values()) > sum(current.values()):
        raise errors.Conflict("a recommendation may not raise the total budget")
    return budgets
