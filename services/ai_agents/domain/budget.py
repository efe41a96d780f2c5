"""Budget optimisation across a campaign's channels: one cautious step, in integer minor units.

The response model. A channel's conversion value is taken to grow with its budget as a power law
with diminishing returns, value(b) = ROAS * b0 * (b / b0) ** ALPHA with ALPHA = 0.7, anchored at the
current budget b0 where its ROAS (conversion value / spend) was observed. The marginal ROAS is then
ALPHA * ROAS * (b / b0) ** (ALPHA - 1): 0.7 x the observed ROAS today, falling as a channel gets more.
Moving money from the lowest marginal ROAS to the highest raises total value until the two marginals
meet; that meeting point is what a move wants, and the floor and the per-step cap may allow less.
ALPHA = 0.7 is a common, conservative assumption for paid media (double the spend, about 1.6x the
value), not a fitted curve: a plan is one step, re-evaluated after the next sync, so the model only
has to point the right way and size the step sensibly.

Safety rules: the total is conserved exactly; a channel is never pushed below `floor_share` of the
total (one already below is never reduced); at most `max_move_share` of the total moves per step;
channels without enough spend for a signal (or with no budget to anchor the model) are untouched;
and every channel that gives has a lower observed ROAS than every channel that receives.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import permutations
from typing import Any

ALPHA = 0.7
_LIMITS = ("meet", "floor", "cap")  # what bounded a transfer, in the order the rationale names them


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    budget_minor: int
    spend_minor: int
    conversions: float
    conversion_value_minor: int
    clicks: int
    impressions: int

    @property
    def roas(self) -> float | None:
        """Observed ROAS = conversion value / spend; None without spend (DESIGN §7: no infinities)."""
        return self.conversion_value_minor / self.spend_minor if self.spend_minor > 0 else None


@dataclass(frozen=True, kw_only=True)
class Policy:
    floor_share: float = 0.10  # no channel below this share of the total
    max_move_share: float = 0.20  # at most this share of the total moved per step
    min_spend_for_signal_minor: int  # less spend than this and the ROAS is noise: keep the budget
    pause_after_spend_minor: int  # this much spend with zero conversions: consider a pause
    significance: float = 0.95  # pause only when zero conversions by chance is below 1 - this

    def __post_init__(self) -> None:
        if not (0.0 <= self.floor_share < 1.0 and 0.0 <= self.max_move_share <= 1.0):
            raise ValueError("floor_share must lie in [0, 1) and max_move_share in [0, 1]")
        if not 0.0 < self.significance < 1.0:
            raise ValueError("significance must lie strictly between 0 and 1")
        if self.min_spend_for_signal_minor < 0 or self.pause_after_spend_minor < 0:
            raise ValueError("spend thresholds must not be negative")


@dataclass(frozen=True)
class Move:
    channel: str
    from_budget_minor: int
    to_budget_minor: int
    rationale: str
    expected_effect: str


@dataclass(frozen=True)
class Pause:
    channel: str
    rationale: str
    expected_effect: str = ""


@dataclass(frozen=True)
class Plan:
    total_minor: int
    moves: list[Move] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)


def _marginal(c: ChannelFigures, budget: int) -> float:
    roas = c.roas or 0.0
    if budget <= 0:
        return math.inf if roas > 0 else 0.0
    return ALPHA * roas * (budget / c.budget_minor) ** (ALPHA - 1)


def _value_change(c: ChannelFigures, budget: int) -> float:
    """Model's change in conversion value when the budget goes from b0 to `budget`."""
    return (c.roas or 0.0) * c.budget_minor * ((budget / c.budget_minor) ** ALPHA - 1)


def _meeting_amount(donor: ChannelFigures, b_d: int, recipient: ChannelFigures, b_r: int) -> float:
    """The transfer at which both marginal ROAS are equal. Solving ROAS_d ((b_d - x) / b0_d) ** -0.3 =
    ROAS_r ((b_r + x) / b0_r) ** -0.3 gives x = (b_d w_r - b_r w_d) / (w_d + w_r), w = b0 ROAS ** (1 / 0.3);
    the ROAS are scaled by the larger one first so the powers cannot overflow."""
    top = max(donor.roas or 0.0, recipient.roas or 0.0)
    w_d = donor.budget_minor * ((donor.roas or 0.0) / top) ** (1 / (1 - ALPHA))
    w_r = recipient.budget_minor * ((recipient.roas or 0.0) / top) ** (1 / (1 - ALPHA))
    return (b_d * w_r - b_r * w_d) / (w_d + w_r)


