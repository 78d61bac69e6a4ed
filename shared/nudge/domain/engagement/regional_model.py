"""Which regions respond better to a campaign category: empirical-Bayes beta-binomial shrinkage.

Each region's true rate (opens, conversions or opt-outs per send) is taken to be drawn from one
Beta(alpha, beta) shared by all regions of a category; the prior is fitted across the regions
(mean: the pooled rate; strength: maximum marginal likelihood, see `fit_prior`), and each region's
estimate is its posterior mean (k + alpha) / (n + alpha + beta). A region with 12 sends stays
close to the overall rate, one with 5,000 keeps its own: nobody is "best" on a lucky dozen.

The 95 % interval is a normal approximation of the Beta posterior (mean +/- 1.96 sd, clipped
to [0, 1]): the standard library has no Beta quantile and the layer carries no scipy. It is
close to exact once k + alpha and n - k + beta are both above ~10, which the prior's strength
guarantees for all but the rarest metrics. A region is "better" (or "worse") than the rest
only when that interval lies wholly above (or below) the overall rate.

Assumptions: sends within a region are independent trials with one rate; a user who moves
counts where they were when sent (the counters' cell); regions are exchangeable a priori.
Pure: counts in, estimates out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from nudge.domain.engagement.breakdown import UNKNOWN, ResponseCell, cell_of
from nudge.domain.stats import Z95
from nudge.models.profile import Profile
from nudge.models.response_model import (
    RegionalPredictions,
    RegionalView,
    RegionLevel,
    ResponseModel,
)

Metric = Literal["open", "conversion", "opt_out"]
METRICS: tuple[Metric, ...] = ("open", "conversion", "opt_out")
Verdict = Literal["better", "worse", "as the rest"]
# Prior strength (alpha + beta) when regions differ no more than noise would make them: they
# all shrink (almost) to the overall rate. Bounded so the posterior stays a proper Beta.
MAX_PRIOR_STRENGTH = 1e7
MIN_SHAPE = 1e-3  # a metric nobody ever hit (alpha -> 0) still gives a proper posterior


@dataclass(frozen=True, slots=True)
class BetaPrior:
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """alpha + beta: how many sends' worth of weight the overall rate carries."""
        return self.alpha + self.beta


@dataclass(frozen=True, slots=True)
class RegionEstimate:
    region: str
    sends: int
    hits: int
    predicted: float  # posterior mean
    low: float  # 95 % interval of the posterior
    high: float
    verdict: Verdict

    @property
    def observed(self) -> float | None:
        return self.hits / self.sends if self.sends else None


@dataclass(frozen=True, slots=True)
class RegionalFit:
    """One category and metric: the prior, the overall rate, every region's estimate."""

    metric: str
    overall: float  # the pooled rate over all regions (hits / sends)
    sends: int
    prior: BetaPrior
    # best first: by the lower end of the 95 % interval (what the region surely does at
    # least; a dozen lucky sends do not come first), then the prediction, sends, name
    regions: tuple[RegionEstimate, ...]

    def better(self) -> list[RegionEstimate]:
        return [r for r in self.regions if r.verdict == "better"]

    def worse(self) -> list[RegionEstimate]:
        return [r for r in self.regions if r.verdict == "worse"]

    def predictions(self) -> dict[str, float]:
        return {r.region: r.predicted for r in self.regions}


def fit_prior(counts: Mapping[str, tuple[int, int]]) -> BetaPrior:
    """The Beta prior across regions' (hits, sends): its mean is the pooled rate, its strength
    (alpha + beta) maximises the beta-binomial marginal likelihood of all regions' counts.

    Maximum likelihood rather than the method of moments: with sample sizes from a dozen to
    tens of thousands, the moments are dominated by a few regions and swing from seed to seed;
    the likelihood weighs each region by its own noise. The profile likelihood in the strength
    is searched by golden section on its logarithm (unimodal in practice; ~60 evaluations).
    No spread beyond binomial noise: the strongest prior, every region at the overall rate.
    """
    cells = [(min(k, n), n) for k, n in counts.values() if n > 0]
    total = sum(n for _, n in cells)
    if total == 0:
        return BetaPrior(1.0, 1.0)  # nothing sent: uniform, every region "as the rest"
    mean = sum(k for k, _ in cells) / total
    if len(cells) < 2 or mean in (0.0, 1.0):
        strength = MAX_PRIOR_STRENGTH  # one region, or nobody ever hit: nothing to spread
    else:
        strength = math.exp(_golden_max(lambda x: _log_likelihood(cells, mean, math.exp(x))))
    return BetaPrior(max(mean * strength, MIN_SHAPE), max((1 - mean) * strength, MIN_SHAPE))


def _log_likelihood(cells: list[tuple[int, int]], mean: float, strength: float) -> float:
    """Beta-binomial log marginal likelihood (without the binomial coefficients, constant)."""
    a, b = mean * strength, (1 - mean) * strength
    lg = math.lgamma
    fixed = lg(a + b) - lg(a) - lg(b)
    return sum(lg(k + a) + lg(n - k + b) - lg(n + a + b) + fixed for k, n in cells)


