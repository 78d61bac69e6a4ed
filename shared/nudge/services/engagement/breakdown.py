"""Campaign response broken down by country, region, city, stage, platform or named segment.

Reads the response cells (BreakdownCounters: one Query per campaign for the period) and
ranks the values of one dimension with their 95 % Wilson intervals; a value with fewer than
`analytics.min_breakdown_group` sends is marked "too little data" and not ranked
(domain/engagement/breakdown.py). A category sums its published campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.breakdown import DAY, DIMENSIONS, BreakdownRow, RankBy, rows
from nudge.services.engagement.reports import UnknownCampaign, rate_json
from nudge.services.ports import BreakdownCounters, CampaignCatalog

MAX_DAYS = 400  # the cells expire after that


class UnknownCategory(LookupError):
    pass


def row_json(row: BreakdownRow) -> dict[str, Any]:
    return {
        "value": row.value,
        "sent": row.sent,
        "holdout": row.holdout,
        "enough_data": row.enough,
        "open": rate_json(row.open),
        "conversion": rate_json(row.conversion),
        "opt_out": rate_json(row.opt_out),
        "holdout_conversion": rate_json(row.holdout_conversion),
    }


@dataclass
class BreakdownService:
    counters: BreakdownCounters
    catalog: CampaignCatalog
    clock: Clock
    config: AnalyticsConfig = field(default_factory=AnalyticsConfig)

    def campaign(
        self, campaign_id: str, by: str, days: int, rank_by: RankBy = "conversion"
    ) -> dict[str, Any]:
        if campaign_id not in self.catalog.current().campaigns:
            raise UnknownCampaign(f"campaign_id: no published campaign {campaign_id!r}")
        return self._report({"campaign": campaign_id}, [campaign_id], by, days, rank_by)

    def category(
        self, category: str, by: str, days: int, rank_by: RankBy = "conversion"
    ) -> dict[str, Any]:
        """Every published campaign of the category, summed."""
        ids = sorted(
            c.id for c in self.catalog.current().campaigns.values() if c.category == category
        )
        if not ids:
            raise UnknownCategory(f"category: no published campaign in {category!r}")
        return self._report({"category": category, "campaigns": ids}, ids, by, days, rank_by)

    def _report(
        self, scope: dict[str, Any], ids: list[str], by: str, days: int, rank_by: RankBy
    ) -> dict[str, Any]:
        if by not in DIMENSIONS:
            raise ValueError(f"by: one of {', '.join(DIMENSIONS)}, not {by!r}")
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days: 1 to {MAX_DAYS}, not {days}")
        today = to_epoch(self.clock.now()) // DAY
        start, end = day_key((today - days + 1) * DAY), day_key(today * DAY)
        cells = self.counters.cells(ids, start, end)
        min_group = self.config.min_breakdown_group
        return {
            **scope,
            "by": by,
            "rank_by": rank_by,
            "start": start,
            "end": end,
            "min_group": min_group,
            "rows": [row_json(r) for r in rows(cells, by, min_group, rank_by)],
        }