def _check(channels: Sequence[ChannelFigures]) -> None:
    names = [c.channel for c in channels]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError("channel names must be non-empty and unique")
    for c in channels:
        counts = (c.budget_minor, c.spend_minor, c.conversion_value_minor, c.clicks, c.impressions)
        if not all(type(n) is int and n >= 0 for n in counts):
            raise ValueError(f"{c.channel}: money and counts must be non-negative integers (minor units)")
        if not (math.isfinite(c.conversions) and c.conversions >= 0):
            raise ValueError(f"{c.channel}: conversions must be finite and non-negative")


def optimise(channels: Sequence[ChannelFigures], policy: Policy) -> Plan:
    """One step of reallocation plus the pause recommendations (see the module docstring)."""
    _check(channels)
    total = sum(c.budget_minor for c in channels)
    floor_minor = math.ceil(policy.floor_share * total)
    cap = math.floor(policy.max_move_share * total)
    signal = {
        c.channel: c
        for c in channels
        if c.budget_minor > 0 and c.spend_minor > 0 and c.spend_minor >= policy.min_spend_for_signal_minor
    }
    budgets = {c.channel: c.budget_minor for c in channels}
    flows: dict[tuple[str, str], int] = defaultdict(int)  # (donor, recipient) -> minor units
    bounds: dict[str, set[str]] = defaultdict(set)  # channel -> what bounded its transfers
    moved = 0
    for _ in range(4 * len(signal) ** 2):  # each step settles a pair, a donor's room or the cap
        step = _best_step(signal, budgets, flows, floor_minor, cap - moved)
        if step is None:
            break
        donor, recipient, amount, bound = step
        budgets[donor] -= amount
        budgets[recipient] += amount
        moved += amount
        flows[donor, recipient] += amount
        bounds[donor].add(bound)
        bounds[recipient].add(bound)
    why = {
        "meet": "that is where the marginal ROAS of the channels meet under the model",
        "floor": f"the floor of {policy.floor_share:.0%} of the total ({floor_minor:,}) stops it there",
        "cap": f"the per-step cap of {policy.max_move_share:.0%} of the total ({cap:,}) stops it there",
    }
    net = sum(
        _value_change(c, budgets[name]) for name, c in signal.items() if budgets[name] != c.budget_minor
    )
    moves = [
        _describe(
            c,
            budgets[c.channel],
            flows,
            signal,
            net,
            "; ".join(why[b] for b in _LIMITS if b in bounds[c.channel]),
        )
        for c in channels
        if budgets[c.channel] != c.budget_minor
    ]
    return Plan(total_minor=total, moves=moves, pauses=_pauses(channels, policy))


def _best_step(
    signal: dict[str, ChannelFigures],
    budgets: dict[str, int],
    flows: dict[tuple[str, str], int],
    floor_minor: int,
    remaining: int,
) -> tuple[str, str, int, str] | None:
    """The widest marginal-ROAS gap that can still move at least one minor unit, or None."""
    if remaining < 1:
        return None
    donors = {d for d, _ in flows}
    recipients = {r for _, r in flows}
    lowest_recipient = min((signal[r].roas or 0.0 for r in recipients), default=math.inf)
    highest_donor = max((signal[d].roas or 0.0 for d in donors), default=-math.inf)
    candidates = []
    for d, r in permutations(sorted(signal), 2):
        roas_d, roas_r = signal[d].roas or 0.0, signal[r].roas or 0.0
        m_d, m_r = _marginal(signal[d], budgets[d]), _marginal(signal[r], budgets[r])
        if d in recipients or r in donors or not (roas_d < roas_r and m_d < m_r):
            continue
        if roas_d >= lowest_recipient or roas_r <= highest_donor:
            continue  # keeps every giver below every receiver in observed ROAS
        candidates.append((-(m_r - m_d), d, r))
    for _, d, r in sorted(candidates):
        limits = {
            "meet": math.floor(_meeting_amount(signal[d], budgets[d], signal[r], budgets[r])),
            "floor": budgets[d] - floor_minor,
            "cap": remaining,
        }
        amount = min(limits.values())
        if amount >= 1:
            return d, r, amount, next(name for name in _LIMITS if limits[name] == amount)
    return None


