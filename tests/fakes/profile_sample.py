"""In-memory fakes of profile_sample ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

from nudge.models.profile import Profile


class InMemoryProfileSampler:
    def __init__(self, profiles: list[Profile]) -> None:
        self.profiles = profiles

    def user_count(self) -> int:
        """Users with a stage, as the adapter's lifecycle counters count them."""
        return sum(1 for p in self.profiles if p.stage is not None)

    def scan_segment(self, segment: int, total_segments: int) -> list[Profile]:
        """Like the adapter: profiles without a stage (erasure tombstones) are left out."""
        return [
            p
            for i, p in enumerate(self.profiles)
            if i % total_segments == segment and p.stage is not None
        ]
