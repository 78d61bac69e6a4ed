"""The published regional response model: per campaign category and metric, each region's
predicted rate (the empirical-Bayes posterior mean, domain/engagement/regional_model.py).

Recomputed on the scheduler tick from the breakdown counters and stored beside the campaign
catalog, so the pipeline reads it in the BatchGetItem it already makes; small (region -> rate).
Segment conditions `predicted_response` and `top_regions` read it through a `RegionalView`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from nudge.models.profile import Profile

ResponseMetric = Literal["open", "conversion", "opt_out"]
RegionLevel = Literal["country", "region"]


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class RegionalPredictions(_Record):
    """One category and metric: the overall rate and each region's predicted rate."""

    overall: float = Field(ge=0, le=1)  # also the prediction for a region with no sends yet
    sends: int = Field(ge=0)
    regions: dict[str, float] = Field(default_factory=dict)
    # best first, by the lower end of each region's 95 % interval (a region's prediction
    # alone would put a lucky dozen sends near the top when regions differ a lot)
    ranked: list[str] = Field(default_factory=list)

    def predicted(self, region: str) -> float:
        return self.regions.get(region, self.overall)

    def top(self, share: float) -> list[str]:
        """The best `share` of the ranked regions (at least one), best first."""
        return self.ranked[: self._cut(share)]

    def rank(self, region: str) -> int | None:
        """1 for the best region; None for a region with no sends."""
        return self._ranks.get(region)

    def in_top(self, region: str, share: float) -> bool:
        rank = self.rank(region)
        return rank is not None and rank <= self._cut(share)

    def _cut(self, share: float) -> int:
        return max(1, math.ceil(share * len(self.ranked)))

    @cached_property
    def _ranks(self) -> dict[str, int]:  # once per published model, not per user
        return {region: i + 1 for i, region in enumerate(self.ranked)}


class ResponseModel(_Record):
    """Every category's predictions, as of one recompute."""

    level: RegionLevel = "country"  # what a "region" is: the breakdown's country or region
    since: str  # the UTC days the counters covered (YYYY-MM-DD, inclusive)
    until: str
    computed_at: int
    categories: dict[str, dict[ResponseMetric, RegionalPredictions]] = Field(default_factory=dict)

    def predictions(self, category: str, metric: str) -> RegionalPredictions | None:
        return self.categories.get(category, {}).get(metric)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RegionalView:
    """What a segment needs to judge a user by region: the model and the user's region key
    (`region_of` returns "" when nothing about the user names one)."""

    model: ResponseModel
    region_of: Callable[[Profile], str]
