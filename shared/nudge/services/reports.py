"""Admin reports, read from counters kept exactly with each profile write (no scans)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudge.adapters.ports import ProfileStore
from nudge.clock import Clock, to_epoch
from nudge.domain.aggregates import day_of
from nudge.models.profile import Stage


@dataclass
class ReportsService:
    profiles: ProfileStore
    clock: Clock

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
