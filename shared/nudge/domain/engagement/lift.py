"""Lift: does a campaign change conversion compared with its holdout (control) group?

Conversion rate of the exposed (converted / sent, every variant pooled or one variant) minus
the holdout's (converted / holdout), in percentage points, with the 95 % unpooled normal
(Wald) interval  d +- 1.96 * sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0)  (stats.py).
Verdicts: "not enough data yet" (a group below `min_lift_group`), "no measurable effect yet"
(the interval includes 0; touching it counts), "+3.1 pts, significant" and
"-2.0 pts, significant (hurts)". Empty groups give None, never NaN or a ZeroDivisionError.
Conversions are counted on their own day (as the campaign counters are), so a short period
can cut a send from its conversion; the arithmetic stays finite even then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import HOLDOUT, Cells, in_period
from nudge.domain.stats import Rate, two_proportion_interval

LiftVerdict = Literal["not_enough_data", "no_effect", "helps", "hurts"]


def _pts(value: float) -> str:
    """'+3.1 pts'; a value that rounds to zero prints '+0.0', never '-0.0'."""
    return f"{(round(value, 1) + 0.0):+.1f}"


@dataclass(frozen=True)
class Lift:
    campaign: str
    variant: str | None  # None: every variant pooled
    exposed: Rate  # converted / sent
    holdout: Rate  # converted / holdout
    diff_pts: float | None  # None unless both groups have someone (never NaN)
    ci_low_pts: float | None
    ci_high_pts: float | None
    verdict: LiftVerdict
    label: str


def lift(
    campaign: str,
    exposed: Rate,
    holdout: Rate,
    min_per_group: int,
    variant: str | None = None,
) -> Lift:
    """Exposed minus holdout conversion, in points, with its interval and a verdict."""
    needed = max(1, min_per_group)
    interval = two_proportion_interval(exposed.count, exposed.n, holdout.count, holdout.n)
    diff = low = high = None
    if interval is not None:
        diff, low, high = (100 * value for value in interval)
    if exposed.n < needed or holdout.n < needed:
        if exposed.n == 0 and holdout.n == 0:
            missing = "nothing sent and nobody in the holdout"
        elif holdout.n == 0:
            missing = "nobody in the holdout (is holdout_pct 0?)"
        else:
            missing = f"{exposed.n} sent and {holdout.n} in the holdout"
        label = f"not enough data yet: {missing}; {needed} needed in each"
        verdict: LiftVerdict = "not_enough_data"
    else:
        assert diff is not None and low is not None and high is not None
        ci = f"95% CI {_pts(low)} to {_pts(high)}"
        if low > 0:
            verdict, label = "helps", f"{_pts(diff)} pts, significant ({ci})"
        elif high < 0:
            verdict, label = "hurts", f"{_pts(diff)} pts, significant (hurts) ({ci})"
        else:
            verdict, label = "no_effect", f"no measurable effect yet: {_pts(diff)} pts ({ci})"
    return Lift(campaign, variant, exposed, holdout, diff, low, high, verdict, label)


def campaign_lift(
    cells: Cells,
    campaign: str,
    config: AnalyticsConfig,
    variant: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Lift:
    """Lift of one campaign (or one of its variants) over days start..end."""
    sent = exposed_converted = held = held_converted = 0
    for cell, counts in cells.items():
        if cell.campaign != campaign or not in_period(cell, start, end):
            continue
        if cell.variant == HOLDOUT:
            held += counts.get("holdout", 0)
            held_converted += counts.get("converted", 0)
        elif variant is None or cell.variant == variant:
            sent += counts.get("sent", 0)
            exposed_converted += counts.get("converted", 0)
    return lift(
        campaign,
        Rate(exposed_converted, sent),
        Rate(held_converted, held),
        config.min_lift_group,
        variant,
    )
