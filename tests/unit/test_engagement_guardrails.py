"""Guard rails against the app's baseline, auto-pause, sunset ranking, empty periods."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import UNATTRIBUTED, Cell
from nudge.domain.engagement.guardrails import (
    guard_rails,
    pause_decision,
    pause_decisions,
    sunset_advice,
)
from nudge.domain.stats import Rate

DAY = "2026-03-02"
CONFIG = AnalyticsConfig()  # min_sample 200, pause above 2 %, sunset 0.8 x opens, 1.5 x opt-outs


def cells_of(*rows: tuple[str, str, int, int, int], day: str = DAY) -> dict[Cell, Counter[str]]:
    """(campaign, format, delivered, opened, opt-outs) -> one cell each."""
    return {
        Cell(campaign, "a", fmt, "marketing", day): Counter(
            delivered=delivered, opened=opened, opt_out=opt_outs
        )
        for campaign, fmt, delivered, opened, opt_outs in rows
    }


# --- guard rails ---------------------------------------------------------------------------


def test_rates_per_campaign_and_format_against_the_pooled_baseline() -> None:
    cells = cells_of(
        ("spring-sale", "image", 400, 20, 12),  # 5 % opens, 3 % opt-outs
        ("welcome", "text", 600, 120, 3),  # 20 % opens, 0.5 % opt-outs
        ("weekly-digest", "text", 150, 15, 0),  # too small to judge
    )
    cells[Cell(UNATTRIBUTED, "", "", "marketing", DAY)] = Counter(opt_out=40)  # not in baseline
    rows = {(row.kind, row.key): row for row in guard_rails(cells, CONFIG)}
    assert list(rows) == [
        ("campaign", "spring-sale"),
        ("campaign", "weekly-digest"),
        ("campaign", "welcome"),
        ("format", "image"),
        ("format", "text"),
    ]
    spring = rows[("campaign", "spring-sale")]
    # baseline: 1150 delivered, 155 opened (13.478 %), 15 opt-outs (1.304 %)
    assert spring.baseline_open == Rate(155, 1150) and spring.baseline_opt_out == Rate(15, 1150)
    assert spring.open_vs_baseline_pts == pytest.approx(5 - 100 * 155 / 1150)
    assert spring.opt_out_vs_baseline_pts == pytest.approx(3 - 100 * 15 / 1150)
    assert spring.enough
    assert spring.evidence == (
        "opens 5.0% (20 of 400) vs 13.5% (155 of 1150) baseline; "
        "opt-outs 3.0% (12 of 400) vs 1.3% (15 of 1150) baseline"
    )
    assert rows[("format", "text")].open_rate == Rate(135, 750)
    assert not rows[("campaign", "weekly-digest")].enough


def test_a_campaign_that_delivered_nothing_has_no_rates_and_no_nan() -> None:
    cells = cells_of(("spring-sale", "text", 500, 50, 5))
    cells[Cell("paused-one", "a", "", "marketing", DAY)] = Counter(targeted=10, suppressed=10)
    row = next(r for r in guard_rails(cells, CONFIG) if r.key == "paused-one")
    assert row.open_rate.value is None and row.opt_out_rate.pct is None
    assert row.open_vs_baseline_pts is None and row.opt_out_vs_baseline_pts is None
    assert "n/a" in row.evidence and not row.enough
    # a record without a format makes no "" format row
    assert [r.key for r in guard_rails(cells, CONFIG) if r.kind == "format"] == ["text"]


# --- auto-pause -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "opt_outs", "pause", "reason"),
    [
        (200, 4, False, "opt-out rate 2.0% (4 of 200) is within the 2% limit"),  # exactly at
        (200, 5, True, "opt-out rate 2.5% (5 of 200) is above the 2% limit"),  # just above
        (1000, 21, True, "opt-out rate 2.1% (21 of 1000) is above the 2% limit"),
        (
            199,
            20,
            False,
            "not enough data: 199 delivered, 200 needed; opt-out rate so far 10.1% (20 of 199)",
        ),
        (0, 0, False, "not enough data: 0 delivered, 200 needed"),
    ],
)
def test_pause_on_both_sides_of_the_threshold_and_the_sample_minimum(
    delivered: int, opt_outs: int, pause: bool, reason: str
) -> None:
    decision = pause_decision("spring-sale", Counter(delivered=delivered, opt_out=opt_outs), CONFIG)
    assert (decision.pause, decision.reason) == (pause, reason)
    assert decision.opt_out_rate == Rate(opt_outs, delivered)
    assert (decision.threshold_pct, decision.min_sample) == (2.0, 200)


def test_the_threshold_is_compared_exactly_not_in_floats() -> None:
    # in floats, 7 / 1000 * 100 is 0.7000000000000001: "above" a 0.7 % limit it is exactly at
    config = AnalyticsConfig(pause_opt_out_pct=0.7, min_sample=1000)
    assert 7 / 1000 * 100 > 0.7
    assert not pause_decision("c", Counter(delivered=1000, opt_out=7), config).pause
    assert pause_decision("c", Counter(delivered=1000, opt_out=8), config).pause
    config = AnalyticsConfig(pause_opt_out_pct=0.1, min_sample=1000)
    assert not pause_decision("c", Counter(delivered=3000, opt_out=3), config).pause
    assert pause_decision("c", Counter(delivered=3000, opt_out=4), config).pause


def test_the_sample_minimum_and_threshold_come_from_the_config() -> None:
    strict = AnalyticsConfig(pause_opt_out_pct=1.0, min_sample=50)
    decision = pause_decision("c", Counter(delivered=60, opt_out=1), strict)
    assert decision.pause and decision.reason.endswith("above the 1% limit")


def test_pause_decisions_cover_named_campaigns_even_without_counters() -> None:
    cells = cells_of(("spring-sale", "text", 300, 30, 9), ("welcome", "text", 300, 30, 1))
    decisions = pause_decisions(cells, CONFIG, campaigns=["brand-new", "welcome"])
    assert [(d.campaign, d.pause) for d in decisions] == [
        ("brand-new", False),
        ("spring-sale", True),
        ("welcome", False),
    ]
    assert decisions[0].reason == "not enough data: 0 delivered, 200 needed"
    assert pause_decisions({}, CONFIG) == []


# --- sunset ---------------------------------------------------------------------------------


def sunset_set() -> dict[Cell, Counter[str]]:
    return cells_of(
        ("alpha", "image", 1000, 50, 30),  # 5 % opens, 3.0 % opt-outs
        ("bravo", "text", 1000, 60, 25),  # 6 % opens, 2.5 % opt-outs
        ("charlie", "text", 1000, 60, 5),  # weak opens but few opt-outs
        ("delta", "text", 2000, 400, 40),  # strong opens, 2 % opt-outs
        ("echo", "image", 100, 0, 50),  # dreadful but only 100 delivered
        ("foxtrot", "rich", 5000, 1000, 5),  # the healthy bulk
    )


def test_sunset_ranks_the_known_set() -> None:
    # baseline: delivered 10100, opened 1570 (15.545 %), opt-outs 155 (1.5347 %)
    # under on opens: below 0.8 x 15.545 = 12.436 %; over on opt-outs: above 1.5 x 1.5347
    # = 2.302 %.
    #   alpha   5.0 % opens, 3.0 % opt-outs            -> yes, excess 3.0 - 1.5347 = 1.4653
    #   bravo   6.0 %,       2.5 %                     -> yes, excess 0.9653
    #   charlie 6.0 %,       0.5 %                     -> no (opt-outs fine)
    #   delta   20 %,        2.0 %                     -> no (opens fine)
    #   echo    100 delivered                          -> not judged
    #   foxtrot 20 %,        0.1 %                     -> no
    #   image   (alpha + echo) 50 / 1100 = 4.545 %, 80 / 1100 = 7.273 % -> yes, excess 5.7379
    #   text    (bravo + charlie + delta) 520 / 4000 = 13 % opens -> no (not under)
    #   rich    -> no
    advice = sunset_advice(sunset_set(), CONFIG)
    assert [(c.kind, c.key) for c in advice.ranked] == [
        ("format", "image"),
        ("campaign", "alpha"),
        ("campaign", "bravo"),
    ]
    image, alpha, _ = advice.ranked
    assert image.opt_out_excess_pts == pytest.approx(100 * (80 / 1100 - 155 / 10100))
    assert alpha.open_shortfall_pts == pytest.approx(100 * (1570 / 10100 - 0.05))
    assert alpha.opt_out_rate == Rate(30, 1000) and alpha.baseline_open == Rate(1570, 10100)
    assert alpha.evidence.startswith("opens 5.0% (50 of 1000) vs 15.5% (1570 of 10100) baseline")
    assert advice.too_small == [("campaign", "echo", 100)]
    assert advice.summary == "3 sunset candidates (1 not judged: fewer than 200 delivered)"


def test_sunset_ties_break_by_open_shortfall_then_kind_then_name() -> None:
    cells = cells_of(
        ("a-better-opens", "fa", 1000, 40, 30),
        ("b-worse-opens", "fb", 1000, 20, 30),
        ("good", "fg", 10000, 2000, 10),
    )
    # all four bad ones have the same opt-out excess; b/fb open less, then campaign < format
    assert [(c.kind, c.key) for c in sunset_advice(cells, CONFIG).ranked] == [
        ("campaign", "b-worse-opens"),
        ("format", "fb"),
        ("campaign", "a-better-opens"),
        ("format", "fa"),
    ]


def test_sunset_needs_both_weak_opens_and_high_opt_outs() -> None:
    relaxed = AnalyticsConfig(sunset_open_ratio=1.0, sunset_opt_out_ratio=1.0)
    ranked = [c.key for c in sunset_advice(sunset_set(), relaxed).ranked]
    # charlie (opt-outs below baseline) and delta (opens above) still stay off
    assert "charlie" not in ranked and "delta" not in ranked and "alpha" in ranked


def test_sunset_of_an_empty_period_or_a_healthy_app() -> None:
    assert sunset_advice({}, CONFIG).summary == "n/a: nothing delivered in this period"
    assert sunset_advice({}, CONFIG).ranked == []
    nothing_delivered = {Cell("c", "a", "", "marketing", DAY): Counter(targeted=5)}
    assert sunset_advice(nothing_delivered, CONFIG).summary == (
        "n/a: nothing delivered in this period"
    )
    healthy = cells_of(("a", "text", 1000, 200, 2), ("b", "image", 1000, 190, 3))
    assert sunset_advice(healthy, CONFIG).summary == "no sunset candidates"
    one = cells_of(("a", "text", 1000, 200, 2), ("b", "image", 1000, 20, 60))
    assert sunset_advice(one, CONFIG).summary == "2 sunset candidates"  # campaign b, image
    one_alone = cells_of(("a", "text", 1000, 200, 2), ("b", "text", 1000, 20, 60))
    assert sunset_advice(one_alone, CONFIG).summary == "1 sunset candidate"
    other_day = sunset_advice(sunset_set(), CONFIG, start="2026-03-03")
    assert other_day.summary == "n/a: nothing delivered in this period"


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(list(sunset_set().items())))
def test_sunset_ranking_does_not_depend_on_the_order_of_the_counters(
    order: list[tuple[Cell, Counter[str]]],
) -> None:
    assert sunset_advice(dict(order), CONFIG) == sunset_advice(sunset_set(), CONFIG)
