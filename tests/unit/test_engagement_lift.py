"""Lift over the holdout: unpooled normal interval, verdicts, empty groups, no NaN."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import HOLDOUT, EngagementCounters, EngagementRecord
from nudge.domain.engagement.lift import campaign_lift, lift
from nudge.domain.stats import Rate, ratio, two_proportion_interval, wilson
from nudge.services.campaigns.configs import wilson as wilson_from_campaign_configs

MONDAY = int(datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp())
DAY = 86_400


def test_hand_computed_significant_lift() -> None:
    # exposed 120 / 1000 = 12 %, holdout 90 / 1000 = 9 %: d = 3.0 pts
    # se = sqrt(0.12 * 0.88 / 1000 + 0.09 * 0.91 / 1000) = sqrt(0.0001056 + 0.0000819)
    #    = sqrt(0.0001875) = 0.0136931
    # 1.96 * se = 0.0268384 -> 95% CI 3.0 +- 2.68384 pts = [0.31616, 5.68384]
    result = lift("spring-sale", Rate(120, 1000), Rate(90, 1000), min_per_group=100)
    assert result.diff_pts == pytest.approx(3.0)
    assert result.ci_low_pts == pytest.approx(0.31616, abs=1e-4)
    assert result.ci_high_pts == pytest.approx(5.68384, abs=1e-4)
    assert result.verdict == "helps"
    assert result.label == "+3.0 pts, significant (95% CI +0.3 to +5.7)"


def test_hand_computed_lift_that_hurts() -> None:
    # exposed 160 / 2000 = 8 %, holdout 200 / 2000 = 10 %: d = -2.0 pts
    # se = sqrt(0.08 * 0.92 / 2000 + 0.10 * 0.90 / 2000) = sqrt(0.0000368 + 0.000045)
    #    = sqrt(0.0000818) = 0.0090443;  1.96 * se = 1.77269 pts -> [-3.77269, -0.22731]
    result = lift("spring-sale", Rate(160, 2000), Rate(200, 2000), min_per_group=100)
    assert result.diff_pts == pytest.approx(-2.0)
    assert result.ci_low_pts == pytest.approx(-3.77269, abs=1e-4)
    assert result.ci_high_pts == pytest.approx(-0.22731, abs=1e-4)
    assert result.verdict == "hurts"
    assert result.label == "-2.0 pts, significant (hurts) (95% CI -3.8 to -0.2)"


def test_an_interval_that_includes_zero_is_no_measurable_effect() -> None:
    # 10.5 % vs 10 % of 1000 each: d = 0.5 pts, 1.96 * se = 2.6585 pts -> [-2.16, 3.16]
    result = lift("spring-sale", Rate(105, 1000), Rate(100, 1000), min_per_group=100)
    assert result.verdict == "no_effect"
    assert result.label == "no measurable effect yet: +0.5 pts (95% CI -2.2 to +3.2)"


def test_an_interval_touching_zero_counts_as_including_it() -> None:
    # nobody converts in either group: d = 0 and se = 0, the interval is [0, 0]
    result = lift("spring-sale", Rate(0, 500), Rate(0, 500), min_per_group=100)
    assert (result.diff_pts, result.ci_low_pts, result.ci_high_pts) == (0.0, 0.0, 0.0)
    assert result.verdict == "no_effect"
    assert result.label == "no measurable effect yet: +0.0 pts (95% CI +0.0 to +0.0)"


def test_below_the_minimum_per_group_is_not_enough_data_but_still_computed() -> None:
    result = lift("spring-sale", Rate(30, 120), Rate(2, 99), min_per_group=100)
    assert result.verdict == "not_enough_data"
    assert result.label == (
        "not enough data yet: 120 sent and 99 in the holdout; 100 needed in each"
    )
    assert result.diff_pts is not None and math.isfinite(result.diff_pts)


def test_no_holdout_group_cannot_measure_lift() -> None:
    result = lift("spring-sale", Rate(50, 5000), Rate(0, 0), min_per_group=100)
    assert result.verdict == "not_enough_data"
    assert (result.diff_pts, result.ci_low_pts, result.ci_high_pts) == (None, None, None)
    assert result.holdout.value is None and result.holdout.label == "n/a (none yet)"
    assert "nobody in the holdout (is holdout_pct 0?)" in result.label


def test_nothing_sent_and_no_holdout() -> None:
    result = lift("spring-sale", Rate(0, 0), Rate(0, 0), min_per_group=100)
    assert result.verdict == "not_enough_data"
    assert result.diff_pts is None and result.exposed.pct is None
    assert result.label == (
        "not enough data yet: nothing sent and nobody in the holdout; 100 needed in each"
    )


def test_a_period_that_cuts_conversions_from_their_sends_stays_finite() -> None:
    # 300 conversions counted in the period, only 200 of their sends: capped at 100 %
    result = lift("spring-sale", Rate(300, 200), Rate(10, 200), min_per_group=100)
    assert result.exposed.value == 1.0
    assert result.diff_pts == pytest.approx(95.0)
    assert result.ci_low_pts is not None and result.ci_high_pts is not None
    assert result.ci_low_pts <= result.diff_pts <= result.ci_high_pts


def lift_log() -> EngagementCounters:
    """Variant a: 200 sent, 40 converted; b: 200 sent, 10 converted; holdout 200, 20."""
    counters = EngagementCounters()
    records = []
    for variant, sent, converted in (("a", 200, 40), ("b", 200, 10), (HOLDOUT, 200, 20)):
        kind = "holdout" if variant == HOLDOUT else "sent"
        for i in range(sent):
            at = MONDAY + (i % 2) * DAY  # half on Monday, half on Tuesday
            records.append(EngagementRecord(f"{variant}-{i}", kind, at, "spring-sale", variant))
        for i in range(converted):
            at = MONDAY + (i % 2) * DAY
            records.append(
                EngagementRecord(f"{variant}-c{i}", "converted", at, "spring-sale", variant)
            )
    counters.apply_all(records)
    return counters


def test_campaign_lift_from_counters_pools_variants_or_takes_one() -> None:
    cells, config = lift_log().cells, AnalyticsConfig(min_lift_group=100)
    pooled = campaign_lift(cells, "spring-sale", config)
    assert (pooled.exposed, pooled.holdout) == (Rate(50, 400), Rate(20, 200))
    # 12.5 % - 10 % = 2.5 pts; se = sqrt(.125 * .875 / 400 + .1 * .9 / 200) = 0.027534
    assert pooled.diff_pts == pytest.approx(2.5)
    assert pooled.verdict == "no_effect"
    variant_a = campaign_lift(cells, "spring-sale", config, variant="a")
    # 20 % - 10 % = 10 pts; se = sqrt(.2 * .8 / 200 + .1 * .9 / 200) = 0.035355 -> +-6.93
    assert variant_a.exposed == Rate(40, 200) and variant_a.variant == "a"
    assert variant_a.diff_pts == pytest.approx(10.0)
    assert variant_a.ci_low_pts == pytest.approx(10 - 6.9296, abs=1e-3)
    assert variant_a.verdict == "helps"
    monday_only = campaign_lift(cells, "spring-sale", config, start="2026-03-02", end="2026-03-02")
    assert (monday_only.exposed, monday_only.holdout) == (Rate(25, 200), Rate(10, 100))


def test_campaign_lift_of_a_campaign_without_counters() -> None:
    result = campaign_lift(lift_log().cells, "never-ran", AnalyticsConfig())
    assert result.verdict == "not_enough_data" and result.diff_pts is None
    assert campaign_lift({}, "never-ran", AnalyticsConfig()).label.startswith(
        "not enough data yet: nothing sent"
    )


@settings(max_examples=500, deadline=None)
@given(
    exposed_n=st.integers(0, 5000),
    holdout_n=st.integers(0, 5000),
    exposed_share=st.floats(0, 1.2),
    holdout_share=st.floats(0, 1.2),
    min_per_group=st.integers(0, 300),
)
def test_lift_is_never_nan(
    exposed_n: int,
    holdout_n: int,
    exposed_share: float,
    holdout_share: float,
    min_per_group: int,
) -> None:
    exposed = Rate(round(exposed_n * exposed_share), exposed_n)
    holdout = Rate(round(holdout_n * holdout_share), holdout_n)
    result = lift("c", exposed, holdout, min_per_group)
    numbers = (result.diff_pts, result.ci_low_pts, result.ci_high_pts)
    assert all(x is None for x in numbers) or all(x is not None for x in numbers)
    if result.diff_pts is not None:
        assert result.ci_low_pts is not None and result.ci_high_pts is not None
        assert all(math.isfinite(x) for x in (result.diff_pts, result.ci_low_pts))
        assert -100 <= result.ci_low_pts <= result.diff_pts <= result.ci_high_pts <= 100
    assert "nan" not in result.label.lower()
    if result.verdict == "helps":
        assert result.ci_low_pts is not None and result.ci_low_pts > 0
    if result.verdict == "hurts":
        assert result.ci_high_pts is not None and result.ci_high_pts < 0


# --- the shared stats helpers ---------------------------------------------------------------


def test_rates_without_a_denominator_are_none_not_nan() -> None:
    assert ratio(0, 0) is None and ratio(3, 0) is None and ratio(1, 4) == 0.25
    empty = Rate(0, 0)
    assert (empty.value, empty.pct, empty.exact, empty.interval_pct) == (None, None, None, None)
    assert empty.label == "n/a (none yet)"
    assert Rate(8, 200).label == "4.0% (8 of 200)"
    low, high = Rate(8, 200).interval_pct or (0.0, 0.0)
    assert low < 4.0 < high
    with pytest.raises(ValueError, match="non-negative"):
        Rate(-1, 10)


def test_two_proportion_interval_needs_both_groups() -> None:
    assert two_proportion_interval(1, 10, 0, 0) is None
    assert two_proportion_interval(0, 0, 1, 10) is None
    assert two_proportion_interval(10, 10, 0, 10) == (1.0, 1.0, 1.0)


def test_wilson_moved_to_the_domain_and_is_still_importable_where_it_was() -> None:
    assert wilson_from_campaign_configs is wilson
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
