"""Lifecycle counters, kept exactly: changed in the same transaction as the profile write."""

from __future__ import annotations

from dataclasses import dataclass

from nudge.models.profile import Stage, Transition

STATS_SHARDS = 8  # spreads the counters over several items: no hot key at scale


@dataclass(frozen=True)
class StageChange:
    """A user leaves `from_stage` (if any) for `to_stage` (None: erased) at `at`."""

    from_stage: Stage | None
    to_stage: Stage | None
    at: int

    @classmethod
    def of(cls, transition: Transition) -> StageChange:
        return cls(transition.from_stage, transition.to_stage, transition.at)

    @property
    def move(self) -> str | None:
        """'active>at_risk': counted per day; arrivals and erasures are not moves."""
        if self.from_stage is None or self.to_stage is None:
            return None
        return f"{self.from_stage.value}>{self.to_stage.value}"


@dataclass
class LifecycleCounts:
    stages: dict[str, int]
    moves: dict[str, int]
