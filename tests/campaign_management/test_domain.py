"""The rules of campaign_management without a database or HTTP, microseconds each."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.campaign_management.domain import paging
from services.campaign_management.domain.budgets import ChannelBudget, apply_budget_items, launch_problems
from services.campaign_management.domain.funnels import (
    Stage,
    campaign_payload,
    cost_per_stage_entry,
    ordered,
    trigger_payload,
)
from services.campaign_management.domain.lifecycle import (
    MOVES,
    Action,
    IllegalTransition,
    Status,
    allowed_actions,
    next_status,
)
from shared import errors

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)

# The lifecycle of DESIGN and the issue, written out by hand: every pair not listed is refused.
EXPECTED = {
    (Status.DRAFT, Action.LAUNCH): Status.ACTIVE,
    (Status.DRAFT, Action.ARCHIVE): Status.ARCHIVED,
    (Status.SCHEDULED, Action.START): Status.ACTIVE,
    (Status.SCHEDULED, Action.PAUSE): Status.PAUSED,
    (Status.SCHEDULED, Action.ARCHIVE): Status.ARCHIVED,
    (Status.ACTIVE, Action.PAUSE): Status.PAUSED,
    (Status.ACTIVE, Action.COMPLETE): Status.COMPLETED,
    (Status.PAUSED, Action.RESUME): Status.ACTIVE,
    (Status.PAUSED, Action.COMPLETE): Status.COMPLETED,
    (Status.COMPLETED, Action.ARCHIVE): Status.ARCHIVED,
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action(status: Status, action: Action) -> None:
    """All 36 pairs: the allowed ones reach the expected state, the rest are a 409 that names the
    current state and what is allowed instead."""
    expected = EXPECTED.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            next_status(status, action, None, NOW)
        assert isinstance(refused.value, errors.Conflict)
        assert refused.value.extra["current_status"] == status.value
        assert refused.value.extra["allowed_actions"] == allowed_actions(status)
        assert status.value in refused.value.detail
    else:
        assert next_status(status, action, None, NOW) is expected


def test_the_table_is_the_whole_machine() -> None:
    assert MOVES == EXPECTED


def test_launch_waits_for_a_start_ahead_and_runs_at_once_otherwise() -> None:
    assert next_status(Status.DRAFT, Action.LAUNCH, LATER, NOW) is Status.SCHEDULED
    assert next_status(Status.DRAFT, Action.LAUNCH, NOW - timedelta(hours=1), NOW) is Status.ACTIVE
    assert next_status(Status.DRAFT, Action.LAUNCH, None, NOW) is Status.ACTIVE


def test_a_completed_campaign_never_runs_again_and_an_archive_is_final() -> None:
    assert allowed_actions(Status.COMPLETED) == ["archive"]
    assert allowed_actions(Status.ARCHIVED) == []
    for action in (Action.LAUNCH, Action.RESUME, Action.START):
        with pytest.raises(IllegalTransition):
            next_status(Status.COMPLETED, action, None, NOW)


# --- launch validation -----------------------------------------------------------------------


def _problems(channels: list[ChannelBudget], total: int, **kwargs: object) -> list[str]:
    found = launch_problems(
        channels,
        total,
        kwargs.get("start_at"),  # type: ignore[arg-type]
        kwargs.get("end_at"),  # type: ignore[arg-type]
        NOW,
        kwargs.get("connected", {"google_ads", "meta_ads", "linkedin_ads"}),  # type: ignore[arg-type]
    )
    return [str(p["msg"]) for p in found]


def test_a_ready_campaign_has_no_launch_problem() -> None:
    channels = [ChannelBudget("google_ads", 600), ChannelBudget("email", 400)]
    assert _problems(channels, 1000, start_at=LATER, end_at=LATER + timedelta(days=1)) == []


def test_budgets_must_be_set_and_add_up() -> None:
    assert "at least one channel is needed" in _problems([], 0)
    assert any("add up to 900, not 1000" in p for p in _problems([ChannelBudget("email", 900)], 1000))
    assert "every channel needs a budget above zero" in _problems([ChannelBudget("email", 0)], 0)


def test_dates_must_make_sense() -> None:
    channels = [ChannelBudget("email", 100)]
    assert "the end lies in the past" in _problems(channels, 100, end_at=NOW - timedelta(days=1))
    assert "the end must come after the start" in _problems(channels, 100, start_at=LATER, end_at=LATER)


def test_every_ad_channel_needs_a_connection_but_email_does_not() -> None:
    channels = [ChannelBudget("meta_ads", 50), ChannelBudget("email", 50)]
    problems = _problems(channels, 100, connected=set())
    assert problems == ["meta_ads has no active connection; connect it under /integrations first"]


# --- recommendations -----------------------------------------------------------------------------


def test_a_budget_move_conserves_the_total() -> None:
    current = {"google_ads": 600, "meta_ads": 400}
    items = [
        {"kind": "budget_move", "channel": "google_ads", "to_budget_minor": 450},
        {"kind": "budget_move", "channel": "meta_ads", "to_budget_minor": 550},
        {"kind": "bid_change", "channel": "meta_ads", "rationale": "advice only"},
    ]
    assert apply_budget_items(current, items) == {"google_ads": 450, "meta_ads": 550}


def test_pausing_a_channel_frees_its_budget() -> None:
    assert apply_budget_items(
        {"google_ads": 600, "email": 400}, [{"kind": "pause_channel", "channel": "email"}]
    ) == {
        "google_ads": 600,
        "email": 0,
    }


@pytest.mark.parametrize(
    "items",
    [
        [{"kind": "budget_move", "channel": "google_ads", "to_budget_minor": 900}],  # raises the total
        [{"kind": "budget_move", "channel": "linkedin_ads", "to_budget_minor": 1}],  # not a channel of it
        [{"kind": "pause_channel", "channel": "linkedin_ads"}],
    ],
)
def test_a_recommendation_cannot_add_money_or_channels(items: list[dict[str, object]]) -> None:
    with pytest.raises(errors.Conflict):
        apply_budget_items({"google_ads": 600, "meta_ads": 400}, items)


def test_random_moves_never_raise_the_total() -> None:
    rng = random.Random(7)
    for _ in range(200):
        current = {c: rng.randrange(0, 10_000) for c in ("google_ads", "meta_ads", "email")}
        total = sum(current.values())
        shares = sorted(rng.randrange(0, total + 1) for _ in range(2))
        targets = [shares[0], shares[1] - shares[0], total - shares[1]]
        items = [
            {"kind": "budget_move", "channel": c, "to_budget_minor": t}
            for c, t in zip(current, targets, strict=True)
        ]
        assert sum(apply_budget_items(current, items).values()) == total


# --- keyset cursors ------------------------------------------------------------------------------


def test_a_cursor_round_trips_and_belongs_to_its_sort() -> None:
    row_id = "6f1c1b9e-64c4-4b51-9b0e-0a2f4b1f3a10"
    position = paging.Position("name", "Spring sale", row_id)
    assert paging.decode(paging.encode(position), "name") == position
    with pytest.raises(errors.BadReference, match="belongs to sort"):
        paging.decode(paging.encode(position), "-created_at")
    tampered = [
        paging.Position("name", "x", "not-a-uuid"),
        paging.Position("-created_at", "yesterday", row_id),
        paging.Position("-total_budget_minor", "lots", row_id),
    ]
    garbage = [("!!!", "name"), ("bm90IGpzb24", "name"), ("W10", "name")]
    for cursor, sort in [*garbage, *((paging.encode(p), p.sort) for p in tampered)]:
        with pytest.raises(errors.BadReference):
            paging.decode(cursor, sort)


# --- the Mautic mapping of a funnel --------------------------------------------------------------


def test_stages_are_sent_in_weight_order_and_points_rules_become_triggers() -> None:
    stages = [
        Stage("Customer", 40, {"type": "form_submitted"}),
        Stage("Lead", 10, {"type": "form_submitted"}),
        Stage("Hot", 30, {"type": "points_above", "value": 50}),
    ]
    assert [s.name for s in ordered(stages)] == ["Lead", "Hot", "Customer"]
    trigger = trigger_payload("Spring", stages[2], mautic_stage_id=7)
    assert trigger is not None and trigger["points"] == 50
    assert trigger["events"] == [
        {"name": "Move to Hot", "type": "lead.changestage", "properties": {"stage": 7}}
    ]
    assert trigger_payload("Spring", stages[0], 3) is None


def test_nurture_steps_chain_in_order_on_the_segment() -> None:
    payload = campaign_payload(
        "Spring", [{"name": "Welcome", "email_id": 4}, {"name": "Offer", "delay_days": 3}], 12
    )
    first, second = payload["events"]
    assert payload["lists"] == [{"id": 12}]
    assert (first["order"], first["properties"], first.get("parent")) == (1, {"email": 4}, None)
    assert (second["parent"], second["triggerInterval"], second["triggerIntervalUnit"]) == ("new_1", 3, "d")


def test_cost_per_stage_entry_is_null_where_nobody_entered() -> None:
    assert cost_per_stage_entry(10_000, {"Lead": 40, "Customer": 0}) == {"Lead": 250, "Customer": None}
