"""Guard rails: open and opt-out rates against the app's baseline, auto-pause, sunset advice.

Rates
    Opens and attributed opt-outs per delivered message (counters from engagement.py). The
    baseline pools every campaign and format of the period (the one judged included).
    Nothing delivered: no rate (None, printed "n/a"), never NaN or a ZeroDivisionError.
Pause
    A campaign with at least `min_sample` delivered whose opt-out rate is above
    `pause_opt_out_pct` is paused; exactly at the limit is tolerated. Compared as exact
    fractions: with a 2 % limit and 200 delivered, 5 opt-outs pause and 4 do not.
Sunset
    Campaigns and formats with at least `min_sample` delivered whose open rate is below
    `sunset_open_ratio` x the baseline's AND whose opt-out rate is above
    `sunset_opt_out_ratio` x the baseline's. Ranked by opt-out excess over the baseline
    first (an opt-out loses the user for good, a weak open rate only wastes a send), then
    open shortfall, then kind and name: the same input always gives the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Literal

from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import Cells, overall, totals
from nudge.domain.stats import Rate

Kind = Literal["campaign", "format"]


def _limit(pct: float) -> str:
    return f"{pct:g}%"


def open_rate(counts: Mapping[str, int]) -> Rate:
    return Rate(counts.get("opened", 0), counts.get("delivered", 0))


def opt_out_rate(counts: Mapping[str, int]) -> Rate:
    return Rate(counts.get("opt_out", 0), counts.get("delivered", 0))


def _minus_pts(rate: Rate, baseline: Rate) -> float | None:
    if rate.pct is None or baseline.pct is None:
        return None
    return rate.pct - baseline.pct


@dataclass(frozen=True)
class GuardRail:
    """One campaign's or format's open and opt-out rates next to the app's baseline."""

    kind: Kind
    key: str
    open_rate: Rate
    opt_out_rate: Rate
    baseline_open: Rate
    baseline_opt_out: Rate
    enough: bool  # at least min_sample delivered: the comparison means something

    @property
    def open_vs_baseline_pts(self) -> float | None:
        return _minus_pts(self.open_rate, self.baseline_open)

    @property
    def opt_out_vs_baseline_pts(self) -> float | None:
        return _minus_pts(self.opt_out_rate, self.baseline_opt_out)

    @property
    def evidence(self) -> str:
        return (
            f"opens {self.open_rate.label} vs {self.baseline_open.label} baseline; "
            f"opt-outs {self.opt_out_rate.label} vs {self.baseline_opt_out.label} baseline"
        )


def guard_rails(
    cells: Cells, config: AnalyticsConfig, start: str | None = None, end: str | None = None
) -> list[GuardRail]:
    """Every campaign, then every format, of the period against the pooled baseline.

    Records without a format (targeted, holdout, suppressed: never shown) form no format row.
    """
    base = overall(cells, start, end)
    baseline_open, baseline_opt_out = open_rate(base), opt_out_rate(base)
    rows = []
    kinds: tuple[Kind, ...] = ("campaign", "format")
    for kind in kinds:
        for key, counts in sorted(totals(cells, kind, start, end).items()):
            if not key:
                continue
            rows.append(
                GuardRail(
                    kind,
                    key,
                    open_rate(counts),
                    opt_out_rate(counts),
                    baseline_open,
                    baseline_opt_out,
                    counts.get("delivered", 0) >= config.min_sample,
                )
            )
    return rows


@dataclass(frozen=True)
class PauseDecision:
    campaign: str
    pause: bool
    reason: str
    opt_out_rate: Rate  # the evidence; its Wilson interval is opt_out_rate.interval_pct
    threshold_pct: float
    min_sample: int


def pause_decision(
    campaign: str, counts: Mapping[str, int], config: AnalyticsConfig
) -> PauseDecision:
    """Pause a campaign whose opt-out rate is over the limit, once the sample is big enough."""
    rate = opt_out_rate(counts)
    limit, needed = config.pause_opt_out_pct, config.min_sample

    def decide(pause: bool, reason: str) -> PauseDecision:
        return PauseDecision(campaign, pause, reason, rate, limit, needed)

    if rate.n < needed:
        so_far = f"; opt-out rate so far {rate.label}" if rate.n else ""
        return decide(False, f"not enough data: {rate.n} delivered, {needed} needed{so_far}")
    # exact: opt-outs / delivered > limit / 100, without float rounding at the edge
    if (rate.exact or 0) * 100 > Fraction(str(limit)):
        return decide(True, f"opt-out rate {rate.label} is above the {_limit(limit)} limit")
    return decide(False, f"opt-out rate {rate.label} is within the {_limit(limit)} limit")


def pause_decisions(
    cells: Cells,
    config: AnalyticsConfig,
    campaigns: Iterable[str] = (),
    start: str | None = None,
    end: str | None = None,
) -> list[PauseDecision]:
    """A decision for every campaign with counters, and for `campaigns` even without any."""
    by_campaign = totals(cells, "campaign", start, end)
    names = sorted(set(by_campaign) | set(campaigns))
    return [pause_decision(name, by_campaign.get(name, {}), config) for name in names]


# --- sunset ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SunsetCandidate(GuardRail):
    """A guard-rail row weak on opens and strong on opt-outs, with by how much."""

    open_shortfall_pts: float  # baseline open rate minus this one's (> 0)
    opt_out_excess_pts: float  # this opt-out rate minus the baseline's (> 0)


@dataclass(frozen=True)
class SunsetAdvice:
    ranked: list[SunsetCandidate]  # worst first
    too_small: list[tuple[Kind, str, int]]  # (kind, key, delivered): below min_sample
    summary: str


def _share(rate: Rate) -> Fraction:
    return rate.exact or Fraction(0)


def sunset_advice(
    cells: Cells, config: AnalyticsConfig, start: str | None = None, end: str | None = None
) -> SunsetAdvice:
    """Formats and campaigns to retire: weak on opens and strong on opt-outs, worst first."""
    ranked: list[tuple[tuple[Fraction, Fraction, str, str], SunsetCandidate]] = []
    too_small: list[tuple[Kind, str, int]] = []
    open_ratio = Fraction(str(config.sunset_open_ratio))
    opt_out_ratio = Fraction(str(config.sunset_opt_out_ratio))
    rows = guard_rails(cells, config, start, end)
    for row in rows:
        if not row.enough:
            too_small.append((row.kind, row.key, row.open_rate.n))
            continue
        opens, base_opens = _share(row.open_rate), _share(row.baseline_open)
        opt_outs, base_opt_outs = _share(row.opt_out_rate), _share(row.baseline_opt_out)
        if not (opens < base_opens * open_ratio and opt_outs > base_opt_outs * opt_out_ratio):
            continue
        excess, shortfall = opt_outs - base_opt_outs, base_opens - opens
        candidate = SunsetCandidate(
            **{f.name: getattr(row, f.name) for f in fields(GuardRail)},
            open_shortfall_pts=float(100 * shortfall),
            opt_out_excess_pts=float(100 * excess),
        )
        ranked.append(((-excess, -shortfall, row.kind, row.key), candidate))
    ranked.sort(key=lambda item: item[0])
    if not rows or rows[0].baseline_open.n == 0:
        summary = "n/a: nothing delivered in this period"
    else:
        found = len(ranked)
        summary = f"{found or 'no'} sunset candidate{'' if found == 1 else 's'}"
        if too_small:
            summary += f" ({len(too_small)} not judged: fewer than {config.min_sample} delivered)"
    return SunsetAdvice([candidate for _, candidate in ranked], too_small, summary)
