"""Variant against variant: Newcombe intervals, the Bonferroni adjustment and the winner rule."""

from __future__ import annotations

import random

import pytest

from nudge.domain.engagement.attribution import Cell
from nudge.domain.engagement.variants import (
    campaign_variant_rates,
    compare_variants,
    newcombe_interval,
    z_for,
)
from nudge.domain.stats import Rate

Z95 = 1.959964


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_interval_matches_the_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    result = newcombe_interval(*counts, z=Z95)
    assert result is not None
    assert (round(result[1], 4), round(result[2], 4)) == expected


def test_empty_groups_give_no_interval_and_no_winner() -> None:
    assert newcombe_interval(0, 0, 3, 10, Z95) is None
    result = compare_variants({"a": Rate(0, 0), "b": Rate(30, 100)}, min_per_group=1)
    assert result.winner is None and result.pairs[0].verdict == "not_enough_data"


def test_bonferroni_widens_each_interval_with_the_number_of_pairs() -> None:
    assert z_for(1) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(3) == pytest.approx(2.393980, abs=1e-6)  # 1 - 0.05/6 quantile
    two = compare_variants({"a": Rate(120, 1000), "b": Rate(100, 1000)}, 1)
    three = compare_variants({"a": Rate(120, 1000), "b": Rate(100, 1000), "c": Rate(1, 2)}, 1)
    narrow, wide = two.pairs[0], three.pairs[0]
    assert narrow.diff_pts == pytest.approx(wide.diff_pts or 0)
    assert (wide.ci_low_pts or 0) < (narrow.ci_low_pts or 0)
    assert (wide.ci_high_pts or 0) > (narrow.ci_high_pts or 0)
    assert two.confidence == pytest.approx(0.95) and three.confidence == pytest.approx(1 - 0.05 / 3)


def test_a_winner_must_beat_every_other_variant() -> None:
    # a beats c clearly but not b: nobody is named
    rates = {"a": Rate(200, 1000), "b": Rate(190, 1000), "c": Rate(100, 1000)}
    result = compare_variants(rates, min_per_group=100)
    verdicts = {(p.a, p.b): p.verdict for p in result.pairs}
    assert verdicts == {
        ("a", "b"): "no_difference",
        ("a", "c"): "a_better",
        ("b", "c"): "a_better",
    }
    assert result.winner is None and result.label == "no clear winner yet"
    # too few sends in one variant: no verdict at all, however big the gap
    small = compare_variants({"a": Rate(90, 100), "b": Rate(1, 99)}, min_per_group=100)
    assert small.winner is None and small.label.startswith("not enough data")


def _simulate(rng: random.Random, truth: dict[str, float], n: int) -> dict[str, Rate]:
    return {name: Rate(sum(rng.random() < p for _ in range(n)), n) for name, p in truth.items()}


def test_no_false_winner_when_the_variants_are_the_same() -> None:
    rng = random.Random(20260302)
    runs = 300
    false_winners = sum(
        compare_variants(_simulate(rng, {"a": 0.1, "b": 0.1, "c": 0.1}, 1000), 100).winner
        is not None
        for _ in range(runs)
    )
    assert false_winners <= 0.05 * runs


def test_a_big_planted_effect_is_named() -> None:
    rng = random.Random(7)
    runs = 100
    winners = [
        compare_variants(_simulate(rng, {"a": 0.10, "b": 0.10, "c": 0.16}, 2000), 100).winner
        for _ in range(runs)
    ]
    assert winners.count("c") >= 0.9 * runs
    assert set(winners) <= {"c", None}  # never the wrong one


def test_rates_come_from_the_campaigns_variant_cells_in_the_period() -> None:
    def cell(campaign: str, variant: str, day: str) -> Cell:
        return Cell(campaign, variant, "text", "marketing", day)

    cells = {
        cell("promo", "a", "2026-03-01"): {"sent": 100, "converted": 7},
        cell("promo", "a", "2026-03-02"): {"sent": 50, "converted": 3},
        cell("promo", "b", "2026-03-02"): {"sent": 40, "converted": 9},
        cell("promo", "holdout", "2026-03-02"): {"holdout": 30, "converted": 2},
        cell("other", "a", "2026-03-02"): {"sent": 999, "converted": 99},
        cell("promo", "a", "2026-02-01"): {"sent": 500, "converted": 50},
    }
    rates = campaign_variant_rates(cells, "promo", ["a", "b", "c"], start="2026-03-01")
    assert rates == {"a": Rate(10, 150), "b": Rate(9, 40), "c": Rate(0, 0)}
