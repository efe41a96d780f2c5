"""The pure rules of ai_agents, in microseconds: the budget optimiser (properties and hand-worked
cases), the tools-only content generator, the hashing embedder and the task lifecycle."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ai_agents.domain import budget, content, embedding, tasks
from services.ai_agents.domain.budget import ChannelFigures, Plan, Policy, items_for_event, optimise

# --- budget: properties ----------------------------------------------------------------------------


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[list[ChannelFigures], Policy]:
    names = draw(
        st.lists(
            st.sampled_from(["google", "meta", "linkedin", "tiktok", "bing", "email"]),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    channels = []
    for name in names:
        clicks = draw(st.integers(0, 100_000))
        channels.append(
            ChannelFigures(
                channel=name,
                budget_minor=draw(st.integers(0, 10_000_000)),
                spend_minor=draw(st.integers(0, 10_000_000)),
                conversions=draw(st.one_of(st.just(0.0), st.floats(0, 5_000, allow_nan=False))),
                conversion_value_minor=draw(st.integers(0, 100_000_000)),
                clicks=clicks,
                impressions=draw(st.integers(clicks, clicks * 50 + 1)),
            )
        )
    policy = Policy(
        floor_share=draw(st.floats(0, 0.3)),
        max_move_share=draw(st.floats(0, 0.5)),
        min_spend_for_signal_minor=draw(st.integers(0, 2_000_000)),
        pause_after_spend_minor=draw(st.integers(0, 2_000_000)),
        significance=draw(st.floats(0.5, 0.999)),
    )
    return channels, policy


def _after(channels: list[ChannelFigures], plan: Plan) -> dict[str, int]:
    budgets = {c.channel: c.budget_minor for c in channels}
    budgets.update({m.channel: m.to_budget_minor for m in plan.moves})
    return budgets


@given(campaigns())
def test_the_optimiser_keeps_every_safety_rule(case: tuple[list[ChannelFigures], Policy]) -> None:
    channels, policy = case
    plan = optimise(channels, policy)
    before = {c.channel: c.budget_minor for c in channels}
    after = _after(channels, plan)
    total = sum(before.values())

    assert plan.total_minor == total == sum(after.values())  # conserved exactly
    assert all(isinstance(b, int) and b >= 0 for b in after.values())
    for c in channels:
        if before[c.channel] >= policy.floor_share * total:
            assert after[c.channel] >= policy.floor_share * total
        else:
            assert after[c.channel] >= before[c.channel]  # below the floor already: never reduced
    assert sum(max(0, before[n] - after[n]) for n in before) <= policy.max_move_share * total
    for m in plan.moves:
        assert m.from_budget_minor == before[m.channel] != m.to_budget_minor
        assert m.rationale and m.expected_effect
    assert len({m.channel for m in plan.moves}) == len(plan.moves)
    by_name = {c.channel: c for c in channels}
    gain = sum(budget._value_change(by_name[m.channel], m.to_budget_minor) for m in plan.moves)
    assert gain >= -1e-9 * (
        1 + sum(c.conversion_value_minor for c in channels)
    )  # never a loss under its model
    for p in plan.pauses:
        assert by_name[p.channel].conversions == 0
        assert by_name[p.channel].spend_minor >= policy.pause_after_spend_minor


@given(campaigns())
def test_channels_without_signal_keep_their_budget_and_money_flows_up_the_roas_ranking(
    case: tuple[list[ChannelFigures], Policy],
) -> None:
    channels, policy = case
    plan = optimise(channels, policy)
    by_name = {c.channel: c for c in channels}
    for m in plan.moves:
        c = by_name[m.channel]
        assert c.budget_minor > 0 and c.spend_minor > 0 and c.spend_minor >= policy.min_spend_for_signal_minor
    givers = [by_name[m.channel].roas for m in plan.moves if m.to_budget_minor < m.from_budget_minor]
    takers = [by_name[m.channel].roas for m in plan.moves if m.to_budget_minor > m.from_budget_minor]
    assert bool(givers) == bool(takers)
    if givers:
        assert max(givers) < min(takers)  # type: ignore[type-var]


@given(campaigns())
def test_event_items_mirror_the_plan(case: tuple[list[ChannelFigures], Policy]) -> None:
    plan = optimise(*case)
    items = items_for_event(plan)
    assert len(items) == len(plan.moves) + len(plan.pauses)
    for item in items:
        assert item["kind"] in {"budget_shift", "pause"}
        assert {"channel", "rationale", "expected_effect"} <= item.keys()
        if item["kind"] == "budget_shift":
            assert isinstance(item["from_budget_minor"], int) and isinstance(item["to_budget_minor"], int)
        else:
            assert "to_budget_minor" not in item


# --- budget: hand-worked cases -----------------------------------------------------------------------

POLICY = Policy(min_spend_for_signal_minor=1_000, pause_after_spend_minor=10_000)


def _channel(
    name: str, budget_minor: int, spend: int, value: int, conversions: float = 50, clicks: int = 1_000
) -> ChannelFigures:
    return ChannelFigures(name, budget_minor, spend, conversions, value, clicks, clicks * 20)


def test_budget_moves_from_meta_to_google_by_the_capped_amount() -> None:
    google = _channel("google", 5_000, 5_000, 20_000)  # ROAS 4.0, marginal 2.8
    meta = _channel("meta", 5_000, 5_000, 7_500)  # ROAS 1.5, marginal 1.05
    plan = optimise([google, meta], POLICY)

    # the marginals would meet only ~4,634 away; the 20% cap of 10,000 stops the step at 2,000
    assert {m.channel: (m.from_budget_minor, m.to_budget_minor) for m in plan.moves} == {
        "google": (5_000, 7_000),
        "meta": (5_000, 3_000),
    }
    assert plan.total_minor == 10_000 and plan.pauses == []
    for m in plan.moves:
        assert "4.00" in m.rationale and "1.50" in m.rationale
        assert "20%" in m.rationale and "2,000" in m.rationale
    meta_move = next(m for m in plan.moves if m.channel == "meta")
    assert "ROAS 1.50 (marginal 1.05" in meta_move.rationale
    assert "-2,255" in meta_move.expected_effect  # 7,500 * ((3/5) ** 0.7 - 1)
    assert items_for_event(plan)[0] == {
        "kind": "budget_shift",
        "channel": "google",
        "from_budget_minor": 5_000,
        "to_budget_minor": 7_000,
        "rationale": plan.moves[0].rationale,
        "expected_effect": plan.moves[0].expected_effect,
    }


def test_close_roas_moves_only_until_the_marginals_meet() -> None:
    google = _channel("google", 5_000, 5_000, 10_000)  # ROAS 2.0
    meta = _channel("meta", 5_000, 5_000, 9_500)  # ROAS 1.9
    plan = optimise([google, meta], POLICY)
    after = _after([google, meta], plan)

    assert 0 < 5_000 - after["meta"] < 2_000  # well inside the cap
    assert budget._marginal(google, after["google"]) == pytest.approx(
        budget._marginal(meta, after["meta"]), rel=1e-3
    )
    assert all("meet" in m.rationale for m in plan.moves)


def test_the_floor_stops_a_donor_and_a_small_spender_is_left_alone() -> None:
    google = _channel("google", 7_000, 7_000, 28_000)  # ROAS 4.0
    meta = _channel("meta", 1_500, 1_500, 1_500)  # ROAS 1.0, 500 above the 10% floor
    tiktok = _channel("tiktok", 1_500, 900, 100)  # below the signal threshold: untouched
    plan = optimise([google, meta, tiktok], POLICY)

    assert _after([google, meta, tiktok], plan) == {"google": 7_500, "meta": 1_000, "tiktok": 1_500}
    assert "floor of 10%" in next(m for m in plan.moves if m.channel == "meta").rationale


def test_equal_roas_or_no_signal_means_no_moves() -> None:
    assert (
        optimise([_channel("a", 5_000, 5_000, 10_000), _channel("b", 3_000, 3_000, 6_000)], POLICY).moves
        == []
    )
    assert optimise([_channel("a", 5_000, 500, 9_000), _channel("b", 5_000, 500, 100)], POLICY).moves == []
    assert optimise([], POLICY) == Plan(total_minor=0)


def test_a_channel_below_the_floor_is_never_reduced() -> None:
    google = _channel("google", 9_500, 9_500, 38_000)
    meta = _channel("meta", 500, 500, 100)  # 5% of the total, under the 10% floor
    assert (
        optimise([google, meta], Policy(min_spend_for_signal_minor=100, pause_after_spend_minor=10**9)).moves
        == []
    )


def test_zero_conversions_after_heavy_spend_is_paused_when_significant() -> None:
    # campaign rate 100 / 2,500 = 4%: over 500 clicks ~20 conversions were expected; none has p ~ 1.4e-9
    dead = _channel("linkedin", 3_000, 20_000, 0, conversions=0, clicks=500)
    plan = optimise(
        [_channel("google", 5_000, 5_000, 20_000), _channel("meta", 5_000, 5_000, 7_500), dead], POLICY
    )

    [pause] = plan.pauses
    assert pause.channel == "linkedin"
    assert "0 conversions" in pause.rationale and "4.00%" in pause.rationale and "binomial" in pause.rationale
    assert "significance 95%" in pause.rationale
    assert items_for_event(plan)[-1] == {
        "kind": "pause",
        "channel": "linkedin",
        "rationale": pause.rationale,
        "expected_effect": pause.expected_effect,
    }


def test_zero_conversions_on_few_clicks_or_little_spend_is_not_paused() -> None:
    google, meta = _channel("google", 5_000, 5_000, 20_000), _channel("meta", 5_000, 5_000, 7_500)
    few_clicks = _channel("linkedin", 3_000, 20_000, 0, conversions=0, clicks=20)  # P(0) = 0.95^20 ~ 0.36
    assert optimise([google, meta, few_clicks], POLICY).pauses == []
    little_spend = _channel("linkedin", 3_000, 9_999, 0, conversions=0, clicks=500)
    assert optimise([google, meta, little_spend], POLICY).pauses == []
    # p ~ 0.018: paused at 95%, not at 99%
    borderline = _channel("linkedin", 3_000, 20_000, 0, conversions=0, clicks=80)
    assert optimise([google, meta, borderline], POLICY).pauses
    strict = Policy(min_spend_for_signal_minor=1_000, pause_after_spend_minor=10_000, significance=0.99)
    assert optimise([google, meta, borderline], strict).pauses == []


def test_bad_figures_and_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        optimise([_channel("a", 1, 1, 1), _channel("a", 1, 1, 1)], POLICY)
    with pytest.raises(ValueError):
        optimise([_channel("a", -1, 1, 1)], POLICY)
    with pytest.raises(ValueError):
        optimise([_channel("a", 10.5, 1, 1)], POLICY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Policy(floor_share=1.0, min_spend_for_signal_minor=0, pause_after_spend_minor=0)


# --- content -------------------------------------------------------------------------------------------

KEYWORDS = ["sourdough bread", "weekend delivery", "bakery"]
CHANNELS = ("blog", "ad_copy", "email", "social")
LENGTHS = ("short", "medium", "long")


@pytest.mark.parametrize("tone", [*content.TONES, "sarcastic"])
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("length", LENGTHS)
def test_content_respects_the_channel_limits_and_weaves_the_keywords(
    channel: str, tone: str, length: str
) -> None:
    out = content.generate("Local bakery wants more weekend orders.", channel, tone, KEYWORDS, length)  # type: ignore[arg-type]

    assert out.meta["engine"] == "tools-only" and out.meta["method"] == "template"
    assert out.meta["keywords_missing"] == []
    text = (out.body if channel == "social" else f"{out.title}\n{out.body}").lower()
    assert all(k in text for k in KEYWORDS)
    if channel == "ad_copy":
        headlines, descriptions = out.meta["headlines"], out.meta["descriptions"]
        assert (len(headlines), len(descriptions)) == {"short": (3, 2), "medium": (8, 3), "long": (15, 4)}[
            length
        ]
        assert all(len(h) <= 30 for h in headlines) and all(len(d) <= 90 for d in descriptions)
        assert len({h.lower() for h in headlines}) == len(headlines)
    elif channel == "social":
        assert len(out.body) <= 280
    elif channel == "email":
        assert out.title == out.meta["subject"] and len(out.meta["subject"]) <= 60
        assert 0 < len(out.meta["preheader"]) <= 100 and out.body
    else:
        assert len(out.meta["sections"]) == {"short": 3, "medium": 5, "long": 7}[length]
        assert len(re.findall(r"^## ", out.body, flags=re.MULTILINE)) == len(out.meta["sections"])
    if tone == "sarcastic":
        assert out.meta["tone"] == "professional" and out.meta["notes"]


@pytest.mark.parametrize("channel", ["blog", "email", "social"])
def test_longer_lengths_give_longer_content(channel: str) -> None:
    sizes = [len(content.generate("Sourdough.", channel, "friendly", KEYWORDS, n).body) for n in LENGTHS]  # type: ignore[arg-type]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@given(
    brief=st.text(min_size=1, max_size=300).filter(lambda s: re.search(r"[^\W_]", s)),
    keywords=st.lists(st.text(max_size=60), max_size=5),
    channel=st.sampled_from(CHANNELS),
    tone=st.text(max_size=12) | st.sampled_from(list(content.TONES)),
    length=st.sampled_from(LENGTHS),
)
def test_any_input_keeps_the_limits_and_is_deterministic(
    brief: str, keywords: list[str], channel: str, tone: str, length: str
) -> None:
    out = content.generate(brief, channel, tone, keywords, length)  # type: ignore[arg-type]
    assert out == content.generate(brief, channel, tone, keywords, length)  # type: ignore[arg-type]
    assert out.title and out.body and out.meta["engine"] == "tools-only"
    used, missing = out.meta["keywords_used"], out.meta["keywords_missing"]
    assert sorted(used + missing) == sorted(
        {" ".join(k.split()).lower(): " ".join(k.split()) for k in keywords if k.split()}.values()
    )
    if channel == "ad_copy":
        assert all(len(h) <= 30 for h in out.meta["headlines"]) and all(
            len(d) <= 90 for d in out.meta["descriptions"]
        )
    if channel == "social":
        assert len(out.body) <= 280
    if channel == "email":
        assert len(out.meta["subject"]) <= 60 and len(out.meta["preheader"]) <= 100


def test_a_brief_without_words_is_refused() -> None:
    with pytest.raises(ValueError):
        content.generate(" ... ", "blog", "friendly", [], "short")


def test_similarity_warning_starts_at_the_near_duplicate_threshold() -> None:
    assert content.NEAR_DUPLICATE_THRESHOLD == 0.92
    assert content.similarity_warning(0.919) is None
    assert content.similarity_warning(math.nan) is None
    warning = content.similarity_warning(0.95)
    assert warning is not None and "0.95" in warning and "0.92" in warning


# --- embedding -----------------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors() -> None:
    vector = embedding.embed("Sourdough bread, baked fresh every weekend!")
    assert len(vector) == embedding.DIMENSIONS == 256
    assert vector == embedding.embed(
        "sourdough BREAD baked fresh every weekend"
    )  # case and punctuation ignored
    assert math.fsum(x * x for x in vector) == pytest.approx(1.0)
    assert embedding.embed("", 8) == [0.0] * 8 and embedding.cosine([0.0] * 8, embedding.embed("x", 8)) == 0.0
    assert embedding.tokens("Café_au-lait 2024") == ["café", "au", "lait", "2024"]


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    base = embedding.embed("Our sourdough bread is baked fresh every weekend for local delivery")
    reworded = embedding.embed("Our sourdough bread is baked fresh each weekend for local home delivery")
    related = embedding.embed("How to bake sourdough bread at home")
    unrelated = embedding.embed("Quarterly tax filing deadlines for small companies")
    assert (
        embedding.cosine(base, reworded) > embedding.cosine(base, related) > embedding.cosine(base, unrelated)
    )
    assert embedding.cosine(base, base) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        embedding.cosine([1.0], [1.0, 0.0])


@given(st.text(max_size=200), st.text(max_size=200))
def test_cosine_stays_in_range(a: str, b: str) -> None:
    assert -1.0 <= embedding.cosine(embedding.embed(a), embedding.embed(b)) <= 1.0


# --- task lifecycle -------------------------------------------------------------------------------------

LEGAL = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "queued"),
}
STATUSES = [s.value for s in tasks.Status]


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("to", STATUSES)
def test_only_the_lifecycle_moves_are_legal(current: str, to: str) -> None:
    if (current, to) in LEGAL:
        assert tasks.move(current, to) == to
        return
    with pytest.raises(tasks.IllegalMove) as caught:
        tasks.move(current, to)
    assert (caught.value.current, caught.value.to) == (current, to)
    assert set(caught.value.allowed) == {t for c, t in LEGAL if c == current}
    assert caught.value.extra["allowed"] == list(caught.value.allowed)


def test_final_statuses_and_unknown_ones() -> None:
    assert {s for s in STATUSES if tasks.is_terminal(s)} == {"succeeded", "failed", "cancelled"}
    with pytest.raises(tasks.IllegalMove, match="allowed: nothing"):
        tasks.move("succeeded", "queued")
    with pytest.raises(tasks.IllegalMove):
        tasks.move("paused", "running")


def test_a_lapsed_lease_is_retried_until_max_runs() -> None:
    assert tasks.MAX_RUNS == 3
    assert [tasks.after_lapsed_lease(runs) for runs in (1, 2, 3, 4)] == [
        "queued",
        "queued",
        "failed",
        "failed",
    ]
    with pytest.raises(ValueError):
        tasks.after_lapsed_lease(0)


def test_task_types() -> None:
    assert tasks.TASK_TYPES == (
        "digital_presence_audit",
        "seo_analysis",
        "content_generation",
        "campaign_optimization",
    )
    assert tasks.check_type("seo_analysis") == "seo_analysis"
    with pytest.raises(tasks.UnknownTaskType):
        tasks.check_type("mind_reading")
