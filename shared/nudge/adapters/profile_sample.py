"""Profiles read for an audience estimate: one segment of a parallel Scan (admin only).

Never on the event path: the admin API's campaign estimate reads a few segments of the
profiles table, in parallel, to extrapolate an audience size.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

from nudge.adapters.dynamo_codec import item_to_profile
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.models.keys import SYSTEM_PREFIX
from nudge.models.profile import Stage

if TYPE_CHECKING:
    from nudge.models.profile import Profile

MAX_PAGES_PER_SEGMENT = 20  # 20 x 1 MB: a segment is ~1,000 users, so this is a safety bound


class DynamoProfileSampler(DynamoProfileStore):
    def user_count(self) -> int:
        counts = self.lifecycle_counts(0, 0)
        return sum(max(0, counts.stages.get(stage.value, 0)) for stage in Stage)

    def scan_segment(self, segment: int, total_segments: int) -> list[Profile]:
        pages = self.pages("scan", Segment=segment, TotalSegments=total_segments)
        profiles: list[Profile] = []
        for response in islice(pages, MAX_PAGES_PER_SEGMENT):
            for item in response.get("Items", []):
                if item["user_id"]["S"].startswith(SYSTEM_PREFIX) or "stage" not in item:
                    continue  # counters, cursors, erasure tombstones
                profiles.append(item_to_profile(item))
        return profiles
