"""Small statistics shared by reports: proportions, their intervals, safe ratios.

Pure arithmetic on counts. Nothing here returns NaN: an empty denominator gives None
(callers print "n/a"), and intervals are clipped to their possible range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

Z95 = 1.96  # two-sided 95 % normal quantile


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when there is no whole (never NaN, never ZeroDivisionError)."""
    return part / whole if whole > 0 else None


def wilson(matched: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% interval of a proportion (Wilson score): sane at 0 and at n."""
    if n == 0:
        return 0.0, 1.0
    p = matched / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def two_proportion_interval(
    hits_a: int, n_a: int, hits_b: int, n_b: int, z: float = Z95
) -> tuple[float, float, float] | None:
    """p_a - p_b with its unpooled normal (Wald) interval: (difference, low, high).

    se = sqrt(p_a (1 - p_a) / n_a + p_b (1 - p_b) / n_b). None when either group is empty.
    Clipped to [-1, 1]; when both rates are 0 or 1 the interval collapses to the point.
    Hits above n (a period that cuts conversions from their sends) count as n.
    """
    if n_a <= 0 or n_b <= 0:
        return None
    p_a, p_b = min(hits_a, n_a) / n_a, min(hits_b, n_b) / n_b
    difference = p_a - p_b
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    return difference, max(-1.0, difference - z * se), min(1.0, difference + z * se)


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` of `n` (opens of delivered, conversions of sends...); no rate when n is 0."""

    count: int
    n: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.count < 0:
            raise ValueError("a rate needs non-negative counts")

    @property
    def value(self) -> float | None:
        """count / n, at most 1: a period can cut conversions or opt-outs from their sends."""
        return ratio(min(self.count, self.n), self.n)

    @property
    def exact(self) -> Fraction | None:
        """The value as an exact fraction: thresholds compared without float rounding."""
        return Fraction(min(self.count, self.n), self.n) if self.n > 0 else None

    @property
    def pct(self) -> float | None:
        value = self.value
        return None if value is None else 100 * value

    @property
    def interval_pct(self) -> tuple[float, float] | None:
        """Wilson 95 % interval in percent; None when there is nothing to measure."""
        if self.n <= 0:
            return None
        low, high = wilson(min(self.count, self.n), self.n)
        return 100 * low, 100 * high

    @property
    def label(self) -> str:
        pct = self.pct
        return "n/a (none yet)" if pct is None else f"{pct:.1f}% ({self.count} of {self.n})"