def _describe(
    c: ChannelFigures,
    new_budget: int,
    flows: dict[tuple[str, str], int],
    signal: dict[str, ChannelFigures],
    net: float,
    why: str,
) -> Move:
    """The move of one channel, with the ROAS figures on both sides and why the amount is what it is."""
    roas = c.roas or 0.0
    gives = new_budget < c.budget_minor
    peers = [(r if gives else d, amount) for (d, r), amount in sorted(flows.items()) if c.channel in (d, r)]
    peer_text = ", ".join(
        f"{amount:,} {'to' if gives else 'from'} {name} (ROAS {signal[name].roas or 0.0:.2f}, "
        f"marginal {_marginal(signal[name], signal[name].budget_minor):.2f})"
        for name, amount in peers
        if name != c.channel
    )
    rationale = (
        f"{c.channel}: ROAS {roas:.2f} (marginal {ALPHA * roas:.2f}, model value ∝ spend^{ALPHA}) is "
        f"{'below' if gives else 'above'} that of the channel(s) it trades with, so it "
        f"{'gives' if gives else 'receives'} {abs(new_budget - c.budget_minor):,} minor units: {peer_text}; "
        f"amount: {why}."
    )
    effect = (
        f"conversion value on {c.channel} expected to change by about {round(_value_change(c, new_budget)):+,} "
        f"minor units per budget period (marginal ROAS {ALPHA * roas:.2f} -> {_marginal(c, new_budget):.2f}); "
        f"net for the plan about {round(net):+,}"
    )
    return Move(c.channel, c.budget_minor, new_budget, rationale, effect)


def _pauses(channels: Sequence[ChannelFigures], policy: Policy) -> list[Pause]:
    """Channels that spent at least `pause_after_spend_minor` with no conversion at all, where the
    chance of zero conversions over their clicks at the campaign's average conversion rate (binomial:
    (1 - rate) ** clicks) is below 1 - significance. The rate includes the channel itself, which
    lowers it and so makes the test conservative: a pause is recommended only on strong evidence."""
    clicks = sum(c.clicks for c in channels)
    rate = min(1.0, sum(c.conversions for c in channels) / clicks) if clicks else 0.0
    pauses = []
    for c in channels:
        if c.spend_minor < policy.pause_after_spend_minor or c.conversions > 0 or c.spend_minor == 0:
            continue
        p_zero = 0.0 if rate >= 1.0 else math.exp(c.clicks * math.log1p(-rate))
        if p_zero >= 1 - policy.significance:
            continue
        rationale = (
            f"{c.channel} spent {c.spend_minor:,} minor units (pause threshold {policy.pause_after_spend_minor:,}) "
            f"over {c.clicks:,} clicks with 0 conversions; at the campaign's conversion rate of {rate:.2%} about "
            f"{rate * c.clicks:.1f} were expected, and the chance of none by luck is {p_zero:.2g} (binomial), "
            f"below {1 - policy.significance:.2g} (significance {policy.significance:.0%})."
        )
        effect = f"stops spending about {c.budget_minor:,} minor units per budget period that bought no conversions"
        pauses.append(Pause(c.channel, rationale, effect))
    return pauses


def items_for_event(plan: Plan) -> list[dict[str, Any]]:
    """The `items` of `ai.recommendation.created` (DESIGN §4): budget shifts, then pauses. The item
    fields are the dataclass fields, so a field added to Move or Pause reaches the event too."""
    return [{"kind": "budget_shift", **asdict(m)} for m in plan.moves] + [
        {"kind": "pause", **asdict(p)} for p in plan.pauses
    ]
