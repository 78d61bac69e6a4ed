"""Admin reports, read from counters kept exactly with each profile write (no scans)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from nudge.adapters.ports import CampaignCatalog, ProfileStore
from nudge.clock import Clock, to_epoch
from nudge.domain.aggregates import day_of
from nudge.models.profile import Stage


def campaign_summary(counters: dict[str, int]) -> dict[str, Any]:
    """One campaign's counters (summed over days) as a marketer reads them."""
    sent = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("sent.")}
    converted = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("converted.")}
    suppressed = {
        k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("suppressed.") and v
    }
    holdout = counters.get("holdout", 0)
    variants = {
        variant: {
            "sent": count,
            "converted": converted.get(variant, 0),
            "conversion_pct": round(100 * converted.get(variant, 0) / count, 1) if count else None,
        }
        for variant, count in sorted(sent.items())
    }
    return {
        "targeted": counters.get("targeted", 0),
        "sent": sum(sent.values()),
        "holdout": holdout,
        "holdout_converted": converted.get("holdout", 0),
        "holdout_conversion_pct": (
            round(100 * converted.get("holdout", 0) / holdout, 1) if holdout else None
        ),
        "suppressed": dict(sorted(suppressed.items(), key=lambda item: (-item[1], item[0]))),
        "waiting": counters.get("waiting", 0),
        "variants": variants,
    }


@dataclass
class ReportsService:
    profiles: ProfileStore
    clock: Clock
    catalog: CampaignCatalog | None = None

    def campaigns(self, days: int) -> dict[str, Any]:
        """Per campaign over the last `days` days: sends per variant, suppressions by reason,
        holdout, conversions (from counters kept with each profile write; no scans)."""
        now = to_epoch(self.clock.now())
        today = day_of(now)
        published = self.catalog.current().campaigns if self.catalog else {}
        names = {
            f"campaign#{cid}#{day}": cid
            for cid in published
            for day in range(today - days + 1, today + 1)
        }
        totals: dict[str, Counter[str]] = {cid: Counter() for cid in published}
        for name, counts in self.profiles.counters(list(names)).items():
            totals[names[name]].update(counts)
        return {
            "as_of": now,
            "days": days,
            "campaigns": {
                cid: {
                    "name": published[cid].name,
                    "status": published[cid].status,
                    **campaign_summary(dict(totals[cid])),
                }
                for cid in sorted(published)
            },
        }

    def lifecycle(self, days: int) -> dict[str, Any]:
        """Users per stage now, and the stage moves of the last `days` days (today included)."""
        now = to_epoch(self.clock.now())
        today = day_of(now)
        counts = self.profiles.lifecycle_counts(today - days + 1, today)
        stages = {stage.value: max(0, counts.stages.get(stage.value, 0)) for stage in Stage}
        total = sum(stages.values())
        moves = {
            key.replace(">", "->"): count
            for key, count in sorted(counts.moves.items(), key=lambda item: (-item[1], item[0]))
            if count
        }
        return {
            "as_of": now,
            "users": total,
            "stages": stages,
            "share_pct": {
                stage: round(100 * count / total, 1) if total else 0.0
                for stage, count in stages.items()
            },
            "transitions": moves,
            "transitions_window_days": days,
        }
