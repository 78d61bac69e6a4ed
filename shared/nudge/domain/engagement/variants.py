"""Variant against variant: which of a campaign's variants converts best, if any clearly does.

Every pair (a, b) gets the difference of conversion rates (converted / sent), in points, with
Newcombe's hybrid score interval (Newcombe 1998, "method 10": built from the two Wilson score
intervals; sane near 0 % and 100 % and at small n, unlike the Wald interval). With k variants
there are m = k (k - 1) / 2 pairs, so each interval is Bonferroni-adjusted: computed at
1 - 0.05 / m, which keeps the chance of *any* false "a beats b" in the report at most 5 %.
A winner is named only when its adjusted interval against every other variant lies above 0
(touching 0 is not enough) and every variant has `min_per_group` sends; otherwise none is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Literal

from nudge.domain.engagement.attribution import HOLDOUT, Cells, in_period
from nudge.domain.stats import Rate, wilson

FAMILY_CONFIDENCE = 0.95
METHOD = "Newcombe hybrid score interval, Bonferroni-adjusted (family-wise 95%)"

PairVerdict = Literal["not_enough_data", "no_difference", "a_better", "b_better"]


@dataclass(frozen=True)
class PairDifference:
    a: str
    b: str
    diff_pts: float | None  # a minus b; None when either has no sends
    ci_low_pts: float | None
    ci_high_pts: float | None
    verdict: PairVerdict


@dataclass(frozen=True)
class VariantComparison:
    rates: dict[str, Rate]  # conversions of sends, per variant
    confidence: float  # per pair, after the adjustment
    pairs: list[PairDifference]
    winner: str | None
    label: str
    method: str = METHOD


def z_for(comparisons: int, family_confidence: float = FAMILY_CONFIDENCE) -> float:
    """The two-sided normal quantile of one of `comparisons` Bonferroni-adjusted intervals."""
    alpha = (1 - family_confidence) / max(1, comparisons)
    return NormalDist().inv_cdf(1 - alpha / 2)


def newcombe_interval(
    hits_a: int, n_a: int, hits_b: int, n_b: int, z: float
) -> tuple[float, float, float] | None:
    """p_a - p_b with Newcombe's hybrid score interval: (difference, low, high); None if empty.

    low  = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2),  high = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)
    with (l, u) each proportion's Wilson interval at the same z. Hits above n count as n.
    """
    if n_a <= 0 or n_b <= 0:
        return None
    hits_a, hits_b = min(hits_a, n_a), min(hits_b, n_b)
    p_a, p_b = hits_a / n_a, hits_b / n_b
    low_a, high_a = wilson(hits_a, n_a, z)
    low_b, high_b = wilson(hits_b, n_b, z)
    diff = p_a - p_b
    low = diff - math.hypot(p_a - low_a, high_b - p_b)
    high = diff + math.hypot(high_a - p_a, p_b - low_b)
    return diff, max(-1.0, low), min(1.0, high)


def compare_variants(rates: dict[str, Rate], min_per_group: int) -> VariantComparison:
    """Every pair of variants compared, and the clear winner if there is one."""
    names = list(rates)
    pairs_of = list(combinations(names, 2))
    z = z_for(len(pairs_of))
    confidence = 1 - 2 * (1 - NormalDist().cdf(z))
    needed = max(1, min_per_group)
    enough = all(rate.n >= needed for rate in rates.values())
    pairs = []
    beats: dict[str, int] = dict.fromkeys(names, 0)
    for a, b in pairs_of:
        ra, rb = rates[a], rates[b]
        interval = newcombe_interval(ra.count, ra.n, rb.count, rb.n, z)
        diff = low = high = None
        if interval is not None:
            diff, low, high = (100 * value for value in interval)
        verdict: PairVerdict = "not_enough_data"
        if enough and low is not None and high is not None:
            verdict = "a_better" if low > 0 else "b_better" if high < 0 else "no_difference"
            if verdict != "no_difference":
                beats[a if verdict == "a_better" else b] += 1
        pairs.append(PairDifference(a, b, diff, low, high, verdict))
    winner = next(
        (name for name in names if len(names) > 1 and beats[name] == len(names) - 1), None
    )
    return VariantComparison(
        rates, confidence, pairs, winner, _label(names, winner, enough, needed)
    )


def _label(names: list[str], winner: str | None, enough: bool, needed: int) -> str:
    if len(names) < 2:
        return "one variant: nothing to compare"
    if not enough:
        return f"not enough data yet: {needed} sends needed for every variant"
    if winner is not None:
        return f"{winner} converts best, clear against every other variant"
    return "no clear winner yet"


def campaign_variant_rates(
    cells: Cells,
    campaign: str,
    variants: list[str],
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Rate]:
    """Conversions of sends per variant (every variant named, zeros kept) over days start..end."""
    sent = dict.fromkeys(variants, 0)
    converted = dict.fromkeys(variants, 0)
    for cell, counts in cells.items():
        if cell.campaign != campaign or cell.variant == HOLDOUT or cell.variant not in sent:
            continue
        if in_period(cell, start, end):
            sent[cell.variant] += counts.get("sent", 0)
            converted[cell.variant] += counts.get("converted", 0)
    return {name: Rate(converted[name], sent[name]) for name in variants}
