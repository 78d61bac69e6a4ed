"""The regional response model, recomputed on the scheduler tick and published for the pipeline.

On a tick at most once per `analytics.regional_model.every_hours`: the breakdown counters of
the last `window_days` UTC days (ending yesterday, a complete day) of every published campaign,
summed per category, fitted per metric (domain/engagement/regional_model.py) and published
beside the campaign catalog (`ConfigStore.publish_response_model`), where the pipeline's one
catalog read picks it up. Nothing here runs per event: it reads counters, never raw events.

Idempotent: a tick that finds a model computed within the period does nothing; two ticks at
once both fit the same counters and the catalog's conditional write keeps one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import RegionalModelConfig
from nudge.domain.engagement.breakdown import DAY
from nudge.domain.engagement.regional_model import (
    METRICS,
    RegionalFit,
    RegionEstimate,
    fit,
    fit_categories,
    published,
    region_counts,
)
from nudge.models.response_model import ResponseModel
from nudge.services.ports import BreakdownCounters, CampaignCatalog, ResponseModels

Cells = dict[tuple[str, str], Counter[str]]


class UnknownCategory(LookupError):
    pass


@dataclass
class RegionalModelService:
    counters: BreakdownCounters
    catalog: CampaignCatalog
    models: ResponseModels
    clock: Clock
    config: RegionalModelConfig = field(default_factory=RegionalModelConfig)

    def run(self) -> ResponseModel | None:
        """The tick's chore: recompute and publish when due (None: not due, or disabled)."""
        if not self.config.enabled:
            return None
        now = to_epoch(self.clock.now())
        current = self.models.response_model(fresh=True)
        if current is not None and now - current.computed_at < self.config.every_hours * 3_600:
            return None
        model = self.compute()
        self.models.publish_response_model(model)
        return model

    def compute(self) -> ResponseModel:
        since, until = self._window()
        fits = fit_categories(self._cells_by_category(since, until), self.config.level)
        return published(fits, self.config.level, since, until, to_epoch(self.clock.now()))

    def report(self, category: str, metric: str | None = None) -> dict[str, Any]:
        """The model of one category as the report shows it: each region's prediction with
        its 95 % interval, and the regions better or worse than the rest (fitted now, over the
        same window the tick uses; the published model's time alongside)."""
        metrics = [metric] if metric else list(METRICS)
        for name in metrics:
            if name not in METRICS:
                raise ValueError(f"metric: one of {', '.join(METRICS)}, not {name!r}")
        since, until = self._window()
        cells = self._cells_by_category(since, until, category).get(category)
        if cells is None:
            raise UnknownCategory(f"category: no published campaign in {category!r}")
        current = self.models.response_model()
        return {
            "category": category,
            "level": self.config.level,
            "since": since,
            "until": until,
            "published_at": current.computed_at if current else None,
            "metrics": {
                name: fit_json(fit(name, region_counts(cells, self.config.level, name)))
                for name in metrics
            },
        }

    def _window(self) -> tuple[str, str]:
        yesterday = to_epoch(self.clock.now()) // DAY - 1
        return day_key((yesterday - self.config.window_days + 1) * DAY), day_key(yesterday * DAY)

    def _cells_by_category(
        self, since: str, until: str, only: str | None = None
    ) -> dict[str, Cells]:
        by_category: dict[str, list[str]] = {}
        for campaign in self.catalog.current().campaigns.values():
            if only is None or campaign.category == only:
                by_category.setdefault(campaign.category, []).append(campaign.id)
        return {
            category: self.counters.cells(sorted(ids), since, until)
            for category, ids in sorted(by_category.items())
        }


def estimate_json(estimate: RegionEstimate) -> dict[str, Any]:
    return {
        "region": estimate.region,
        "sends": estimate.sends,
        "hits": estimate.hits,
        "observed": estimate.observed,
        "predicted": estimate.predicted,
        "low": estimate.low,
        "high": estimate.high,
        "verdict": estimate.verdict,
    }


def fit_json(result: RegionalFit) -> dict[str, Any]:
    return {
        "overall": result.overall,
        "sends": result.sends,
        "prior": {"alpha": result.prior.alpha, "beta": result.prior.beta},
        "better": [estimate_json(r) for r in result.better()],
        "worse": [estimate_json(r) for r in result.worse()],
        "regions": [estimate_json(r) for r in result.regions],
    }
