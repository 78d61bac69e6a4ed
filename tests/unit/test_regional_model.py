"""The regional response model on simulated data with planted regional differences."""

from __future__ import annotations

import numpy as np
import pytest

from nudge.domain.engagement.regional_model import MAX_PRIOR_STRENGTH, fit, fit_prior

BASE, PLANTED = 0.10, 0.15  # three regions respond 5 points better than the other 27


def simulated(seed: int) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """30 regions with 500..20,000 sends (log-uniform) and 5 tiny ones (5..20 sends), all at
    the base rate except the three planted ones."""
    rng = np.random.default_rng(seed)
    counts: dict[str, tuple[int, int]] = {}
    planted = {"r0", "r1", "r2"}
    for i in range(30):
        sends = int(10 ** rng.uniform(2.7, 4.3))
        rate = PLANTED if f"r{i}" in planted else BASE
        counts[f"r{i}"] = (int(rng.binomial(sends, rate)), sends)
    for j in range(5):
        sends = int(rng.integers(5, 21))
        counts[f"tiny{j}"] = (int(rng.binomial(sends, BASE)), sends)
    return counts, planted


def test_ranks_the_planted_best_regions_first_in_at_least_90_percent_of_seeds() -> None:
    seeds = range(200)
    model_hits = raw_hits = 0
    for seed in seeds:
        counts, planted = simulated(seed)
        top = {estimate.region for estimate in fit("conversion", counts).regions[:3]}
        model_hits += top == planted
        raw = sorted(counts, key=lambda r: -counts[r][0] / counts[r][1])[:3]
        raw_hits += set(raw) == planted
    assert model_hits >= 0.9 * len(seeds)
    assert raw_hits < 0.5 * len(seeds)  # the raw rates: lucky tiny regions crowd the top


def test_a_12_send_region_at_50_percent_does_not_outrank_5000_sends_at_12_percent() -> None:
    """Among 30 regions whose true rates spread around 10 % (sd ~1 point), with 500..20,000
    sends each: 6 of 12 is mostly luck, 600 of 5,000 is evidence."""
    for seed in range(50):
        rng = np.random.default_rng(seed)
        counts: dict[str, tuple[int, int]] = {}
        for i in range(30):
            sends = int(10 ** rng.uniform(2.7, 4.3))
            counts[f"r{i}"] = (int(rng.binomial(sends, rng.beta(90, 810))), sends)
        counts["lucky"] = (6, 12)
        counts["solid"] = (600, 5_000)
        by_region = {estimate.region: estimate for estimate in fit("conversion", counts).regions}
        assert by_region["lucky"].observed == 0.5
        assert by_region["solid"].predicted > by_region["lucky"].predicted, seed
        assert by_region["lucky"].predicted < 0.15  # pulled most of the way to the overall rate
        assert by_region["lucky"].verdict == "as the rest"
        assert abs(by_region["solid"].predicted - 0.12) < 0.005  # a big sample keeps its rate
        ranked = [estimate.region for estimate in fit("conversion", counts).regions]
        assert ranked.index("solid") < ranked.index("lucky")


def test_a_lucky_dozen_never_ranks_first_even_when_regions_differ_a_lot() -> None:
    """With planted regions 5 points apart the prior is weak and 6 of 12 predicts ~12 %, but
    the ranking (by the interval's lower end) still puts it below every well-measured leader."""
    for seed in range(50):
        counts, planted = simulated(seed)
        counts["lucky"] = (6, 12)
        ranked = [estimate.region for estimate in fit("conversion", counts).regions]
        assert ranked.index("lucky") > max(ranked.index(region) for region in planted), seed


def test_better_and_worse_are_the_regions_whose_interval_clears_the_overall_rate() -> None:
    rng = np.random.default_rng(3)
    truth = {f"r{i}": BASE for i in range(20)} | {"up": 0.16, "down": 0.05}
    counts = {r: (int(rng.binomial(8_000, p)), 8_000) for r, p in truth.items()}
    model = fit("conversion", counts)
    assert [r.region for r in model.better()] == ["up"]
    assert [r.region for r in model.worse()] == ["down"]
    for estimate in model.better():
        assert estimate.low > model.overall
    for estimate in model.worse():
        assert estimate.high < model.overall


def test_the_interval_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    covered = total = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        truth = {f"r{i}": float(rng.beta(20, 180)) for i in range(30)}
        counts = {r: (int(rng.binomial(n, p)), n) for r, p in truth.items() for n in [1_000]}
        for estimate in fit("open", counts).regions:
            covered += estimate.low <= truth[estimate.region] <= estimate.high
            total += 1
    assert 0.9 <= covered / total <= 0.99


def test_regions_that_differ_no_more_than_noise_all_shrink_to_the_overall_rate() -> None:
    counts = {f"r{i}": (100, 1_000) for i in range(10)}
    prior = fit_prior(counts)
    assert prior.strength == pytest.approx(MAX_PRIOR_STRENGTH, rel=0.01)
    assert prior.mean == pytest.approx(0.1)
    assert all(r.verdict == "as the rest" for r in fit("open", counts).regions)


def test_degenerate_counts_give_proper_estimates_not_errors() -> None:
    assert fit("open", {}).regions == ()
    assert fit("open", {"nl": (0, 0)}).regions == ()  # no sends: not a region to rank
    nobody = fit("opt_out", {"nl": (0, 500), "be": (0, 40)})
    assert all(r.predicted == pytest.approx(0, abs=1e-6) for r in nobody.regions)
    assert all(0 <= r.low <= r.high <= 1 for r in nobody.regions)
    capped = fit("open", {"nl": (50, 20), "be": (5, 100)})  # a window cut sends from opens
    assert capped.regions[0].hits == 20 and capped.regions[0].predicted <= 1
    single = fit("open", {"nl": (30, 100)})
    assert single.regions[0].predicted == pytest.approx(0.3)
