"""Admin reports. The lifecycle report reads profiles page by page (an admin action, never on
the hot path); the incremental aggregates of the analytics work will replace it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from nudge.adapters.ports import ProfileStore
from nudge.clock import Clock, to_epoch
from nudge.domain.aggregates import DAY
from nudge.models.profile import Stage


@dataclass
class ReportsService:
    profiles: ProfileStore
    clock: Clock

    def lifecycle(self, days: int) -> dict[str, Any]:
        now = to_epoch(self.clock.now())
        since = now - days * DAY
        stages: Counter[str] = Counter()
        moves: Counter[str] = Counter()
        for profile in self.profiles.iter_profiles():
            if profile.stage is None:
                continue
            stages[profile.stage.value] += 1
            for transition in profile.transitions:
                if transition.at >= since and transition.from_stage is not None:
                    moves[f"{transition.from_stage.value}->{transition.to_stage.value}"] += 1
        total = sum(stages.values())
        return {
            "as_of": now,
            "users": total,
            "stages": {stage.value: stages.get(stage.value, 0) for stage in Stage},
            "share_pct": {
                stage.value: round(100 * stages.get(stage.value, 0) / total, 1) if total else 0.0
                for stage in Stage
            },
            "transitions": dict(sorted(moves.items(), key=lambda item: (-item[1], item[0]))),
            "transitions_window_days": days,
        }
