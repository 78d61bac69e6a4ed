"""NPS arithmetic, confidence interval, edge cases and reports from aggregates."""

from __future__ import annotations

import math
import time
from datetime import date

import pytest

from nudge.domain.nps.score import (
    OVERALL,
    Cell,
    NpsAggregates,
    ScoreCounts,
    breakdown,
    nps_summary,
    periods_between,
    rollup_weeks,
    trend,
)
from nudge.models.survey import Category, category_of
from tests.bench.nps import million_response_aggregates, run_nps_bench


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (0, Category.DETRACTOR),
        (6, Category.DETRACTOR),
        (7, Category.PASSIVE),
        (8, Category.PASSIVE),
        (9, Category.PROMOTER),
        (10, Category.PROMOTER),
    ],
)
def test_category_boundaries(score: int, category: Category) -> None:
    assert category_of(score) is category


@pytest.mark.parametrize("score", [-1, 11])
def test_category_outside_range(score: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        category_of(score)


def test_boundaries_in_the_score() -> None:
    summary = nps_summary(ScoreCounts.of([6, 7, 8, 9]))
    assert (summary.detractors, summary.passives, summary.promoters) == (1, 2, 1)
    assert summary.nps == 0
    assert summary.mean_score == 7.5


def test_no_responses_is_none_not_nan() -> None:
    summary = nps_summary(ScoreCounts())
    assert summary.n == 0
    assert summary.nps is None
    assert summary.ci_low is None
    assert summary.mean_score is None
    assert summary.insufficient
    assert summary.label == "no responses"


def test_all_promoters_is_100_with_a_zero_width_interval() -> None:
    summary = nps_summary(ScoreCounts.of([9, 10] * 50))
    assert (summary.nps, summary.ci_low, summary.ci_high) == (100, 100, 100)
    assert not summary.insufficient


def test_all_detractors_is_minus_100() -> None:
    summary = nps_summary(ScoreCounts.of([0] * 40))
    assert (summary.nps, summary.ci_low, summary.ci_high) == (-100, -100, -100)


def test_known_confidence_interval() -> None:
    # 50 promoters, 30 passives, 20 detractors: NPS 30, var = 0.7 - 0.3^2 = 0.61
    summary = nps_summary(ScoreCounts.of([10] * 50 + [8] * 30 + [3] * 20))
    assert summary.nps == pytest.approx(30)
    half = 1.96 * math.sqrt(0.61 / 100) * 100
    assert half == pytest.approx(15.308, abs=1e-3)
    assert summary.ci_low == pytest.approx(30 - half)
    assert summary.ci_high == pytest.approx(30 + half)
    assert summary.label == "NPS 30 (n=100, 95% CI 15 to 45)"


def test_interval_is_clipped_and_small_samples_flagged() -> None:
    summary = nps_summary(ScoreCounts.of([10, 10, 10, 2]))
    assert summary.ci_high == 100
    assert summary.insufficient
    assert "insufficient" in summary.label
    assert not nps_summary(ScoreCounts.of([10, 10, 10, 2]), min_responses=4).insufficient


def test_periods_between() -> None:
    assert periods_between(date(2026, 3, 1), date(2026, 3, 3), "day") == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    # 2026-03-01 is a Sunday (ISO week 9), 2026-03-02 a Monday (week 10)
    assert periods_between(date(2026, 3, 1), date(2026, 3, 9), "week") == [
        "2026-W09",
        "2026-W10",
        "2026-W11",
    ]
    assert periods_between(date(2025, 12, 29), date(2026, 1, 4), "week") == ["2026-W01"]
    assert periods_between(date(2026, 3, 2), date(2026, 3, 1), "day") == []


def test_trend_breakdown_and_rollup() -> None:
    aggregates = NpsAggregates()
    aggregates.add_counts(Cell("s", "2026-03-02", OVERALL, ""), ScoreCounts.of([10] * 30))
    aggregates.add_counts(Cell("s", "2026-03-03", OVERALL, ""), ScoreCounts.of([0] * 10))
    aggregates.add_counts(Cell("s", "2026-03-02", "platform", "ios"), ScoreCounts.of([10] * 30))
    aggregates.add_counts(Cell("s", "2026-03-03", "platform", "android"), ScoreCounts.of([0] * 10))
    aggregates.add_counts(Cell("other", "2026-03-02", OVERALL, ""), ScoreCounts.of([0] * 99))
    days = trend(aggregates, "s", date(2026, 3, 1), date(2026, 3, 3), "day")
    assert [(p.period, p.summary.n, p.summary.nps) for p in days] == [
        ("2026-03-01", 0, None),
        ("2026-03-02", 30, 100),
        ("2026-03-03", 10, -100),
    ]
    weeks = trend(rollup_weeks(aggregates), "s", date(2026, 3, 2), date(2026, 3, 8))
    assert [(p.period, p.summary.n, p.summary.nps) for p in weeks] == [("2026-W10", 40, 50)]
    rows = breakdown(aggregates, "s", "platform", date(2026, 3, 2), date(2026, 3, 3), "day")
    assert [(r.value, r.summary.n, r.summary.nps, r.summary.insufficient) for r in rows] == [
        ("ios", 30, 100, False),
        ("android", 10, -100, True),
    ]
    with pytest.raises(ValueError, match="unknown dimension"):
        breakdown(aggregates, "s", "colour", date(2026, 3, 2), date(2026, 3, 3))


def test_merging_aggregates_adds_counts() -> None:
    a, b = NpsAggregates(), NpsAggregates()
    cell = Cell("s", "2026-W10", OVERALL, "")
    a.add_counts(cell, ScoreCounts.of([9, 3]))
    b.add_counts(cell, ScoreCounts.of([9]))
    assert a.merge(b).get(cell) == ScoreCounts.of([9, 9, 3])
    assert a.get(cell) == ScoreCounts.of([9, 3])  # merge does not mutate


def test_reports_over_a_million_responses_are_fast() -> None:
    aggregates = million_response_aggregates()
    started = time.perf_counter()
    weekly = trend(aggregates, "s", date(2025, 1, 6), date(2026, 1, 4), "week")
    rows = breakdown(aggregates, "s", "lifecycle", date(2025, 1, 6), date(2026, 1, 4), "week")
    elapsed = time.perf_counter() - started
    assert sum(p.summary.n for p in weekly) == 1_000_000
    assert sum(r.summary.n for r in rows) == 1_000_000
    assert elapsed < 1.0


def test_bench_lines() -> None:
    lines = run_nps_bench()
    assert lines[0].startswith("nps report: ")
    assert "over 1,000,000 responses held as aggregates" in lines[0]
    assert lines[1].startswith("nps response ingestion: 14.6 DynamoDB write units per response")
