"""Auto-promote: a campaign with `auto_promote: true` whose variant comparison names a clear
winner sends that variant to every user outside the holdout from then on.

Run on the scheduler tick. The winner is the one `compare_variants` names (every variant with
`min_lift_group` sends, the Bonferroni-adjusted interval against every other variant above
0), judged on the counters of at most `promote_window_days` days, none before the current
version's publish day and none from the day a promotion ended or before (per-day counters
cannot split that day, and it holds the evidence that was reverted). So a reverted winner is
promoted again only when data gathered after the revert says so.

The promotion is recorded on the campaign's pointer in the config store (when, which
variant, the evidence) and copied into the catalog the pipeline reads, so every Lambda picks
the same variant; `nudge campaign unpromote` ends it, as does publishing a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.variants import (
    VariantComparison,
    campaign_variant_rates,
    compare_variants,
)
from nudge.domain.profiles.aggregates import day_of
from nudge.models.configs import ConfigHead, Promotion
from nudge.services.campaigns.configs import CampaignConfigService
from nudge.services.engagement.reports import DAY, Period, ReportsService, variant_comparison_json


@dataclass
class AutoPromoteOutcome:
    judged: dict[str, VariantComparison] = field(default_factory=dict)
    promoted: list[str] = field(default_factory=list)


@dataclass
class AutoPromoteService:
    reports: ReportsService
    campaigns: CampaignConfigService
    config: AnalyticsConfig
    clock: Clock

    def run(self) -> AutoPromoteOutcome:
        outcome = AutoPromoteOutcome()
        published = self.reports.published_campaigns()
        candidates = {
            cid: campaign
            for cid, campaign in published.items()
            if campaign.auto_promote
            and campaign.status == "active"
            and len(campaign.variants) > 1
            and campaign.promoted_variant is None
        }
        if not candidates:
            return outcome
        period = self.reports.period(self.config.promote_window_days, candidates)
        store = self.campaigns.store
        for cid in sorted(candidates):
            head = store.head("campaign", cid)
            if head is None:
                continue
            first = self._first_day(head, period)
            if first > period.last:
                continue
            variants = [variant.id for variant in candidates[cid].variants]
            since = day_key(first * DAY)
            rates = campaign_variant_rates(period.cells, cid, variants, since, period.end)
            comparison = compare_variants(rates, self.config.min_lift_group)
            outcome.judged[cid] = comparison
            if comparison.winner is None:
                continue
            promotion = Promotion(
                variant=comparison.winner,
                at=to_epoch(self.clock.now()),
                version=head.version,
                since=since,
                until=period.end,
                evidence=variant_comparison_json(comparison),
            )
            moved = store.promote("campaign", cid, promotion)
            if moved is not None and moved.promotion == promotion:
                outcome.promoted.append(cid)
        return outcome

    def _first_day(self, head: ConfigHead, period: Period) -> int:
        """The first day whose counters may judge this campaign now."""
        first = period.first
        version = self.campaigns.store.get_version("campaign", head.config_id, head.version)
        if version is not None:
            first = max(first, day_of(version.created_at))
        ended = head.promotion.ended_at if head.promotion else None
        if ended is not None:
            first = max(first, day_of(ended) + 1)
        return first
