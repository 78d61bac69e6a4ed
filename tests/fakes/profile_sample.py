"""In-memory fakes of profile_sample ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

from nudge.models.profile import Profile


class InMemoryProfileSampler:
    def __init__(self, profiles: list[Profile]) -> None:
        self.profiles = profiles

    def user_count(self) -> int:
        return len(self.profiles)

    def scan_segment(self, segment: int, total_segments: int) -> list[Profile]:
        return [p for i, p in enumerate(self.profiles) if i % total_segments == segment]