def _golden_max(f: Callable[[float], float], tolerance: float = 1e-3) -> float:
    """argmax of a unimodal f over [log 1, log MAX_PRIOR_STRENGTH]."""
    low, high = 0.0, math.log(MAX_PRIOR_STRENGTH)
    ratio = (math.sqrt(5) - 1) / 2
    x1, x2 = high - ratio * (high - low), low + ratio * (high - low)
    f1, f2 = f(x1), f(x2)
    while high - low > tolerance:
        if f1 < f2:
            low, x1, f1 = x1, x2, f2
            x2 = low + ratio * (high - low)
            f2 = f(x2)
        else:
            high, x2, f2 = x2, x1, f1
            x1 = high - ratio * (high - low)
            f1 = f(x1)
    return (low + high) / 2


def fit(metric: str, counts: Mapping[str, tuple[int, int]]) -> RegionalFit:
    """Every region's posterior for one metric; `counts`: region -> (hits, sends).

    Hits above sends (a window that cuts an open from its send) count as sends.
    """
    prior = fit_prior(counts)
    sends = sum(n for _, n in counts.values() if n > 0)
    hits = sum(min(k, n) for k, n in counts.values() if n > 0)
    overall = hits / sends if sends else prior.mean
    estimates = [
        _posterior(region, min(k, n), n, prior, overall)
        for region, (k, n) in counts.items()
        if n > 0
    ]
    estimates.sort(key=lambda r: (-r.low, -r.predicted, -r.sends, r.region))
    return RegionalFit(metric, overall, sends, prior, tuple(estimates))


def _posterior(region: str, k: int, n: int, prior: BetaPrior, overall: float) -> RegionEstimate:
    a, b = k + prior.alpha, n - k + prior.beta
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    low, high = max(0.0, mean - Z95 * sd), min(1.0, mean + Z95 * sd)
    verdict: Verdict = "better" if low > overall else "worse" if high < overall else "as the rest"
    return RegionEstimate(region, n, k, mean, low, high, verdict)


# --- from the breakdown counters to the published model ---------------------------------------

# metric -> the breakdown counter of its hits; every rate is per send
HITS: dict[str, str] = {"open": "opened", "conversion": "converted", "opt_out": "opt_out"}


def region_counts(
    cells: Mapping[tuple[str, str], Mapping[str, int]], level: RegionLevel, metric: str
) -> dict[str, tuple[int, int]]:
    """The breakdown's cells of one level as region -> (hits, sends); users of no known
    region are no region to rank (they stay in the overall rate through the other regions)."""
    hits = HITS[metric]
    return {
        value: (counts.get(hits, 0), counts.get("sent", 0))
        for (dimension, value), counts in cells.items()
        if dimension == level and value not in (UNKNOWN, "") and counts.get("sent", 0) > 0
    }


def fit_categories(
    cells_by_category: Mapping[str, Mapping[tuple[str, str], Mapping[str, int]]],
    level: RegionLevel,
) -> dict[str, dict[str, RegionalFit]]:
    """Every category's fit per metric (categories with no sends in a known region left out)."""
    fits: dict[str, dict[str, RegionalFit]] = {}
    for category, cells in sorted(cells_by_category.items()):
        for metric in METRICS:
            counts = region_counts(cells, level, metric)
            if counts:
                fits.setdefault(category, {})[metric] = fit(metric, counts)
    return fits


def published(
    fits: Mapping[str, Mapping[str, RegionalFit]],
    level: RegionLevel,
    since: str,
    until: str,
    at: int,
) -> ResponseModel:
    """What the pipeline reads: per category and metric, region -> predicted rate (rounded to
    what a targeting threshold can tell apart, so an unchanged model publishes unchanged)."""
    return ResponseModel(
        level=level,
        since=since,
        until=until,
        computed_at=at,
        categories={
            category: {
                metric: RegionalPredictions(
                    overall=round(result.overall, 6),
                    sends=result.sends,
                    regions={r.region: round(r.predicted, 6) for r in result.regions},
                    ranked=[r.region for r in result.regions],
                )
                for metric, result in by_metric.items()
            }
            for category, by_metric in fits.items()
        },
    )


def region_of(profile: Profile, level: RegionLevel) -> str:
    """The user's region as the breakdown counts it (country, or region), "" when unknown."""
    cell = ResponseCell.parse(cell_of(profile, lambda _name: False, ()))
    return cell.country if level == "country" else cell.region


_VIEWS: dict[int, tuple[ResponseModel, RegionalView]] = {}


def view_of(model: ResponseModel | None) -> RegionalView | None:
    """One RegionalView per published model (segments compile their checks per view)."""
    if model is None:
        return None
    cached = _VIEWS.get(id(model))
    if cached is not None and cached[0] is model:
        return cached[1]
    level = model.level
    view = RegionalView(model, lambda profile: region_of(profile, level))
    if len(_VIEWS) > 16:  # older models: a recompute an hour, a container keeps few
        _VIEWS.clear()
    _VIEWS[id(model)] = (model, view)
    return view
